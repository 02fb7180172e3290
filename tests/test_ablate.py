"The tokenizer ablation study (`mu2llm_ablate`, issue 15): the --quick study end to end, resume, failures and bad settings."
import json, subprocess, sys

import pytest

from mu2llm.core.errors import ConfigError
from mu2llm.eval.ablate import ABLATION_ROWS, TABLE2_ROWS, ablate_recipe, ablation_table


def test_quick_study_runs_every_row_and_writes_the_table(tmp_path):
    "`mu2llm_ablate --quick`: every row for every seed, scored on the same held-out cases, table, figure, resumable."
    out = tmp_path/'study'
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'ablate', '--quick', '--out', str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out/'ablate'/'results.json').read_text())
    assert list(res['rows']) == list(TABLE2_ROWS) and not res['failures']
    assert res['n_cases'] == 12 and res['seeds'] == [0, 1]
    for key, row in res['rows'].items():
        assert row['seeds'] == [0, 1] and len(row['f1_per_seed']) == 2
        st = row['stats']
        for m in ('f1', 'green', 'rougeL', 'bleu4'):
            assert st[m]['ci'][0] <= st[m]['mean'] <= st[m]['ci'][1], (key, m, st[m])
        if key == 'baseline': assert row['vs_baseline'] is None
        else: assert row['vs_baseline']['f1']['ci'][0] <= row['vs_baseline']['f1']['mean'] <= row['vs_baseline']['f1']['ci'][1]
        assert all(p and 0 <= p['vit'] <= 1 and 0 <= p['llm'] <= 1 for p in row['probes'])
    runs = [json.loads((out/'ablate'/k/f'seed{s}'/'run.json').read_text()) for k in TABLE2_ROWS for s in (0, 1)]
    assert len({tuple(r['ids']) for r in runs}) == 1                                   # every run scored on the same cases
    assert len({r['train_loss'] for r in runs}) > len(TABLE2_ROWS)                     # seeds and rows trained differently
    table = (out/'ablate'/'table.md').read_text()
    for k in TABLE2_ROWS: assert f"| {ABLATION_ROWS[k]['label']} |" in table
    assert (out/'ablate'/'ablation.html').stat().st_size > 1000
    assert not list((out/'ablate').rglob('sft'))                                         # checkpoints not kept by default
    assert all(json.loads((out/s/'summary.json').read_text())['status'] == 'done' for s in ('phantoms', 'prep', 'warmup', 'ablate'))
    # a second run finds every stage done and changes nothing
    before = (out/'ablate'/'results.json').read_bytes()
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'ablate', '--quick', '--out', str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and (out/'ablate'/'results.json').read_bytes() == before, r.stderr[-2000:]


def test_bad_settings_are_one_line_errors_before_any_work(tmp_path):
    for args, want in ((['ablate.rows=[baseline,mu3]'], "did you mean 'mu2'"),
                       (['ablate.rows=[mu2]'], 'baseline'),
                       (['ablate.sft_steps=0'], 'ablate.sft_steps must be >= 1'),
                       (['ablate.seeds=[]'], 'ablate.seeds is empty')):
        r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'ablate', '--quick', '--out', str(tmp_path/'o'), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and 'Traceback' not in r.stderr and want in r.stderr, (args, r.stderr)
    assert not (tmp_path/'o').exists()


def test_recipe_sizes_the_phantoms_from_the_study():
    rec = ablate_recipe('tiny', ['ablate.n_test=20'])
    assert rec['phantoms']['n_test'] == 20 and rec['phantoms']['n_train'] == 24
    with pytest.raises(ConfigError, match='n_test'): ablate_recipe('tiny', ['ablate.n_test=1'])


def test_a_failed_run_is_reported_and_the_table_says_so():
    from mu2llm.eval.ablate import error_as_result, run_one
    r = error_as_result(run_one, {}, 'tiny', 'nope', 0, {}, 'm', 'c', 'w', '/nonexistent/x')
    assert set(r) == {'error'} and r['error'].startswith('KeyError')
    res = dict(rows={}, n_cases=3, seeds=[0], failures=['mu2/seed0: KeyError: x'])
    assert 'Failed runs (left out): mu2/seed0' in ablation_table(res)
