"""Judges: OpenAI-compatible HTTP judge against a real local server with scripted faults, the cache's
kill-and-resume, the HF judge's plumbing with a tiny random model, and the rule judge's ranking on real reports."""
import http.server, json, signal, socketserver, subprocess, sys, textwrap, threading, time
from collections import Counter

import pytest

from mu2llm.score.judges import CachedJudge, HFJudge, Judge, JudgeOutput, OpenAIJudge, make_judge
from mu2llm.score.green import green_prompt

GOOD = ("\nFine.\n\n[Clinically Significant Errors]:\n(a) False report of a finding in the candidate: 1. x.\n"
        "(b) Missing a finding present in the reference: 0.\n\n[Clinically Insignificant Errors]:\nNo errors.\n\n"
        "[Matched Findings]:\n3. a; b; c")


def _cand(body):
    return body['messages'][0]['content'].split('3. Candidate Report:\n    ')[1].split('\n\n')[0]


class Script(http.server.BaseHTTPRequestHandler):
    hits = Counter()

    def _send(self, code, payload, headers=()):
        out = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        for k, v in headers: self.send_header(k, v)
        self.send_header('Content-Length', str(len(out))); self.end_headers(); self.wfile.write(out)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        assert body['temperature'] == 0
        cand = _cand(body); Script.hits[cand] += 1
        ok = lambda txt, fin='stop': {'choices': [{'message': {'role': 'assistant', 'content': txt}, 'finish_reason': fin}]}
        if cand == 'GOOD': return self._send(200, ok(GOOD))
        if cand == 'GARBAGE': return self._send(200, ok('lorem ipsum dolor'))
        if cand == 'REFUSE':
            return self._send(200, {'choices': [{'message': {'role': 'assistant', 'content': None, 'refusal': "I can't help with that."}, 'finish_reason': 'stop'}]})
        if cand == 'RATE':
            if Script.hits[cand] == 1: return self._send(429, {'error': 'slow down'}, [('Retry-After', '0')])
            return self._send(200, ok(GOOD))
        if cand == 'FLAKY':
            if Script.hits[cand] <= 2: return self._send(503, {'error': 'overloaded'})
            return self._send(200, ok(GOOD))
        if cand == 'DOWN': return self._send(500, {'error': 'boom'})
        if cand == 'BAD': return self._send(400, {'error': 'bad request'})
        if cand == 'NOTJSON': return self._send(200, b'<html>proxy error</html>')
        if cand == 'LENGTH': return self._send(200, ok(GOOD.split('[Matched')[0], 'length'))
        if cand == 'SLOW':
            time.sleep(1.5); return self._send(200, ok(GOOD))
        return self._send(404, {'error': 'unknown'})

    def log_message(self, *a): pass


@pytest.fixture
def server():
    Script.hits.clear()
    srv = socketserver.ThreadingTCPServer(('127.0.0.1', 0), Script); srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/v1'
    srv.shutdown(); srv.server_close()


def test_openai_judge_records_every_failure(server, monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    cands = ['GOOD', 'GARBAGE', 'REFUSE', 'RATE', 'FLAKY', 'DOWN', 'BAD', 'NOTJSON', 'LENGTH', 'SLOW']
    j = OpenAIJudge(server, 'green', concurrency=4, timeout=0.5, max_retries=2, backoff=0.01)
    t0 = time.time()
    outs = dict(zip(cands, j.judge([('REF', c) for c in cands])))
    assert time.time() - t0 < 10
    assert outs['GOOD'].score == pytest.approx(0.75) and outs['GOOD'].error is None
    for c in ('GARBAGE', 'REFUSE'):
        assert outs[c].error is None and outs[c].score is None and outs[c].result.official_score == 0 and outs[c].reason
    assert outs['REFUSE'].response == "I can't help with that."
    assert outs['RATE'].score == pytest.approx(0.75) and Script.hits['RATE'] == 2
    assert outs['FLAKY'].score == pytest.approx(0.75) and Script.hits['FLAKY'] == 3
    assert outs['DOWN'].result is None and 'HTTP 500' in outs['DOWN'].error and Script.hits['DOWN'] == 3
    assert 'HTTP 400' in outs['BAD'].error and Script.hits['BAD'] == 1
    assert 'malformed' in outs['NOTJSON'].error
    assert outs['LENGTH'].hit_budget and outs['LENGTH'].result.truncated and outs['LENGTH'].score is None
    assert 'timeout' in outs['SLOW'].error and outs['SLOW'].score is None


def test_openai_judge_sends_key_and_prompt(server, monkeypatch):
    seen = {}
    orig = Script.do_POST
    def spy(self):
        seen['auth'] = self.headers.get('Authorization'); seen['path'] = self.path
        return orig(self)
    monkeypatch.setattr(Script, 'do_POST', spy)
    monkeypatch.setenv('MY_KEY', 'sk-test')
    OpenAIJudge(server, 'green', api_key_env='MY_KEY').judge([('REF', 'GOOD')])
    assert seen == {'auth': 'Bearer sk-test', 'path': '/v1/chat/completions'}


def test_cached_judge_only_sends_missing_pairs(tmp_path, server):
    cache = tmp_path/'c.jsonl'
    pairs = [('REF', 'GOOD'), ('REF', 'DOWN'), ('REF', 'GOOD')]
    j = CachedJudge(OpenAIJudge(server, 'green', max_retries=0), cache)
    outs = j.judge(pairs)
    assert Script.hits['GOOD'] == 1 and outs[1].error and outs[2].score == outs[0].score
    j2 = CachedJudge(OpenAIJudge(server, 'green', max_retries=0), cache)
    outs2 = j2.judge(pairs)
    assert Script.hits['GOOD'] == 1 and Script.hits['DOWN'] == 2  # errors are retried, answers are not
    assert outs2[0].cached and not outs2[1].cached


CHILD = textwrap.dedent('''
    import sys, time
    from mu2llm.score.judges import CachedJudge, Judge, JudgeOutput
    from mu2llm.score.green import parse_green
    class Slow(Judge):
        identity = 'slow-test'
        def _judge(self, pairs):
            time.sleep(0.3)
            return [JudgeOutput(r, c, "[Clinically Significant Errors]:\\nNo errors.\\n\\n[Matched Findings]:\\n1. a",
                                parse_green("[Clinically Significant Errors]:\\nNo errors.\\n\\n[Matched Findings]:\\n1. a")) for r, c in pairs]
    CachedJudge(Slow(), sys.argv[1], chunk_size=1).judge([("R", f"C{i}") for i in range(40)])
''')


def test_cache_resumes_after_kill(tmp_path):
    cache, script = tmp_path/'c.jsonl', tmp_path/'child.py'
    script.write_text(CHILD)
    p = subprocess.Popen([sys.executable, str(script), str(cache)])
    deadline = time.time() + 60
    while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 3): time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    done = len(cache.read_text().splitlines())
    assert 3 <= done < 40
    with open(cache, 'a') as f: f.write('{"key": "cut-by-the-ki')  # a torn last line

    sent = []
    class Count(Judge):
        identity = 'slow-test'
        def _judge(self, pairs):
            sent.extend(pairs)
            return [JudgeOutput(r, c, "[Clinically Significant Errors]:\nNo errors.\n\n[Matched Findings]:\n1. a") for r, c in pairs]
    outs = CachedJudge(Count(), cache).judge([('R', f'C{i}') for i in range(40)])
    assert len(sent) == 40 - done and len(outs) == 40
    assert sum(o.cached for o in outs) == done
    assert len(cache.read_text().splitlines()) == 40  # torn line trimmed, no corrupt line left behind


def test_hf_judge_loads_by_path_and_flags_random_output(tmp_path):
    import torch
    from transformers import LlamaForCausalLM
    from mu2llm.model.llm import offline_tokenizer, llm_config
    tok = offline_tokenizer(); torch.manual_seed(1)
    LlamaForCausalLM(llm_config(tok)).save_pretrained(tmp_path/'m'); tok.save_pretrained(tmp_path/'m')
    j = make_judge(f'hf:{tmp_path/"m"}', batch_size=3, max_new_tokens=6)
    pairs = [('Cardiomegaly.', 'Cardiomegaly.'), ('Small left pleural effusion.', 'No effusion.'), ('A', 'B'), ('C', 'D')]
    outs = j.judge(pairs)
    assert len(outs) == 4 and [(o.reference, o.candidate) for o in outs] == pairs
    assert all(o.error is None and o.score is None and o.reason for o in outs)
    assert j._tok.padding_side == 'left' and j._tok.pad_token == j._tok.eos_token
    # the prompt really is the official GREEN prompt in the official chat format
    txt = j._tok.apply_chat_template([{'from': 'human', 'value': green_prompt('A', 'B')}, {'from': 'gpt', 'value': ''}],
                                     tokenize=False, add_generation_prompt=True)
    assert green_prompt('A', 'B') in txt


def test_make_judge_rejects_bad_specs():
    from mu2llm.core.errors import ConfigError
    for bad in ('nope', 'openai:http://x', 3):
        with pytest.raises(ConfigError): make_judge(bad)
    with pytest.raises(ConfigError): HFJudge('/does/not/exist').load()


def test_rule_judge_ranks_real_reports(shared_data):
    pytest.importorskip('mu2llm.score.labeller')
    import csv
    from mu2llm.core.base import CTRATE_LABELS
    from mu2llm.score.judges import RuleJudge, rank_agreement
    rows = list(csv.DictReader(open(shared_data/'reports'/'ctrate_manual_labels'/'train.csv', encoding='utf-8')))
    normals = [r['report_text'] for r in rows if all(r[l] == '0' for l in CTRATE_LABELS)]
    pos = [(r['report_text'], [l for l in CTRATE_LABELS if r[l] == '1']) for r in rows]
    pos = [p for p in pos if p[1]]
    res = rank_agreement(RuleJudge(), pos, normals[0])
    assert res['n'] >= 0.8 * len(pos), res  # the labeller finds a droppable finding in most reports
    assert res['rate'] >= 0.95, res
    # a second normal report as the floor gives the same verdict
    assert rank_agreement(RuleJudge(), pos[:200], normals[1])['rate'] >= 0.95
