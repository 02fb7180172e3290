"""The docs site as a reader's browser shows it: `tools/render_docs.py` renders every notebook, headless Chromium opens
every page, and each page must load (its notebook's title in the body), record no script error in `#page-errors`, and
draw every figure (each `mu2llm-figure` div holds a plotly `main-svg`).

A small notebook written here holds figures in the form the notebooks' outputs use (a `mu2llm-figure` div and a script
that draws it with the page's `window.Plotly`), plus two broken pages that the checks must catch, so the checks are
known to work even while no notebook of the repository has a figure in its saved outputs.
"""
import html, json, re, shutil, subprocess, sys, time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CHROMIUM = next((p for p in (shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'))
                 if p), None) or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='no Chromium or Chrome on PATH (apt-get install chromium; .ci/run does '
                                                          'when it can): the docs pages were not opened in a browser')
TIMEOUT = 300          # seconds for the browser to open every page


# ---------------------------------------------------------------- one browser opens every page
# A harness page loads the pages into iframes, two at a time, and once each has loaded (its figure scripts ran while
# it was parsed) reads what the checks need from its document. One Chromium for all pages: launching one per page
# cost ~2.5 s a page on 2 cores, this ~0.25 s. `--allow-file-access-from-files` lets the harness read file:// frames.
HARNESS = """<!doctype html><html><head><meta charset="utf-8"><title>harness</title></head><body>
<pre id="results"></pre>
<script>
var pages = %s, out = {pages: {}, done: false}, next = 0, running = 0;
function report() { document.getElementById('results').textContent = JSON.stringify(out); }
function read(frame, url) {
  var r = {};
  try {
    var d = frame.contentDocument, main = d.querySelector('main') || d.body, errs = d.getElementById('page-errors');
    r.text = main ? main.innerText : '';
    r.errors = errs ? errs.textContent : 'no #page-errors element';
    r.figures = [].map.call(d.querySelectorAll('div.mu2llm-figure'), function (f) { return [f.id, !!f.querySelector('svg.main-svg')]; });
  } catch (e) { r.errors = 'harness could not read the page: ' + e; }
  out.pages[url] = r; frame.remove(); running--; report(); start();
}
function start() {
  while (running < 2 && next < pages.length) {
    var url = pages[next++], frame = document.createElement('iframe');
    running++; frame.style.width = '1200px'; frame.style.height = '900px';
    frame.onload = (function (f, u) { return function () { setTimeout(function () { read(f, u); }, 500); }; })(frame, url);
    frame.src = url; document.body.appendChild(frame);
  }
  if (running === 0 && next >= pages.length) { out.done = true; report(); }
}
start();
</script></body></html>"""


def open_all(pages:list, tmp:Path) -> dict:
    "{page: {'text', 'errors', 'figures': [[div id, drawn]]}} for every page, read after its scripts ran, in one Chromium."
    harness = tmp/'harness.html'
    harness.write_text(HARNESS % json.dumps([p.as_uri() for p in pages]), encoding='utf-8')
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--allow-file-access-from-files',
           '--no-first-run', '--virtual-time-budget=600000', f'--user-data-dir={tmp/"chromium-profile"}', '--dump-dom', harness.as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    m = re.search(r'<pre id="results">(.*?)</pre>', p.stdout, re.S)
    assert p.returncode == 0 and m and m.group(1), f'chromium exit {p.returncode}, no results\n{p.stdout[-1000:]}\n{p.stderr[-2000:]}'
    res = json.loads(html.unescape(m.group(1)))
    by_uri = {pg.as_uri(): pg for pg in pages}
    assert res['done'], f"the harness stopped before these pages finished: {sorted(set(by_uri) - set(res['pages']))}"
    return {by_uri[u]: r for u, r in res['pages'].items()}


def problems(page:dict, title:str) -> list:
    "What is wrong with a page (empty when nothing is)."
    out = []
    if title not in page['text']: out.append(f"title {title!r} not in the page ({page['text'][:120]!r}...)")
    if page['errors'].strip(): out.append(f"script errors: {page['errors'].strip()[:1000]}")
    out += [f'figure {fid!r} not drawn (no plotly main-svg in its div)' for fid, drawn in page['figures'] if not drawn]
    return out


# ---------------------------------------------------------------- a notebook with figures as the outputs hold them
def figure_output(fig, div_id:str) -> dict:
    "A saved figure output: a `mu2llm-figure` div and a script drawing it with the page's plotly (a CDN one if none)."
    js = (f"(function(){{var draw=function(){{var f={fig.to_json()};window.Plotly.newPlot('{div_id}',f.data,f.layout,{{responsive:true}});}};"
          "if(window.Plotly){draw();}else{var s=document.createElement('script');"
          "s.src='https://cdn.plot.ly/plotly-latest.min.js';s.onload=draw;document.head.appendChild(s);}})();")
    markup = f'<div class="mu2llm-figure" id="{div_id}"></div>\n<script>{js}</script>'
    return {'output_type': 'display_data', 'metadata': {}, 'data': {'text/html': markup, 'text/plain': '<Figure>'}}


def notebook(title:str, outputs:list) -> dict:
    cells = [{'cell_type': 'markdown', 'id': 'title', 'metadata': {}, 'source': f'# {title}\n> A test page.'},
             {'cell_type': 'code', 'id': 'fig', 'metadata': {}, 'execution_count': None, 'source': 'fig', 'outputs': outputs}]
    return {'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}


def _title(nb:Path) -> str:
    "A notebook's title as nbdev reads it: the first markdown `# ` heading."
    for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
        m = re.search(r'^#\s+(\S.*?)\s*$', ''.join(c['source']), re.M) if c['cell_type'] == 'markdown' else None
        if m: return m.group(1)
    return nb.stem


def _render_docs():
    sys.path.insert(0, str(ROOT/'tools'))
    try: import render_docs
    finally: sys.path.pop(0)
    return render_docs


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The whole site rendered (nbdev processing included) plus the figure test pages, each opened in Chromium."
    tmp = tmp_path_factory.mktemp('docs_site')
    t0 = time.time()
    p = subprocess.run([sys.executable, str(ROOT/'tools'/'render_docs.py'), '--out', str(tmp/'site'), '--workers', '2'],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    t_render = time.time() - t0

    import plotly.graph_objects as go
    src = tmp/'figures_src'; src.mkdir()
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2])).update_layout(width=400, height=300)
    bar = go.Figure(go.Bar(x=['a', 'b'], y=[2, 5]))
    broken = figure_output(fig, 'broken').copy()
    broken['data'] = {'text/html': broken['data']['text/html'].replace("window.Plotly.newPlot('broken'", "window.Plotly.newPlot('no-such-div'")}
    nbs = {'figures.ipynb': notebook('Two figures', [figure_output(fig, 'fig-a'), figure_output(bar, 'fig-b')]),
           'broken_figure.ipynb': notebook('A figure that does not draw', [broken]),
           'script_error.ipynb': notebook('A script error', [{'output_type': 'display_data', 'metadata': {},
                                                              'data': {'text/html': '<script>undefined_function();</script>'}}])}
    for name, nb in nbs.items(): (src/name).write_text(json.dumps(nb), encoding='utf-8')
    _render_docs().render_site(src, tmp/'figures')

    source = lambda page: re.search(r'<meta name="mu2llm-source" content="([^"]+)">', page.read_text(encoding='utf-8')).group(1)
    site_pages = {p: NBS/source(p) for p in sorted((tmp/'site').rglob('*.html'))}
    test_pages = {tmp/'figures'/Path(n).with_suffix('.html'): n for n in nbs}
    t1 = time.time()
    doms = open_all(list(site_pages) + list(test_pages), tmp)
    t_browser = time.time() - t1
    print(f'\ndocs site: render {t_render:.0f} s, {len(doms)} pages in Chromium {t_browser:.0f} s')
    return dict(tmp=tmp, site_pages=site_pages, test_pages=test_pages, doms=doms, nbs=nbs)


def test_every_page_loads_without_errors_and_draws_its_figures(site):
    notebooks = sorted(p.relative_to(NBS) for p in NBS.rglob('*.ipynb')
                       if not any(s.startswith(('_', '.')) for s in p.relative_to(NBS).parts))
    pages = site['site_pages']
    assert sorted(nb.relative_to(NBS) for nb in pages.values()) == notebooks, 'a page per notebook, and no other'
    bad = {str(page.relative_to(site['tmp'])): pr for page, nb in pages.items() if (pr := problems(site['doms'][page], _title(nb)))}
    assert not bad, json.dumps(bad, indent=1, ensure_ascii=False)
    n_fig = sum(len(site['doms'][p]['figures']) for p in pages)
    print(f'{len(pages)} pages, {n_fig} figures, all drawn')


def test_site_is_self_contained(site):
    "Every script and stylesheet a page loads is a file of the site (no network), and every link between pages resolves."
    for page in site['site_pages']:
        text = page.read_text(encoding='utf-8')
        broken = [h for h in re.findall(r'href="(?!\w+:|#|/)([^"#]+\.html)', text) if not (page.parent/h).exists()]
        assert not broken, (page, broken)
        assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//', text), page
        head = text.split('</head>')[0]
        assert re.search(r'<script src="(?:\.\./)*plotly\.min\.js"', head) and 'id="page-errors"' in text   # plotly before any output
    assert (site['tmp']/'site'/'plotly.min.js').stat().st_size > 1_000_000


def test_figures_draw_and_the_checks_catch_a_broken_page(site):
    doms = {name: site['doms'][page] for page, name in site['test_pages'].items()}
    assert doms['figures.ipynb']['figures'] == [['fig-a', True], ['fig-b', True]]
    assert problems(doms['figures.ipynb'], 'Two figures') == []
    assert any('not drawn' in p for p in problems(doms['broken_figure.ipynb'], 'A figure that does not draw'))
    assert any('undefined_function' in p for p in problems(doms['script_error.ipynb'], 'A script error'))
