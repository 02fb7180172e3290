"The preference study (`mu2llm_prefstudy`, issue 16): the --quick study end to end, resume, and bad settings."
import json, subprocess, sys

import pytest

from mu2llm.core.errors import ConfigError
from mu2llm.eval.ablate import error_as_result
from mu2llm.eval.prefstudy import PREF_ROWS, STUDY_ROWS, prefstudy_recipe, prefstudy_table, run_pref


def test_quick_study_runs_every_row_and_writes_the_table(tmp_path):
    "`mu2llm_prefstudy --quick`: every row, the trained ones for every seed, on the same held-out cases; A/A is exactly 0."
    out = tmp_path/'study'
    cmd = [sys.executable, '-m', 'mu2llm.cli', 'prefstudy', '--quick', '--out', str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out/'prefstudy'/'results.json').read_text())
    assert list(res["rows"]) == list(STUDY_ROWS) and not res['failures'], res['failures']
    assert res['n_cases'] == 10 and res['seeds'] == [0, 1]
    for key, row in res['rows'].items():
        trains = PREF_ROWS[key]['kind'] in ('dpo', 'rloo')
        assert row['seeds'] == ([0, 1] if trains else [None]), (key, row['seeds'])
        assert (row['per_seed'] is not None) == trains
        if trains: assert all(n and n > 0 for n in row['n_pairs']), (key, row['n_pairs'])
        for m in ('f1', 'green'):
            assert row['stats'][m]['ci'][0] <= row['stats'][m]['mean'] <= row['stats'][m]['ci'][1], (key, m)
    aa = res['rows']['aa']
    g = aa['vs_baseline']['green']
    assert max(abs(g['mean']), *map(abs, g['ci'])) < 1e-12 and abs(aa['vs_baseline']['f1']['mean']) < 1e-12   # lr 0: the same reports
    assert res['rows']['oracle']['thresholds'] and res['rows']['oracle']['f1_blank'] is None
    runs = [json.loads(p.read_text()) for p in (out/'prefstudy').rglob('run.json')]
    assert len(runs) == 2 + 2 * (len(STUDY_ROWS) - 2) and len({tuple(x['ids']) for x in runs}) == 1
    oracle = json.loads((out/'prefstudy'/'oracle'/'run'/'run.json').read_text())
    assert oracle['n_dev'] == 6 and len(oracle['ids']) == 10                # tuned on 6 held-out cases that are not scored
    pl = [json.loads(l) for l in (out/'prefstudy'/'seed0'/'pairs'/'placebo.jsonl').read_text().splitlines()]
    ms = [json.loads(l) for l in (out/'prefstudy'/'seed0'/'pairs'/'mean_split.jsonl').read_text().splitlines()]
    assert [p['id'] for p in pl] == [p['id'] for p in ms] and {p['chosen'] for p in pl} <= {p['chosen'] for p in ms} | {p['rejected'] for p in ms}
    table = (out/'prefstudy'/'table.md').read_text()
    for key in STUDY_ROWS: assert f"| {PREF_ROWS[key]['label']} |" in table
    assert 'Best preference method' in table and (out/'prefstudy'/'prefstudy.html').stat().st_size > 1000
    assert not list((out/'prefstudy').rglob('dpo'))                          # checkpoints not kept by default
    before = (out/'prefstudy'/'results.json').read_bytes()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)      # every stage done: nothing changes
    assert r.returncode == 0 and (out/'prefstudy'/'results.json').read_bytes() == before, r.stderr[-2000:]


def test_bad_settings_are_one_line_errors_before_any_work(tmp_path):
    for args, want in ((['prefstudy.rows=[sft,extreme]'], "did you mean 'extremes'"),
                       (['prefstudy.rows=[extremes]'], 'baseline'),
                       (['prefstudy.seeds=[]'], 'prefstudy.seeds is empty'),
                       (['sft.finding_loss=0'], 'finding head')):
        r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'prefstudy', '--quick', '--out', str(tmp_path/'o'), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and 'Traceback' not in r.stderr and want in r.stderr, (args, r.stderr)
    assert not (tmp_path/'o').exists()


def test_recipe_sizes_the_heldout_set_for_dev_and_test():
    rec = prefstudy_recipe('tiny', ['sft.finding_loss=1', 'prefstudy.n_test=20', 'prefstudy.n_dev=5'])
    assert rec['phantoms']['n_test'] == 25
    assert prefstudy_recipe('tiny', ['prefstudy.rows=[sft,extremes]', 'prefstudy.n_test=20'])['phantoms']['n_test'] == 20   # no oracle: no dev cases
    with pytest.raises(ConfigError, match='n_test'): prefstudy_recipe('tiny', ['sft.finding_loss=1', 'prefstudy.n_test=1'])


def test_a_failed_run_is_reported_and_the_table_says_so():
    r = error_as_result(run_pref, {}, 'tiny', 'nope', 0, {}, 'm', 'c', 's', None, '/nonexistent/x')
    assert set(r) == {'error'} and r['error'].startswith('KeyError')
    res = dict(rows={}, n_cases=3, seeds=[0], best=None, failures=['extremes/seed0: KeyError: x'])
    assert 'Failed runs (left out): extremes/seed0' in prefstudy_table(res)
