"""Execute the notebooks and save their outputs; check that saved outputs are present and fresh.

    python tools/run_nbs.py                      # execute every notebook whose saved outputs are stale, save them
    python tools/run_nbs.py --all                # execute every notebook
    python tools/run_nbs.py nbs/02_model/02_rpe.ipynb ...   # these notebooks
    python tools/run_nbs.py --check              # execute nothing: list stale or missing outputs, exit 1 if any

Each notebook runs in a fresh interpreter, in its own folder, exactly as `nbdev_test` runs it (cells flagged
`notest slow cuda` are skipped; seeds 0), and is written back only when every cell ran. Every code cell then
carries `metadata.mu2llm = {src: hash of its source, outputs: how many outputs it saved}` (or `skipped: flag`),
which `nbdev_clean` keeps (`allowed_cell_metadata_keys` in settings.ini). The check fails for a cell whose source
no longer matches the hash (edited after its outputs were saved, or never executed), whose outputs were removed,
for an output that holds a machine path, and for a notebook over 2 MB or an `nbs/` over 25 MB.
"""
import argparse, hashlib, json, os, re, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
MAX_NB, MAX_ALL = 2_000_000, 25_000_000
MAX_STREAM = 12_000       # characters of one stream output kept (head and tail)
KEY = 'mu2llm'
# absolute paths of this machine that must not reach a committed output
_PATHS = re.compile(r'(/(?:root|home|work|Users|private|var/folders|opt|usr)/[^\s\'"<>:]*|/tmp/[^\s\'"<>:]*|[A-Z]:\\\\[^\s\'"<>]*)')


def src_hash(source) -> str:
    "The hash kept with a cell's outputs: sha1 of its source text (16 hex digits)."
    text = ''.join(source) if isinstance(source, list) else source
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]


def notebooks(paths=()) -> list:
    "The notebooks to run or check: `paths` (files or folders), else every notebook under `nbs/`."
    out = []
    for p in (paths or [NBS]):
        p = Path(p).resolve()
        out += [p] if p.is_file() else sorted(q for q in p.rglob('*.ipynb') if '.ipynb_checkpoints' not in q.parts and not q.name.startswith('_'))
    return out


def _text(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')


def problems(path) -> list:
    "Why the saved outputs of notebook `path` cannot be trusted: one line per problem (empty when fresh)."
    path = Path(path); rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    nb = json.loads(path.read_text(encoding='utf-8'))
    out = []
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code' or not _text(c['source']).strip(): continue
        meta = c.get('metadata', {}).get(KEY)
        where = f'{rel}: cell {i} (id {c.get("id", "?")})'
        if not meta: out.append(f'{where}: never executed by tools/run_nbs.py (no saved outputs)'); continue
        if meta.get('src') != src_hash(c['source']): out.append(f'{where}: source changed after its outputs were saved'); continue
        n = len(c.get('outputs', []))
        if 'skipped' in meta:
            if n: out.append(f'{where}: a skipped cell ({meta["skipped"]}) holds outputs')
        elif n != meta.get('outputs'): out.append(f'{where}: {meta.get("outputs")} outputs were saved, {n} are there')
        for o in c.get('outputs', []):
            texts = [_text(o.get('text'))] + [_text(v) for k, v in o.get('data', {}).items() if k.startswith('text/')]
            hit = next((m.group(0) for t in texts for m in [_PATHS.search(t)] if m), None)
            if hit: out.append(f'{where}: an output holds the machine path {hit[:60]!r}')
    size = path.stat().st_size
    if size > MAX_NB: out.append(f'{rel}: {size/1e6:.1f} MB with its outputs (limit {MAX_NB/1e6:.0f} MB)')
    return out


def check(paths=()) -> list:
    "Problems of every notebook in `paths` (default: all), plus the folder's total size."
    nbs = notebooks(paths)
    out = [p for nb in nbs for p in problems(nb)]
    if not paths:
        total = sum(nb.stat().st_size for nb in nbs)
        if total > MAX_ALL: out.append(f'nbs/: {total/1e6:.1f} MB of notebooks (limit {MAX_ALL/1e6:.0f} MB)')
    return out


def _scrub(text: str) -> str:
    "Outputs say `<repo>`, `<python>`, `<tmp>` instead of this machine's paths."
    for p, name in ((str(ROOT), '<repo>'), (str(ROOT.parent), '<repo>/..'), (sys.prefix, '<python>'), (sys.base_prefix, '<python>'),
                    (os.path.expanduser('~'), '~'), (tempfile.gettempdir(), '<tmp>')):
        if p and p != '/': text = text.replace(p, name)
    return re.sub(r'<tmp>/tmp[\w.-]+', '<tmp>/…', text)


def _clip(text: str) -> str:
    if len(text) <= MAX_STREAM: return text
    h = MAX_STREAM//2
    return text[:h] + f'\n… [{len(text) - MAX_STREAM:,} characters left out by tools/run_nbs.py] …\n' + text[-h:]


def _plain(o):
    "An execnb output (AttrDicts) as a plain, scrubbed nbformat dict."
    o = json.loads(json.dumps(o, default=str))
    if 'text' in o: o['text'] = _clip(_scrub(_text(o['text'])))
    for k, v in o.get('data', {}).items():
        if k.startswith('text/'): o['data'][k] = _scrub(_text(v))
    if o.get('output_type') == 'error':
        o['traceback'] = [_scrub(t) for t in o.get('traceback', [])]
    return o


def run_one(path) -> None:
    "Execute notebook `path` as nbdev_test does and write it back with its outputs (only when every cell ran)."
    os.environ.setdefault('MU2LLM_NO_PROGRESS', '1'); os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    os.environ['IN_TEST'] = '1'
    import random
    import numpy as np, torch
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    random.seed(0); np.random.seed(0); torch.manual_seed(0)
    path = Path(path).resolve()
    flags = set(get_config(path=ROOT).tst_flags.split())
    raw = json.loads(path.read_text(encoding='utf-8'))
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    skipped = {}
    def _no_eval(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: skipped[id(cell)] = 'export'; return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': skipped[id(cell)] = 'eval: false'; return True
        hit = sorted(flags & direc.keys())
        if hit: skipped[id(cell)] = hit[0]; return True
        return False
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    shell = CaptureShell(path)
    with working_directory(path.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=_no_eval)
        except Exception:
            sys.stderr.write(shell.prettytb(fname=path) + '\n'); raise SystemExit(f'{path.name}: a cell failed; nothing written')
    ran = {c.get('id'): c for c in nb.cells if c.cell_type == 'code'}
    for c in raw['cells']:
        if c['cell_type'] != 'code': continue
        e = ran.get(c.get('id'))
        meta = {'src': src_hash(c['source'])}
        if e is None or id(e) in skipped:
            c['outputs'] = []; meta['skipped'] = skipped.get(id(e), 'not run') if e is not None else 'not run'
        else:
            c['outputs'] = [_plain(o) for o in (e.get('outputs') or [])]; meta['outputs'] = len(c['outputs'])
        c.setdefault('metadata', {})[KEY] = meta
    tmp = path.with_name(f'.{path.name}.tmp')
    tmp.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    os.replace(tmp, path)
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True, cwd=ROOT)


def _run_in_child(path) -> tuple:
    t0 = time.time()
    p = subprocess.run([sys.executable, __file__, '--one', str(path)], capture_output=True, text=True, cwd=ROOT)
    return path, p.returncode, time.time() - t0, (p.stdout + p.stderr)[-6000:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('paths', nargs='*', help='notebooks or folders (default: every notebook in nbs/)')
    ap.add_argument('--all', action='store_true', help='execute every notebook, not only the stale ones')
    ap.add_argument('--check', action='store_true', help='execute nothing; list stale or missing outputs')
    ap.add_argument('-j', '--jobs', type=int, default=2, help='notebooks executed at once (default 2)')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one: return run_one(a.one)
    if a.check:
        bad = check(a.paths)
        print('\n'.join(bad) if bad else f'saved outputs are fresh in {len(notebooks(a.paths))} notebooks')
        if bad: print(f'{len(bad)} problem(s): run python tools/run_nbs.py to execute the stale notebooks and save their outputs')
        return 1 if bad else 0
    todo = notebooks(a.paths)
    if not (a.all or a.paths): todo = [nb for nb in todo if problems(nb)]
    print(f'executing {len(todo)} notebook(s) on {a.jobs} worker(s)', flush=True)
    failed = []
    with ThreadPoolExecutor(a.jobs) as ex:
        for path, rc, secs, log in ex.map(_run_in_child, todo):
            rel = path.relative_to(ROOT)
            print(f'{"ok  " if rc == 0 else "FAIL"} {secs:6.1f}s  {rel}  {path.stat().st_size/1e3:,.0f} kB', flush=True)
            if rc: failed.append(rel); print(log)
    bad = check(todo)
    if bad: print('\n'.join(bad))
    print(f'{len(todo) - len(failed)} executed, {len(failed)} failed')
    return 1 if failed or bad else 0


if __name__ == '__main__': sys.exit(main())
