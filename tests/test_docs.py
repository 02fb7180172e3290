"""README.md's measured figures come from the experiments' results files, and every experiment folder is complete."""
import json, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p for p in (ROOT/'experiments').iterdir() if p.is_dir() and not p.name.startswith(('_', '.')))


def test_readme_tables_up_to_date():
    "`tools/readme_tables.py --check`: the README's blocks are exactly what the results files render."
    p = subprocess.run([sys.executable, str(ROOT/'tools'/'readme_tables.py'), '--check'], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


def test_readme_check_catches_a_stale_figure():
    "A figure edited by hand in the README (not in a results file) is reported."
    sys.path.insert(0, str(ROOT/'tools'))
    try: import readme_tables
    finally: sys.path.pop(0)
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    assert readme_tables.render(text) == text
    shown = readme_tables.minsec(readme_tables.shown('demo_runs')['seconds'])     # the demo's time, as the README shows it
    stale = text.replace(shown, '1' + shown, 1)
    assert stale != text and readme_tables.render(stale) == text


@pytest.mark.parametrize('exp', EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_experiment_folder(exp):
    "results.json (common shape), a README.md, and either a run script or a README that says why there is none."
    sys.path.insert(0, str(ROOT/'experiments'))
    try: from _results import check
    finally: sys.path.pop(0)
    data = json.loads((exp/'results.json').read_text(encoding='utf-8'))
    check(data, exp.name)
    assert data['experiment'] == exp.name
    for t, rows in data['tables'].items():
        for r in rows: assert set(r['recorded']) >= {'commit', 'date', 'source'}, (t, r['id'])
    readme = (exp/'README.md').read_text(encoding='utf-8')
    scripts = list(exp.glob('*.py')) + list(exp.glob('*.sh'))
    assert scripts or 'no script' in readme.lower(), f'{exp.name}: no run script and the README does not say why'


def test_study_script_adds_the_study_as_a_row(tmp_path, monkeypatch):
    "`run_study_script` (both study run.py files): the command it runs, and the row it adds from the study's own files."
    sys.path.insert(0, str(ROOT/'experiments'))
    try: import _results
    finally: sys.path.pop(0)
    monkeypatch.setattr(_results, 'EXP', tmp_path); monkeypatch.setattr(_results, 'ROOT', tmp_path)   # a results file outside the repository
    (tmp_path/'fake').mkdir()
    (tmp_path/'fake'/'results.json').write_text(json.dumps(dict(experiment='fake', question='?', units='-', tables={'runs': []})))
    ran = []
    def fake_run(cmd, log=None):                        # what `mu2llm_ablate` writes: a summary per stage, results of the last
        ran.append([str(c) for c in cmd]); out = Path(cmd[cmd.index('--out') + 1])
        for k, s in (('prep', 3.0), ('ablate', 7.5)):
            (out/k).mkdir(parents=True); (out/k/'summary.json').write_text(json.dumps(dict(seconds=s)))
        (out/'ablate'/'results.json').write_text(json.dumps(dict(rows={'baseline': 1}, seeds=[0])))
        return ''
    monkeypatch.setattr(_results, 'run_logged', fake_run)
    monkeypatch.setattr(sys, 'argv', ['run.py', '--quick', '--out', str(tmp_path/'s'), 'ablate.seeds=[0]'])
    rid = _results.run_study_script('doc', 'fake', 'ablate', ('prep', 'ablate'), 'experiments/fake/run.py')
    assert ran[0][1:] == ['-m', 'mu2llm.cli', 'ablate', '--out', str(tmp_path/'s'), '--quick', 'ablate.seeds=[0]']
    row = _results.load('fake')['tables']['runs'][0]
    assert rid == row['id'] and row['id'].startswith('quick-') and row['command'] == 'mu2llm_ablate --quick ablate.seeds=[0]'
    assert row['stage_seconds'] == {'prep': 3.0, 'ablate': 7.5} and row['rows'] == {'baseline': 1} and row['recorded']['source'] == 'experiments/fake/run.py'


def _fake_run(path, ids, green, tp):
    "A run.json as the studies write it: per-case finding counts and text scores."
    path.mkdir(parents=True, exist_ok=True)
    scores = dict(counts=[[t, 1 - t, 0] for t in tp], green=green, rougeL=[0.5] * len(ids), bleu4=[0.1] * len(ids))
    (path/'run.json').write_text(json.dumps(dict(ids=ids, scores=scores)))


def test_row_comparison_and_pooling_over_sets(tmp_path, monkeypatch):
    "`compare_rows` (both follow-up scripts) and `pref_study/pooled.py`: paired means over the same cases; sets must not overlap."
    sys.path.insert(0, str(ROOT/'experiments')); sys.path.insert(0, str(ROOT/'experiments'/'pref_study'))
    try: import _results, pooled
    finally: del sys.path[:2]
    monkeypatch.setattr(_results, 'EXP', tmp_path); monkeypatch.setattr(_results, 'ROOT', tmp_path)
    (tmp_path/'pref_study').mkdir()
    (tmp_path/'pref_study'/'results.json').write_text(json.dumps(dict(experiment='p', question='?', units='-', tables={'checks': []})))
    for s, ids in (('a', ['1', '2', '3']), ('b', ['4', '5'])):
        _fake_run(tmp_path/s/'sft'/'run', ids, [0.0] * len(ids), [1] * len(ids))
        for k in (0, 1):
            _fake_run(tmp_path/s/'minimal_edit'/f'seed{k}', ids, [0.1 * (k + 1)] * len(ids), [1] * len(ids))
            _fake_run(tmp_path/s/'other'/f'seed{k}', ids, [0.5] * len(ids), [0] * len(ids))
    c = _results.compare_rows(tmp_path/'a', 'minimal_edit', 'other', [0, 1], n_boot=50)
    assert abs(c['per_seed'][0]['green']['mean'] - 0.4) < 1e-9 and abs(c['per_seed'][1]['green']['mean'] - 0.3) < 1e-9
    assert abs(c['pooled']['green']['mean'] - 0.35) < 1e-9 and c['pooled']['f1']['mean'] == -1.0
    monkeypatch.setattr(pooled, 'add_row', _results.add_row)
    monkeypatch.setattr(sys, 'argv', ['pooled.py', '--sets', str(tmp_path/'a'), str(tmp_path/'b'), '--seeds', '0,1', '--n_boot', '50'])
    pooled.main()
    row = _results.load('pref_study')['tables']['checks'][0]
    assert row['n_cases'] == 5 and row['set_sizes'] == [3, 2] and abs(row['per_seed'][1]['green']['mean'] - 0.2) < 1e-9
    monkeypatch.setattr(sys, 'argv', ['pooled.py', '--sets', str(tmp_path/'a'), str(tmp_path/'a'), '--seeds', '0,1'])
    with pytest.raises(SystemExit, match='overlap'): pooled.main()
