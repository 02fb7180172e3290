"""Author notebooks as plain percent-format scripts, for editors without Jupyter.

    python tools/nbsrc.py .nbsrc/12_rpe.py          # -> nbs/12_rpe.ipynb (kernelspec set, jupytext metadata dropped)
    python tools/nbsrc.py --to-py nbs/12_rpe.ipynb  # -> .nbsrc/12_rpe.py, to edit an existing notebook

The notebook in `nbs/` is the source of truth that is committed; `.nbsrc/` is git-ignored scratch.
"""
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}


def to_nb(src: Path):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = {'kernelspec': KERNEL}
    for c in nb.cells: c.metadata = {k: v for k, v in c.metadata.items() if k not in ('lines_to_next_cell',)}
    out = ROOT/'nbs'/(src.stem + '.ipynb')
    jupytext.write(nb, out, fmt='ipynb')
    print('wrote', out.relative_to(ROOT))


def to_py(nbf: Path):
    nb = jupytext.read(nbf)
    out = ROOT/'.nbsrc'/(nbf.stem + '.py'); out.parent.mkdir(exist_ok=True)
    jupytext.write(nb, out, fmt='py:percent')
    print('wrote', out.relative_to(ROOT))


if __name__ == '__main__':
    args = sys.argv[1:]
    if args and args[0] == '--to-py': [to_py(Path(a)) for a in args[1:]]
    else: [to_nb(Path(a)) for a in args]
