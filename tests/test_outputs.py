"""The notebooks' saved outputs are present and fresh (`tools/run_nbs.py --check`), and the check catches stale ones."""
import copy, json, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
try: import run_nbs
finally: sys.path.pop(0)


def test_saved_outputs_are_fresh():
    "Every code cell of every notebook was executed by tools/run_nbs.py after its last edit, and kept its outputs."
    bad = run_nbs.check()
    assert not bad, '\n'.join(bad[:40]) + '\nrun: python tools/run_nbs.py'


def _nb_with_outputs() -> Path:
    "A notebook of the repository whose saved outputs include printed text."
    for nb in run_nbs.notebooks():
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        if any(o.get('output_type') == 'stream' for c in cells if c['cell_type'] == 'code' for o in c.get('outputs', [])): return nb
    pytest.fail('no notebook has a saved printed output')


def _write(tmp_path, nb) -> Path:
    p = tmp_path/'nb.ipynb'; p.write_text(json.dumps(nb), encoding='utf-8'); return p


@pytest.mark.parametrize('change', ['edit source', 'clear outputs', 'new cell', 'machine path'])
def test_check_catches_stale_outputs(tmp_path, change):
    "Editing a cell, clearing its outputs, adding a cell or saving a machine path in an output is reported."
    src = _nb_with_outputs()
    nb = json.loads(src.read_text(encoding='utf-8'))
    assert run_nbs.problems(_write(tmp_path, nb)) == []
    nb2 = copy.deepcopy(nb)
    i, c = next((i, c) for i, c in enumerate(nb2['cells']) if c['cell_type'] == 'code' and any(o.get('output_type') == 'stream' for o in c['outputs']))
    if change == 'edit source': c['source'] = ''.join(c['source']) + '\nprint(1)'
    elif change == 'clear outputs': c['outputs'] = []
    elif change == 'new cell': nb2['cells'].insert(i + 1, dict(cell_type='code', id='new1', metadata={}, outputs=[], execution_count=None, source='print(2)'))
    else:
        o = next(o for o in c['outputs'] if o.get('output_type') == 'stream')
        o['text'] = ''.join(o['text']) + '/home/someone/project/file.txt\n'
    bad = run_nbs.problems(_write(tmp_path, nb2))
    want = {'edit source': 'source changed', 'clear outputs': 'outputs were saved', 'new cell': 'never executed',
            'machine path': 'machine path'}[change]
    assert len(bad) == 1 and want in bad[0], bad
