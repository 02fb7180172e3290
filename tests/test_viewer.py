"""`mu2llm_view` (issue 18): the standalone viewer page, written by the command for a tiny checkpoint and a phantom, opened
in a real headless Chromium; and its one-line errors."""
import html, re, shutil, subprocess
from pathlib import Path

import pytest

from _helpers import cli, cli_env, save_tiny_checkpoint

PLANES = ('axial', 'coronal', 'sagittal')
CHROMIUM = next((p for p in (shutil.which('chromium'), shutil.which('chromium-browser'), '/usr/bin/chromium')
                 if p and Path(p).exists()), None)


def dump_dom(page:Path, tmp:Path) -> str:
    "The page's DOM after its scripts ran, from headless Chromium (`--dump-dom`)."
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files',
                        f'--user-data-dir={tmp/"chromium-profile"}', '--virtual-time-budget=10000', '--dump-dom',
                        page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '<body' in r.stdout, r.stderr[-2000:]
    return r.stdout


def element(dom:str, id:str) -> str:
    "The opening tag of the element with this id."
    m = re.search(rf'<[a-z]+ [^>]*id="{id}"[^>]*>', dom)
    assert m, f'no element #{id}'
    return m.group(0)


def inner(dom:str, tag:str, id:str) -> str:
    "The text inside `<tag id=...>...</tag>` (no nested tag of the same name)."
    m = re.search(rf'<{tag} [^>]*id="{id}"[^>]*>(.*?)</{tag}>', dom, re.S)
    assert m, f'no <{tag} id="{id}">'
    return m.group(1)


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    "A tiny checkpoint and a phantom scan given as a manifest row (with a reference report)."
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.data.manifest import ManifestRow, write_manifest
    from mu2llm.testing import tiny_hu
    d = tmp_path_factory.mktemp('view')
    ck = save_tiny_checkpoint(d/'ck')
    (d/'scans').mkdir()
    write_nifti(d/'scans'/'p1.nii.gz', tiny_hu(seed=1), spacing=(1, 1, 2))
    write_manifest(d/'m.jsonl', [ManifestRow('p1', 'scans/p1.nii.gz', 'phantom', 'test', 'pat1',
                                             report='Small nodule in the left lower lobe. No pleural effusion.')])
    return d, ck


@pytest.fixture(scope='module')
def page(case):
    "`mu2llm_view MANIFEST#ID --checkpoint CK --out views/p1.html`, run as a console script."
    d, ck = case
    out = d/'views'/'p1.html'
    r = subprocess.run(cli('view') + [f'{d/"m.jsonl"}#p1', '--checkpoint', str(ck), '--out', str(out), '--max_new_tokens', '16'],
                       capture_output=True, text=True, env=cli_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith('mu2llm_view: p1: ') and str(out) in r.stdout, r.stdout
    return out


def test_the_page_and_its_shared_script_are_written(page):
    assert sorted(p.name for p in page.parent.iterdir()) == ['p1.html', 'plotly.min.js']
    text = page.read_bytes().decode('utf-8')
    assert re.findall(r'<script src="([^"]*)"', text) == ['plotly.min.js']                  # offline: the relative copy only
    assert page.stat().st_size < 1_000_000 < (page.parent/'plotly.min.js').stat().st_size    # plotly is not inlined
    assert 'Small nodule in the left lower lobe' in text                                       # the manifest row's reference


@pytest.mark.skipif(CHROMIUM is None, reason='no chromium binary on PATH or at /usr/bin/chromium (apt-get install chromium)')
def test_the_page_renders_in_headless_chromium(page, tmp_path):
    dom = dump_dom(page, tmp_path)
    assert inner(dom, 'pre', 'errors').strip() == '', inner(dom, 'pre', 'errors')
    assert re.search(r'<body[^>]*data-rendered="3"', dom)                          # set once all three planes are drawn
    for p in PLANES:
        tag = element(dom, f'plot-{p}')
        assert 'js-plotly-plot' in tag and 'data-heat="attention"' in tag, tag      # drawn by plotly, with the heat-map trace
    assert dom.count('class="main-svg"') >= 3
    assert len(re.findall(r'<g class="hm"', dom)) >= 6                               # CT + heat-map layer in each plane
    written = inner(page.read_bytes().decode('utf-8'), 'div', 'report-text')
    assert inner(dom, 'div', 'report-text') == written and html.unescape(re.sub('<[^>]+>', '', written)).strip()
    for p in PLANES: assert f'{p} ' in inner(dom, 'label', f'label-{p}')             # "axial 33 / 64"


@pytest.mark.skipif(CHROMIUM is None, reason='no chromium binary on PATH or at /usr/bin/chromium (apt-get install chromium)')
def test_a_broken_page_says_why(page, tmp_path):
    "Without plotly.min.js beside it the page shows the reason in #errors (window.onerror), not a blank screen."
    lone = tmp_path/'lone.html'
    shutil.copy(page, lone)
    dom = dump_dom(lone, tmp_path)
    assert 'plotly.min.js did not load' in inner(dom, 'pre', 'errors')


def test_missing_scan_or_checkpoint_is_one_line(case, tmp_path):
    d, ck = case
    runs = {'scan': [str(tmp_path/'nope.nii.gz'), '--checkpoint', str(ck)],
            'row': [f'{d/"m.jsonl"}#p9', '--checkpoint', str(ck)],
            'checkpoint': [str(d/'scans'/'p1.nii.gz'), '--checkpoint', str(tmp_path/'no_ck')],
            'unreadable': [str(tmp_path/'bad.nii.gz'), '--checkpoint', str(ck)]}
    (tmp_path/'bad.nii.gz').write_bytes(b'not a nifti file at all' * 20)
    want = {'scan': f"mu2llm_view: error: scan not found: give a .nii/.nii.gz file, a DICOM folder or MANIFEST.jsonl#ID ({tmp_path/'nope.nii.gz'})",
            'row': f"mu2llm_view: error: no row with id 'p9' ({d/'m.jsonl'})",
            'checkpoint': f"mu2llm_view: error: checkpoint folder not found (give the --out folder of mu2llm_train) ({tmp_path/'no_ck'})",
            'unreadable': f"({tmp_path/'bad.nii.gz'})"}
    for k, args in runs.items():
        out = tmp_path/f'{k}.html'
        r = subprocess.run(cli('view') + args + ['--out', str(out)], capture_output=True, text=True, env=cli_env(), timeout=300)
        err = r.stderr.strip()
        assert r.returncode == 2 and len(err.splitlines()) == 1 and err.startswith('mu2llm_view: error: '), (k, r.returncode, err[-2000:])
        assert err.endswith(want[k]) if k == 'unreadable' else err == want[k], (k, err)
        assert not out.exists()


def test_the_page_never_writes_over_its_input(case, tmp_path):
    d, ck = case
    r = subprocess.run(cli('view') + [str(d/'scans'/'p1.nii.gz'), '--checkpoint', str(ck), '--out', str(ck/'v.html')],
                       capture_output=True, text=True, env=cli_env(), timeout=300)
    assert r.returncode == 2 and 'would write over a file of the input --checkpoint' in r.stderr, r.stderr
    assert not (ck/'v.html').exists()
