"""Write `nbs/index.ipynb`, the docs site's home page, from README.md, so the two never disagree.

    python tools/index_from_readme.py           # rewrite nbs/index.ipynb
    python tools/index_from_readme.py --check   # exit 1 (and show the difference) when it is not what README.md gives

README.md is the source, written by hand (its measured blocks by `tools/readme_tables.py`). The index gets, in order:
- a cell with the README's title and summary (nbdev makes them the page's title and description);
- one markdown cell per README section (split at `## ` headings outside code blocks), with links to files of the
  repository turned into links to the file on GitHub (the site holds the notebooks only);
- at README's `<!-- index:example -->` line, the index's own runnable example: its cells from the one that starts with
  `<!-- index:example -->` to the one that ends with `<!-- /index:example -->`, kept exactly as they are in
  `nbs/index.ipynb` (edit them there; `nbdev_test` runs them like any notebook).
`settings.ini` names no `readme_nb`, so nbdev never writes README.md from the index.
"""
import argparse, configparser, difflib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README, INDEX = ROOT/'README.md', ROOT/'nbs'/'index.ipynb'
OPEN, CLOSE = '<!-- index:example -->', '<!-- /index:example -->'
KERNEL = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}


def repo_url() -> str:
    "`https://github.com/OWNER/NAME/blob/BRANCH/` from settings.ini, the prefix of a repository file on GitHub."
    c = configparser.ConfigParser(); c.read(ROOT/'settings.ini', encoding='utf-8')
    return f"{c['DEFAULT']['git_url'].rstrip('/')}/blob/{c['DEFAULT'].get('branch', 'main')}/"


def link_to_github(md:str, base:str) -> str:
    "Markdown links to repository paths (`](experiments/x/README.md)`) -> links to the same files on GitHub."
    return re.sub(r'\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)', lambda m: f']({base}{m.group(1)})', md)


def sections(text:str) -> list:
    "README text -> its parts: the head (before the first `## `), then one part per `## ` section; code blocks stay whole."
    parts, cur, fence = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith('```'): fence = not fence
        if not fence and line.startswith('## ') and cur: parts.append('\n'.join(cur).strip('\n')); cur = []
        cur.append(line)
    parts.append('\n'.join(cur).strip('\n'))
    return [p for p in parts if p.strip()]


def title_cell(head:str) -> tuple:
    "(title and one-line summary, the rest of the head): nbdev reads the summary from the first `> ` line only."
    lines = head.splitlines()
    assert lines[0].startswith('# '), 'README.md must start with its `# title`'
    i = 1
    while i < len(lines) and not lines[i].strip(): i += 1
    quote = []
    while i < len(lines) and lines[i].startswith('>'): quote.append(lines[i].lstrip('> ').strip()); i += 1
    first = lines[0] + ('\n> ' + ' '.join(quote) if quote else '')
    return first, '\n'.join(lines[i:]).strip('\n')


def md(text:str, cid:str) -> dict:
    return {'cell_type': 'markdown', 'id': cid, 'metadata': {}, 'source': text.splitlines(keepends=True)}


def example_cells(nb:dict) -> list:
    "The index's own cells between the markers (kept verbatim)."
    src = lambda c: ''.join(c['source'])
    starts = [i for i, c in enumerate(nb['cells']) if src(c).lstrip().startswith(OPEN)]
    ends = [i for i, c in enumerate(nb['cells']) if src(c).rstrip().endswith(CLOSE)]
    if not starts and not ends: return []
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SystemExit(f'nbs/index.ipynb: expected one cell starting with {OPEN} and a later one ending with {CLOSE}')
    return nb['cells'][starts[0]:ends[0] + 1]


def render(readme:str, index:dict) -> dict:
    "The index notebook README text gives, with `index`'s example cells and notebook metadata."
    base, cells, n = repo_url(), [], 0
    example = example_cells(index)
    if (OPEN in readme) != bool(example):
        raise SystemExit(f'README.md {"has" if OPEN in readme else "has no"} an {OPEN} line but nbs/index.ipynb '
                         f'{"has no" if not example else "has an"} example block: both or neither')
    def add(text):
        nonlocal n
        text = link_to_github(text, base).strip('\n')
        if text.strip(): cells.append(md(text, f'readme-{n:02d}')); n += 1
    head, *rest = sections(readme)
    first, intro = title_cell(head)
    add(first); add(intro)
    for part in rest:
        if OPEN in part:
            before, after = part.split(OPEN, 1)
            add(before); cells.extend(example); add(after)
        else: add(part)
    return {'cells': cells, 'metadata': index.get('metadata') or KERNEL, 'nbformat': 4, 'nbformat_minor': 5}


def dumps(nb:dict) -> str:
    "As nbdev writes notebooks (execnb's `nb2str`), so `nbdev_clean` leaves the file alone."
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only compare; exit 1 if nbs/index.ipynb is out of date')
    a = ap.parse_args()
    old = INDEX.read_text(encoding='utf-8')
    new = dumps(render(README.read_text(encoding='utf-8'), json.loads(old)))
    if a.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'nbs/index.ipynb', 'from README.md'))
            print('\nnbs/index.ipynb is not what README.md gives: run python tools/index_from_readme.py'); sys.exit(1)
        print('nbs/index.ipynb is up to date with README.md')
    elif new != old:
        sys.path.insert(0, str(ROOT))
        from mu2llm.core.files import write_text_atomic
        write_text_atomic(INDEX, new); print('wrote nbs/index.ipynb from README.md')
    else: print('nbs/index.ipynb: already up to date')


if __name__ == '__main__':
    main()
