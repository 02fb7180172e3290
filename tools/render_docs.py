"""Render the docs site locally without Quarto: nbdev's notebook processing, then one plain HTML page per notebook.

    python tools/render_docs.py                 # -> _site_local/index.html (the home page and the list of all pages)
    python tools/render_docs.py --out DIR       # elsewhere
    python tools/render_docs.py --no-proc       # reuse _proc/ as the last run left it

What it writes: `_proc/` (nbdev's `proc_nbs(force=True)`: the notebooks as the Quarto site gets them, `show_doc` run),
and under `--out` only: a page per processed notebook (nbconvert's `basic` template, so no require.js and no MathJax
from a CDN: a page needs no network), one `plotly.min.js` (the installed plotly's) at the site root that every page loads
in its `<head>` before any output, as the Quarto site does from `nbs/plotly_header.html`, and `index.html`: the home page
(`nbs/index.ipynb`) with the list of every page, nested by folder as `nbs/sidebar.yml` orders them. Every page lists
its script errors (`window.onerror`, failed loads) in `<pre id="page-errors">` (empty when all is well).
`tests/test_docs_site.py` opens every page in headless Chromium and checks that each figure drew.
"""
import argparse, html, os, re, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
GENERATOR = '<meta name="generator" content="mu2llm tools/render_docs.py">'

STYLE = """
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529; }
.site { display: flex; align-items: flex-start; }
nav.sidebar { flex: 0 0 15rem; position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1rem;
              background: #f8f9fa; border-right: 1px solid #dee2e6; font-size: 14px; }
nav.sidebar ul { list-style: none; padding-left: 0.8rem; margin: 0.2rem 0; }
nav.sidebar > ul { padding-left: 0; }
nav.sidebar .section { font-weight: 600; margin-top: 0.6rem; }
nav.sidebar a.current { font-weight: 600; color: #000; }
main { flex: 1; min-width: 0; max-width: 60rem; padding: 1rem 2rem 4rem; }
a { color: #0d6efd; text-decoration: none; } a:hover { text-decoration: underline; }
p.description { font-size: 1.15rem; color: #6c757d; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.jp-InputArea pre, .input_area pre, div.highlight pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; border-radius: 4px; }
.output_area pre, .jp-OutputArea pre { padding: 0.3rem 0.6rem; overflow-x: auto; margin: 0; }
.prompt, .jp-InputPrompt, .jp-OutputPrompt { display: none; }
.cell { margin-bottom: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; } th, td { border: 1px solid #dee2e6; padding: 0.25rem 0.5rem; }
img { max-width: 100%; }
#page-errors { color: #b00020; white-space: pre-wrap; border: 1px solid #b00020; padding: 0.5rem; margin: 1rem 2rem; }
#page-errors:empty { display: none; }
"""

# Before anything else in <head>: record script errors (and scripts or styles that fail to load) in #page-errors.
ERRORS_JS = """<script>
(function () {
  var pending = [];
  function record(msg) {
    var box = document.getElementById('page-errors');
    if (box) box.textContent += msg + '\\n'; else pending.push(msg);
  }
  window.onerror = function (msg, src, line, col) { record('error: ' + msg + ' (' + (src || 'inline') + ':' + line + ':' + col + ')'); };
  window.addEventListener('error', function (ev) {
    var t = ev.target;
    if (t && t !== window && (t.src || t.href)) record('failed to load ' + (t.src || t.href));
  }, true);
  window.addEventListener('unhandledrejection', function (ev) { record('unhandled rejection: ' + ev.reason); });
  document.addEventListener('DOMContentLoaded', function () { pending.splice(0).forEach(record); });
})();
</script>"""


def proc(workers:int) -> Path:
    "nbdev's docs processing of every notebook into `_proc/` (the package of this checkout is the one imported)."
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
    os.chdir(ROOT)
    from nbdev.serve import proc_nbs
    return Path(proc_nbs(force=True, n_workers=workers))


def _directives(src:str) -> dict:
    out = {}
    for line in src.splitlines():
        m = re.match(r'\s*#\s*\|\s*([\w-]+):?\s*(.*)', line)
        if not m: break
        out[m.group(1)] = m.group(2).strip().lower()
    return out


def _strip_directives(src:str) -> str:
    lines = src.splitlines()
    while lines and re.match(r'\s*#\s*\|', lines[0]): lines.pop(0)
    return '\n'.join(lines)


def prepare(nb) -> dict:
    "Frontmatter out (-> title, description), Quarto's cell options applied: `echo`, `output`, `include` false."
    import yaml
    fm, cells = {}, []
    for c in nb.cells:
        src = c.source if isinstance(c.source, str) else ''.join(c.source)
        if c.cell_type == 'raw' and src.strip().startswith('---'):
            fm.update(yaml.safe_load(src.strip().strip('-')) or {}); continue
        if c.cell_type == 'code':
            d = _directives(src)
            if d.get('include') == 'false': continue
            if d.get('output') == 'false': c.outputs = []
            c.source = _strip_directives(src)
            if d.get('echo') == 'false' or not c.source.strip():
                if not c.get('outputs'): continue
                c.metadata.setdefault('tags', []).append('remove_input')       # removed by nbconvert's TagRemovePreprocessor
        elif not src.strip(): continue
        cells.append(c)
    nb.cells = cells
    return fm


def body_html(path:Path) -> tuple:
    "(title, description, output file name, HTML of the cells) of a processed notebook, through nbconvert's `basic` template."
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(path, as_version=4)
    fm = prepare(nb)
    from traitlets.config import Config
    cfg = Config({'TagRemovePreprocessor': {'enabled': True, 'remove_input_tags': {'remove_input'}}})
    ex = HTMLExporter(config=cfg, template_name='basic', exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = ex.from_notebook_node(nb)
    body = re.sub(r'href="(?!\w+:|#|/)([^"]+?)\.ipynb(#[^"]*)?"', r'href="\1.html\2"', body)   # links between notebooks
    body = re.sub(r'<a href="([^"]*)">([^<]*)</a>\{([^{}]*)\}', r'<a href="\1" \3>\2</a>', body)   # pandoc attributes ({target=...})
    return str(fm.get('title') or path.stem), str(fm.get('description') or ''), fm.get('output-file') or path.with_suffix('.html').name, body


def nav_tree(pages:list) -> list:
    "The sidebar's order and sections (nbs/sidebar.yml) for the rendered pages; pages it does not name go last."
    import yaml
    tree = yaml.safe_load((NBS/'sidebar.yml').read_text(encoding='utf-8'))['website']['sidebar']['contents']
    seen = set()
    def keep(items):
        out = []
        for o in items:
            if isinstance(o, dict):
                sub = keep(o['contents'])
                if sub: out.append({'section': o['section'], 'contents': sub})
            elif o in pages: out.append(o); seen.add(o)
        return out
    tree = keep(tree)
    rest = [p for p in pages if p not in seen]
    return tree + ([{'section': 'Other', 'contents': rest}] if rest else [])


def nav_html(tree:list, titles:dict, names:dict, here:str) -> str:
    "Nested lists of links, relative to page `here` (`names`: notebook -> its page, as Quarto names it)."
    up = '../' * here.count('/')
    def items(xs):
        out = []
        for o in xs:
            if isinstance(o, dict): out.append(f'<li><div class="section">{html.escape(o["section"])}</div><ul>{items(o["contents"])}</ul></li>')
            else:
                href = up + names[o]
                cls = ' class="current"' if names[o] == here else ''
                out.append(f'<li><a href="{href}"{cls}>{html.escape(titles.get(o, o))}</a></li>')
        return ''.join(out)
    return f'<nav class="sidebar"><ul>{items(tree)}</ul></nav>'


def page(title:str, description:str, body:str, nav:str, rel:str, site_title:str, source:str='') -> str:
    up = '../' * rel.count('/')
    from pygments.formatters import HtmlFormatter
    css = STYLE + HtmlFormatter().get_style_defs('.highlight')
    from nbconvert.filters import markdown2html
    desc = markdown2html(description).replace('<p>', '<p class="description">', 1) if description else ''
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{GENERATOR}
<meta name="mu2llm-source" content="{html.escape(source)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – {html.escape(site_title)}</title>
{ERRORS_JS}
<script src="{up}plotly.min.js" charset="utf-8"></script>
<style>{css}</style>
</head>
<body>
<pre id="page-errors"></pre>
<div class="site">
{nav}
<main>
<h1 class="title">{html.escape(title)}</h1>
{desc}
{body}
</main>
</div>
</body>
</html>
"""


def render_site(src:Path, out:Path, site_title:str='mu2llm', site_url:str=None) -> list:
    """Every notebook under `src` (processed or not) -> a page under `out`, plus plotly.min.js; returns the pages written.

    Pages are named as Quarto names them (nbdev's `output-file`: `02_model/configuration_mu2llm.html`), so the links nbdev
    writes to the published site (`site_url`/...) become links between the local pages."""
    from plotly.offline import get_plotlyjs
    sys.path.insert(0, str(ROOT))
    from mu2llm.core.files import write_text_atomic
    notebooks = sorted(p.relative_to(src).as_posix() for p in src.rglob('*.ipynb')
                       if not any(s.startswith(('_', '.')) for s in p.relative_to(src).parts))
    rendered = {rel: body_html(src/rel) for rel in notebooks}
    titles = {rel: r[0] for rel, r in rendered.items()}
    names = {rel: (Path(rel).parent/r[2]).as_posix() for rel, r in rendered.items()}
    tree = nav_tree(notebooks)
    out.mkdir(parents=True, exist_ok=True)
    written = [out/'plotly.min.js']
    js = get_plotlyjs()
    if not written[0].exists() or written[0].read_text(encoding='utf-8') != js: write_text_atomic(written[0], js)
    for rel, (title, desc, _, body) in rendered.items():
        dest = out/names[rel]
        if site_url: body = body.replace(f'href="{site_url.rstrip("/")}/', 'href="' + '../' * names[rel].count('/'))
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(dest, page(title, desc, body, nav_html(tree, titles, names, names[rel]), names[rel], site_title, rel))
        written.append(dest)
    if 'index.ipynb' not in rendered:                      # no home page among the notebooks: index.html is the list alone
        written.append(out/'index.html')
        write_text_atomic(written[-1], page(site_title, '', '', nav_html(tree, titles, names, 'index.html'), 'index.html', site_title))
    for old in out.rglob('*.html'):                         # pages of an earlier render whose notebook is gone
        if old not in written and GENERATOR in old.read_text(encoding='utf-8', errors='replace'): old.unlink()
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_site_local'), help='the folder to write the site into (default: _site_local/)')
    ap.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1), help="processes for nbdev's notebook processing")
    ap.add_argument('--no-proc', action='store_true', help='render _proc/ as it is, without running the notebook processing')
    a = ap.parse_args()
    out = Path(a.out).resolve()
    t0 = time.time()
    src = ROOT/'_proc' if a.no_proc else proc(a.workers)
    t1 = time.time()
    from nbdev.config import get_config
    cfg = get_config(path=ROOT)
    pages = render_site(src, out, site_title=cfg.title, site_url=cfg.doc_host.rstrip('/') + cfg.doc_baseurl)
    print(f'{len(pages) - 1} pages and plotly.min.js in {out} (processing {t1 - t0:.0f} s, pages {time.time() - t1:.0f} s); '
          f'open {out/"index.html"}')


if __name__ == '__main__':
    main()
