"""Write `nbs/sidebar.yml`, the docs site's sidebar: the home page, then every notebook in the order of the numbered folders.

    python tools/sidebar.py           # rewrite nbs/sidebar.yml
    python tools/sidebar.py --check   # exit 1 when nbs/sidebar.yml is not what this writes

Why not `nbdev_sidebar`: it writes a folder `00_core` as the path `core/...` (it strips the number from the folder as
well as from the section title: nbdev issue #1492), so every link into a numbered folder would be broken. This keeps
nbdev's layout (files by path, a `section` per folder, `_`-prefixed files and folders skipped) with the real paths and
a readable title per folder. Each page's own title (its notebook's H1) is what Quarto shows for it.
"""
import argparse, difflib, re, sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
OUT = NBS/'sidebar.yml'
TITLES = {'core': 'Core', 'data': 'Data', 'model': 'Model', 'score': 'Scoring', 'train': 'Training', 'eval': 'Evaluation',
          'augment': 'Augmentation', 'viz': 'Figures', 'cli': 'Command line'}
HEADER = '# Written by tools/sidebar.py (python tools/sidebar.py); tests/test_docs_build.py checks it.\n'


def title(folder:str) -> str:
    "A section title for a folder: `02_model` -> 'Model' (the number orders, the title reads)."
    name = re.sub(r'^\d+_', '', folder)
    return TITLES.get(name, name.replace('_', ' ').capitalize())


def _skip(p:Path) -> bool: return p.name.startswith(('_', '.')) or p.name == '.ipynb_checkpoints'


def contents(d:Path=NBS) -> list:
    "The sidebar entries of folder `d`: notebooks (paths relative to `nbs/`) and one section per sub-folder, by name."
    out = []
    items = sorted((p for p in d.iterdir() if not _skip(p)), key=lambda p: (p.name != 'index.ipynb', p.name))
    for p in items:
        if p.is_dir():
            sub = contents(p)
            if sub: out.append({'section': title(p.name), 'contents': sub})
        elif p.suffix in ('.ipynb', '.qmd'): out.append(p.relative_to(NBS).as_posix())
    return out


def render() -> str:
    return HEADER + yaml.safe_dump({'website': {'sidebar': {'contents': contents()}}}, sort_keys=False, allow_unicode=True)


def entries(tree) -> list:
    "Every path a sidebar tree names (sections flattened), in order."
    if isinstance(tree, dict): return [x for k in ('website', 'sidebar', 'contents') if k in tree for x in entries(tree[k])]
    if isinstance(tree, list): return [x for o in tree for x in (entries(o['contents']) if isinstance(o, dict) else [o])]
    return [tree]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only compare; exit 1 if nbs/sidebar.yml is out of date')
    a = ap.parse_args()
    new, old = render(), (OUT.read_text(encoding='utf-8') if OUT.exists() else '')
    if a.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'nbs/sidebar.yml', 'tools/sidebar.py'))
            print('\nnbs/sidebar.yml is out of date: run python tools/sidebar.py'); sys.exit(1)
        print('nbs/sidebar.yml is up to date')
    elif new != old: OUT.write_text(new, encoding='utf-8'); print('wrote', OUT.relative_to(ROOT))
    else: print('nbs/sidebar.yml: already up to date')


if __name__ == '__main__':
    main()
