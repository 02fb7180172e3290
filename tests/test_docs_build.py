"""The docs site's sources, checked statically (no notebook is run): what nbdev's docs processing and Quarto need.

- no notebook code cell mixes imports with other code (nbdev's docs processing executes every cell holding an import,
  out of context: such a cell fails the build or warns "Found cells containing imports and other code");
- `nbs/sidebar.yml` names every notebook once, names nothing else, and is what `tools/sidebar.py` writes;
- `nbs/index.ipynb` is what `tools/index_from_readme.py` writes from README.md;
- the Quarto site loads the plotly.js the installed plotly bundles, once per page, in the page's head.
- relative links in the notebooks stay inside the site (repository files are linked on GitHub).
"""
import ast, json, re, subprocess, sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts
                   and not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts[:-1]))


def _cells(nb:Path) -> list:
    return json.loads(nb.read_text(encoding='utf-8'))['cells']


def _directives(src:str) -> dict:
    "`#| name: value` lines at the top of a cell -> {name: value} (nbdev's directive syntax)."
    out = {}
    for line in src.splitlines():
        m = re.match(r'\s*#\s*\|\s*([\w-]+:?)\s*(.*)', line)
        if not m:
            if line.strip(): break
            continue
        out[m.group(1)] = m.group(2).strip()
    return out


def _mixes_imports(src:str):
    "True when nbdev's `_do_eval` would execute this cell *and* warn: an import plus any expression or assignment."
    d = _directives(src)
    if d.get('eval:', '').lower() == 'false' or {'export', 'exports', 'exporti', 'exec_doc'} & d.keys(): return False
    if 'nbdev_export' + '()' in src: return False
    code = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))   # magics are not Python
    try: tree = ast.parse(code)
    except SyntaxError: return False
    nodes = list(ast.walk(tree))
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes)


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_imports_in_cells_of_their_own(nb):
    bad = [(i, ''.join(c['source'])[:200]) for i, c in enumerate(_cells(nb))
           if c['cell_type'] == 'code' and _mixes_imports(''.join(c['source']))]
    assert not bad, f'{nb.name}: cells mixing imports with other code (move the imports to a cell of their own): {bad}'


def test_import_guard_matches_nbdev():
    "The check above agrees with nbdev's own rule on a few cells (nested imports and docstrings count, as in nbdev)."
    assert _mixes_imports('import os\nx = 1')
    assert _mixes_imports('def f():\n    "doc"\n    import csv\n    return csv')     # nested import + a docstring
    assert not _mixes_imports('import os\nfrom pathlib import Path')
    assert not _mixes_imports('#| export\nimport os\nx = 1')
    assert not _mixes_imports('#| eval: false\nimport os\nx = 1')
    assert not _mixes_imports('#| hide\nimport nbdev; nbdev.nbdev_export()')


def _tool(name:str):
    sys.path.insert(0, str(ROOT/'tools'))
    try: return __import__(name)
    finally: sys.path.pop(0)


def test_sidebar_names_every_notebook_once():
    "Every notebook in `nbs/` is in the sidebar, every entry is a file there, none twice; index first."
    got = _tool('sidebar').entries(yaml.safe_load((NBS/'sidebar.yml').read_text(encoding='utf-8')))
    want = {p.relative_to(NBS).as_posix() for p in NOTEBOOKS}
    assert len(got) == len(set(got)), [x for x in got if got.count(x) > 1]
    assert not want - set(got), f'notebooks missing from nbs/sidebar.yml (run python tools/sidebar.py): {sorted(want - set(got))}'
    assert not [x for x in got if not (NBS/x).is_file()], 'nbs/sidebar.yml names files that do not exist'
    assert got[0] == 'index.ipynb'


@pytest.mark.parametrize('tool', ['sidebar.py', 'index_from_readme.py'])
def test_generated_file_up_to_date(tool):
    "`tools/TOOL --check`: nbs/sidebar.yml, and the home page (README.md plus the index's own example), are what the tools write."
    p = subprocess.run([sys.executable, str(ROOT/'tools'/tool), '--check'], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


def test_index_tool_follows_the_readme():
    "A README edit reaches the index; the example cells survive; repository links point at GitHub; nbdev never writes README."
    tool = _tool('index_from_readme')
    readme, index = (ROOT/'README.md').read_text(encoding='utf-8'), json.loads((NBS/'index.ipynb').read_text(encoding='utf-8'))
    edited = tool.render(readme.replace('## Development\n', '## Development\n\nA new sentence.\n', 1), index)
    assert any('A new sentence.' in ''.join(c['source']) for c in edited['cells'])
    example = tool.example_cells(index)
    assert example and any(c['cell_type'] == 'code' for c in example) and all(c in edited['cells'] for c in example)
    text = json.dumps(edited)
    assert '](experiments/' not in text and '](https://github.com/' in text
    first = ''.join(edited['cells'][0]['source']).splitlines()
    assert first[0].startswith('# ') and first[1].startswith('> ') and len(first) == 2     # nbdev's title and description
    from nbdev.config import get_config
    assert not (NBS/get_config(path=ROOT).readme_nb).exists()     # nbdev_docs skips README.md when readme_nb is no file


def test_quarto_loads_the_bundled_plotly_js():
    "The header Quarto puts in every page loads the plotly.js version of the installed plotly (the figures' JSON is its)."
    from plotly.offline import get_plotlyjs_version
    quarto = yaml.safe_load((NBS/'_quarto.yml').read_text(encoding='utf-8'))
    header = quarto['format']['html']['include-in-header']
    assert not header.startswith(('_', '.')), 'nbdev copies no _-prefixed file into _proc/, where Quarto renders'
    got = re.findall(r'<script src="https://cdn\.plot\.ly/plotly-([\d.]+)\.min\.js"', (NBS/header).read_text(encoding='utf-8'))
    assert got == [get_plotlyjs_version()], f'nbs/{header} loads plotly.js {got}, the installed plotly bundles {get_plotlyjs_version()}'


def test_relative_links_stay_on_the_site():
    "A relative markdown link in a notebook points at a file the site has (inside nbs/); repository files get a GitHub link."
    bad = []
    for nb in NOTEBOOKS:
        for c in _cells(nb):
            if c['cell_type'] != 'markdown': continue
            for target in re.findall(r'\]\(([^)\s]+)\)', ''.join(c['source'])):
                if re.match(r'[a-z]+:|#', target): continue                  # a URL or an anchor
                p = (nb.parent/target.split('#')[0]).resolve()
                if not p.is_relative_to(NBS.resolve()) or not p.exists(): bad.append(f'{nb.relative_to(NBS)}: {target}')
    assert not bad, '\n'.join(bad)
