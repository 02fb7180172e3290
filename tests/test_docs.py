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
