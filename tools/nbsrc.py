"""Author notebooks as plain percent-format scripts, for editors without Jupyter.

    python tools/nbsrc.py --to-py nbs/02_model/02_rpe.ipynb   # -> .nbsrc/02_model/02_rpe.py, to edit an existing notebook
    python tools/nbsrc.py .nbsrc/02_model/02_rpe.py           # -> nbs/02_model/02_rpe.ipynb (kernelspec set, jupytext metadata dropped)

The script's path below `.nbsrc/` mirrors the notebook's below `nbs/`. The notebook in `nbs/` is the source of truth
that is committed; `.nbsrc/` is git-ignored scratch. (A round trip renumbers the cells' ids.)
"""
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}


def _rel(path: Path, base: str) -> Path:
    p = Path(path).resolve()
    try: return p.relative_to(ROOT/base)
    except ValueError: return Path(p.name)


def to_nb(src: Path):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = {'kernelspec': KERNEL}
    for c in nb.cells: c.metadata = {k: v for k, v in c.metadata.items() if k not in ('lines_to_next_cell',)}
    out = ROOT/'nbs'/_rel(src, '.nbsrc').with_suffix('.ipynb'); out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, out, fmt='ipynb')
    print('wrote', out.relative_to(ROOT))


def to_py(nbf: Path):
    nb = jupytext.read(nbf)
    out = ROOT/'.nbsrc'/_rel(nbf, 'nbs').with_suffix('.py'); out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, out, fmt='py:percent')
    print('wrote', out.relative_to(ROOT))


if __name__ == '__main__':
    args = sys.argv[1:]
    if args and args[0] == '--to-py': [to_py(Path(a)) for a in args[1:]]
    else: [to_nb(Path(a)) for a in args]
