"""`mu2llm_eval` end to end in a subprocess, on real report text with bad rows; bootstrap CI properties."""
import csv, json, os, shutil, subprocess

import numpy as np
import pytest

from mu2llm.eval.evaluate import bootstrap_ci


@pytest.fixture
def inputs(shared_data, tmp_path):
    p = shared_data/'reports'/'ctrate_manual_labels'/'train.csv'
    if not p.exists(): pytest.skip(f'{p} absent')
    with open(p, newline='', encoding='utf-8') as f: txt = [r['report_text'] for r in csv.DictReader(f)][:12]
    refs = [json.dumps(dict(id=f'r{i}', report=t)) for i, t in enumerate(txt)]
    refs.append(json.dumps(dict(id='r1', report='a duplicate reference')))
    preds = [json.dumps(dict(id=f'r{i}', report=txt[(i + 1) % 10], settings=dict(seed=0))) for i in range(8)]
    preds += [json.dumps(dict(id='r8', report='   ')),                    # whitespace-only
              json.dumps(dict(id='r0', report='duplicate prediction')),  # duplicate id
              '{"id": "r9", "report": "broken json',                     # not JSON
              json.dumps(dict(id='orphan', report='no reference for me')),
              json.dumps(dict(id='r10', report=' '.join(txt[10].split() * 2)))]  # 2x the reference: over the judge budget
    (tmp_path/'refs.jsonl').write_text('\n'.join(refs) + '\n')
    raw = ('\n'.join(preds) + '\n').encode() + b'{"id": "r11", "report": "Heart \xff\xfe normal"}\n'  # non-UTF-8 bytes
    (tmp_path/'preds.jsonl').write_bytes(raw)
    return tmp_path


def _run(tmp, *extra):
    exe = shutil.which('mu2llm_eval') or pytest.skip('console script mu2llm_eval not installed')
    env = dict(os.environ, MU2LLM_NO_PROGRESS='1')
    return subprocess.run([exe, '--preds', str(tmp/'preds.jsonl'), '--refs', str(tmp/'refs.jsonl'), '--out', str(tmp/'out'),
                           '--metrics', 'bleu,rouge,meteor', '--n_boot', '300', '--seed', '1', *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_end_to_end_with_bad_rows(inputs):
    r = _run(inputs, '--judge', 'rule', '--labels')
    assert r.returncode == 0, r.stderr
    out = inputs/'out'
    cases = {c['id']: c for c in map(json.loads, (out/'cases.jsonl').read_text().splitlines())}
    s = json.loads((out/'summary.json').read_text())
    # every id appears once, with its reason
    assert set(cases) == {f'r{i}' for i in range(12)} | {'orphan'}
    assert 'empty_prediction' in cases['r8']['flags'] and cases['r8']['bleu1'] == 0.0 and cases['r8']['green'] == 0.0
    assert 'duplicate_prediction_id (line 10 ignored)' in cases['r0']['flags']
    assert cases['r0']['prediction'] != 'duplicate prediction'
    assert any(f.startswith('duplicate_reference_id') for f in cases['r1']['flags'])
    assert 'missing_prediction' in cases['r9']['flags'] and not cases['r9']['scorable'] and 'bleu1' not in cases['r9']
    assert cases['orphan']['flags'] == ['missing_reference'] and 'bleu1' not in cases['orphan']
    assert 'prediction_over_judge_budget' in cases['r10']['flags']
    assert 'non_utf8_prediction' in cases['r11']['flags'] and '\ufffd' in cases['r11']['prediction']
    assert [(p['line'], p['reason'][:14]) for p in s['input_problems']] == [(11, 'not valid JSON')]
    assert cases['r2']['settings'] == {'seed': 0}
    # nothing scored 0 without a flag: zero BLEU-1 only where flagged or the texts share no word
    budget = {'reference_over_judge_budget', 'prediction_over_judge_budget'}
    for c in cases.values():
        if c.get('bleu1') == 0.0: assert set(c['flags']) - budget or not set(c['prediction'].lower().split()) & set(c['reference'].lower().split())
    # summary: counts, means over scorable cases, CIs around means, judge + protocol named
    assert (s['n_cases'], s['n_scored']) == (13, 11)
    assert s['flags']['missing_prediction'] == 1 and s['flags']['missing_reference'] == 1 and s['flags']['empty_prediction'] == 1
    sc = [c for c in cases.values() if c['scorable']]
    for k in ('bleu1', 'rougeL', 'meteor', 'green'):
        assert s['means'][k] == pytest.approx(np.mean([c[k] for c in sc if c.get(k) is not None]))
        lo, hi = s['ci'][k]; assert lo <= s['means'][k] <= hi
    assert s['protocol']['name'] == 'u2' and s['protocol']['packages']['nltk']
    assert s['judge'].startswith('rule') and s['ce']['n'] == 11 and 'Lung nodule' in s['ce']['per_label']
    assert s['bootstrap'] == dict(n=300, seed=1, method='percentile', level=0.95)
    # table and figures
    table = (out/'table.md').read_text()
    assert table.splitlines()[0] == '| Method | BLEU | ROUGE-1 | ROUGE-2 | ROUGE-L | METEOR | BERTScore | GREEN |'
    assert f"{s['means']['bleu1']*100:.2f}" in table
    figs = sorted(p.name for p in (out/'figures').iterdir())
    assert figs == ['green_errors.html', 'label_f1.html', 'metric_distributions.html', 'plotly.min.js']
    assert all((out/'figures'/f).stat().st_size < 200_000 for f in figs if f.endswith('.html'))
    assert 'src="plotly.min.js"' in (out/'figures'/'metric_distributions.html').read_text()
    # same seed, same CIs; the judge cache makes the re-run judge nothing new
    cache_lines = len((out/'judge_cache.jsonl').read_text().splitlines())
    r2 = _run(inputs, '--judge', 'rule', '--labels')
    assert r2.returncode == 0
    assert json.loads((out/'summary.json').read_text())['ci'] == s['ci']
    assert len((out/'judge_cache.jsonl').read_text().splitlines()) == cache_lines


def test_cli_clear_error_on_missing_file(tmp_path):
    exe = shutil.which('mu2llm_eval') or pytest.skip('console script mu2llm_eval not installed')
    (tmp_path/'refs.jsonl').write_text('{"id": "a", "report": "x"}\n')
    r = subprocess.run([exe, '--preds', str(tmp_path/'nope.jsonl'), '--refs', str(tmp_path/'refs.jsonl'), '--out', str(tmp_path/'o')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"mu2llm_eval: error: file not found ({tmp_path/'nope.jsonl'})"], r.stderr


def test_bootstrap_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (30, 300, 3000):
        v = rng.beta(2, 5, size=n)
        lo, hi = bootstrap_ci(v, n_boot=1000, seed=0)
        assert lo < v.mean() < hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.35)  # ~sqrt(100)
    assert bootstrap_ci(v, seed=5) == bootstrap_ci(v, seed=5) != bootstrap_ci(v, seed=6)
