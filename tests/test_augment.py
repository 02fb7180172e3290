"""LLM augmentation against a real loopback HTTP server: scripted failures, kept/rejected counts, kill-and-resume, HF backend."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

from mu2llm.augment.runner import AugmentStore, augment, augmented_rows, mix_rows
from mu2llm.cli.commands import mu2llm_augment as augment_cli
from mu2llm.augment.backends import HFBackend, LoopbackChatServer, OpenAIChatBackend, Reply, user_text
from mu2llm.data.manifest import ManifestRow, read_manifest, write_manifest

ROOT = Path(__file__).resolve().parents[1]
SIDES, LOBES = ('right', 'left'), ('upper', 'lower')


def make_rows(n, split='train'):
    rows = []
    for i in range(n):
        rep = (f'Case {i}. A {4 + i % 9} mm nodule in the {SIDES[i % 2]} {LOBES[i // 2 % 2]} lobe. '
               f'No pleural effusion. Heart size is normal.')
        rows.append(ManifestRow(id=f'c{i}', volume=f'vol{i}.nii.gz', dataset='synthetic', split=split, patient_id=f'p{i}', report=rep))
    return rows


def report_of(body):
    return user_text(body).split('Report:\n')[-1]


def faithful(rep):
    return 'Findings: ' + rep.replace('No pleural effusion.', 'There is no pleural effusion.')


def rewrites(*texts):
    return json.dumps({'rewrites': list(texts)})


# behaviour per case number (i % 10) of the scripted server
def script(body, n):
    rep = report_of(body); i = int(rep.split('.')[0].split()[1]); kind = i % 10
    if kind == 0: return rewrites(faithful(rep), faithful(rep).replace('Findings:', 'Report:'))            # 2 kept
    if kind == 1: return '{"rewrites": ["Findings: A nodule'                                                 # malformed_json
    if kind == 2: return "I'm sorry, but I can't help with rewriting medical reports."                      # refusal
    if kind == 3: return Reply(status=429, headers={'Retry-After': '0.2'}) if n == 0 else rewrites(faithful(rep))  # 1 kept after 429
    if kind == 4: return Reply(rewrites(faithful(rep)), delay=1.5) if n == 0 else rewrites(faithful(rep))   # slow, then 1 kept
    if kind == 5: return rewrites('Sağ akciğerde nodül izlendi ve plevral efüzyon saptanmadı, kalp normal.')  # non_english
    if kind == 6: return rewrites(faithful(rep) + ' Cardiomegaly.')                                          # labels_changed
    if kind == 7: return rewrites(faithful(rep).replace(' mm', '0 mm'))                                      # numbers_changed
    if kind == 8: return Reply(status=503, body='down')                                                      # request fails
    return Reply(content='')                                                                                 # empty


EXPECTED_REJECTED = {'malformed_json': 1, 'refusal': 1, 'non_english': 1, 'labels_changed': 1, 'numbers_changed': 1, 'empty': 1}


def backend(srv, **kw):
    return OpenAIChatBackend(srv.url, 'scripted', **dict(dict(concurrency=4, timeout=0.7, max_retries=2, backoff=0.05), **kw))


def test_openai_rewrite_scripted_server(tmp_path):
    rows = make_rows(10)
    with LoopbackChatServer(script) as srv:
        s = augment(rows, 'rewrite', backend(srv), tmp_path/'store.jsonl', n=2)
        hits = dict(srv.hits)
    st = s.stages['rewrite']
    assert (st['inputs'], st['requests'], st['failed'], st['kept']) == (10, 10, 1, 4)
    assert st['rejected'] == EXPECTED_REJECTED
    # retried cases were asked again exactly as scripted: 429 once, timeout once, 503 up to the retry limit
    by_case = {int(report_of({'messages': [{'role': 'user', 'content': k}]}).split('.')[0].split()[1]): v for k, v in hits.items()}
    assert by_case[3] == 2 and by_case[4] == 2 and by_case[8] == 3 and by_case[0] == 1
    # no lost rows: every input has exactly one record; the failed one is marked as an error, not as done
    store = AugmentStore(tmp_path/'store.jsonl')
    assert len(store) == 10 and sum(not store.done(k) for k in store.records) == 1
    new = augmented_rows(rows, store)
    assert len(new) == 4 and {r.meta['source_id'] for r in new} == {'c0', 'c3', 'c4'}
    assert all(r.task == 'report' and r.volume == f"vol{r.meta['source_id'][1:]}.nii.gz" for r in new)
    # a re-run asks again only for the failed request
    with LoopbackChatServer(lambda b, n: rewrites(faithful(report_of(b)))) as srv2:
        s2 = augment(rows, 'rewrite', backend(srv2), store, n=2)
        assert srv2.n_requests == 1
    assert s2.stages['rewrite']['done_before'] == 9 and s2.kept == 5
    store.close()


def test_qa_scripted_server(tmp_path):
    rows = make_rows(4)
    def qa(body, n):
        rep = report_of(body); side = 'right' if 'right' in rep else 'left'
        items = [dict(finding='lung nodule', type='presence', question='Is there a lung nodule?', answer='Yes.', closed_answer='yes'),
                 dict(finding='pleural effusion', type='presence', question='Is there a pleural effusion?', answer='Yes.', closed_answer='yes'),
                 dict(finding='lung nodule', type='location', question='Which lung holds the nodule?', answer=f'The {side} lung.',
                      closed_answer=side, evidence=rep.split('. ')[1] + '.'),
                 dict(finding='lung nodule', type='size', question='How big is the nodule?', answer='It measures 30 mm.'),
                 dict(type='presence', question='Is there a lung nodule?', answer='Yes.', closed_answer='yes', finding='nodule')]
        return json.dumps({'qa': items})
    with LoopbackChatServer(qa) as srv:
        s = augment(rows, 'qa', backend(srv), tmp_path/'qa.jsonl')
    assert s.stages['qa']['kept'] == 8
    assert s.stages['qa']['rejected'] == {'presence_disagrees': 4, 'unsupported_number': 4, 'duplicate': 4}
    new = augmented_rows(rows, tmp_path/'qa.jsonl')
    assert len(new) == 8 and all(r.task == 'vqa' and r.answer for r in new)
    write_manifest(tmp_path/'aug.jsonl', new)
    assert len(read_manifest(tmp_path/'aug.jsonl')) == 8
    assert len(mix_rows(rows, new, ratio=1.0, seed=0)) == 8


def test_rpm_limit_spaces_requests(tmp_path):
    rows = make_rows(6)
    with LoopbackChatServer(lambda b, n: rewrites(faithful(report_of(b)))) as srv:
        t0 = time.perf_counter()
        augment(rows, 'rewrite', backend(srv, concurrency=6, rpm=600), tmp_path/'s.jsonl', n=1)  # one start per 0.1 s
        took = time.perf_counter() - t0
    assert took >= 0.5, took


def test_hf_backend_tiny_random_model(tmp_path):
    import torch
    from transformers import LlamaForCausalLM
    from mu2llm.model.llm import offline_tokenizer, llm_config
    tok = offline_tokenizer(); torch.manual_seed(0)
    LlamaForCausalLM(llm_config(tok)).save_pretrained(tmp_path/'lm'); tok.save_pretrained(tmp_path/'lm')
    rows = make_rows(5)
    s = augment(rows, 'rewrite', HFBackend(tmp_path/'lm', batch_size=2, max_new_tokens=12), tmp_path/'s.jsonl')
    st = s.stages['rewrite']
    assert st['inputs'] == st['requests'] == 5 and st['failed'] == 0 and st['kept'] == 0
    assert sum(st['rejected'].values()) == 5 and set(st['rejected']) <= {'malformed_json', 'truncated', 'empty', 'refusal'}
    store = AugmentStore(tmp_path/'s.jsonl')
    assert {r['model'] for r in store.records.values()} == {'lm'} and {r['backend'] for r in store.records.values()} == {'hf'}
    assert augmented_rows(rows, store) == []


def test_kill_and_resume(tmp_path):
    rows = make_rows(40); write_manifest(tmp_path/'m.jsonl', rows)
    good = lambda b, n: rewrites(faithful(report_of(b)))
    with LoopbackChatServer(good, latency=0.25) as srv:
        env = dict(os.environ, MU2LLM_NO_PROGRESS='1')
        cmd = [sys.executable, '-m', 'mu2llm.cli', 'augment', '--manifest', str(tmp_path/'m.jsonl'), '--out', str(tmp_path/'o.jsonl'),
               '--model', 'scripted', '--base_url', srv.url, '--concurrency', '4', '--n_per_report', '1']
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = tmp_path/'o.jsonl.store.jsonl'
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if store.exists() and store.read_bytes().count(b'\n') >= 8: break
            time.sleep(0.02)
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        p.send_signal(signal.SIGKILL); p.wait()
        raw = store.read_bytes()
        assert raw.endswith(b'\n')  # whole lines only
        n_before = raw.count(b'\n'); assert 8 <= n_before < 40
        hits_before = dict(srv.hits)
        s = augment(read_manifest(tmp_path/'m.jsonl'), 'rewrite', OpenAIChatBackend(srv.url, 'scripted', concurrency=4), store, n=1)
        hits = dict(srv.hits)
    st = s.stages['rewrite']
    assert st['done_before'] == n_before and st['requests'] == 40 - n_before and st['kept'] == 40
    # no input processed twice, except the requests that were in flight when the process was killed
    twice = [k for k, v in hits.items() if v > 1]
    assert all(v <= 2 for v in hits.values()) and len(twice) <= 4
    assert set(twice) <= {k for k in hits_before} and len(hits) == 40
    lines = store.read_text().splitlines()
    assert len(lines) == 40 and len({json.loads(l)['key'] for l in lines}) == 40


def test_cli_help_documents_every_option(tmp_path):
    from fastcore.script import anno_parser
    import inspect
    text = anno_parser(augment_cli.__wrapped__).format_help()
    for name in inspect.signature(augment_cli.__wrapped__).parameters:
        assert f'--{name}' in text, name
    for word in ('--manifest', '--out', '--task', '--backend', '--base_url', '--model', '--concurrency', '--rpm', 'OpenAI-compatible'):
        assert word in text


def test_gates_on_real_reports_through_server(tmp_path, shared_data):
    import csv, re
    path = shared_data/'reports'/'ctrate_manual_labels'/'train.csv'
    if not path.exists(): pytest.skip(f'{path} not found')
    texts = [r['report_text'] for r in csv.DictReader(open(path, encoding='utf-8'))][:60]
    rows = [ManifestRow(id=f'ct{i}', volume=f'v{i}.nii.gz', dataset='ctrate', split='train', patient_id=f'p{i}', report=t)
            for i, t in enumerate(texts)]
    def lossy(rep):  # drop the first sentence holding a size written nowhere else: a lost measurement
        sents = re.split(r'(?<=\.)\s+', rep)
        i = next((i for i, s in enumerate(sents) for m in re.findall(r'\d+\s*mm', s) if rep.count(m) == 1), None)
        return None if i is None else ' '.join(sents[:i] + sents[i + 1:])
    def real(body, n):
        rep = report_of(body); bad = lossy(rep)
        return rewrites('In summary: ' + rep.replace('. ', '.  '), *([bad] if bad else []))
    with LoopbackChatServer(real) as srv:
        s = augment(rows, 'rewrite', backend(srv, concurrency=8), tmp_path/'s.jsonl', n=2)
    st = s.stages['rewrite']; n_lossy = sum(lossy(' '.join(t.split())) is not None for t in set(texts))
    assert n_lossy >= 5 and st['failed'] == 0
    assert st['kept'] == st['inputs']  # every faithful reformatting of a real report passes
    assert sum(st['rejected'].values()) == n_lossy
    assert set(st['rejected']) <= {'numbers_changed', 'labels_changed', 'laterality_changed'}
