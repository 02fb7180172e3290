"""One format for every experiment's `results.json`: read it, write it, add a newly measured row.

    from _results import load, save, add_row, recorded_now   # with experiments/ on sys.path

A results file is a JSON object with `experiment`, `question`, `units`, `notes` and `tables`: {table name: [row, ...]}.
Every row has an `id` (unique in the file) and `recorded` ({commit, date, source}: where the figures were first
written down). Figures are numbers in the units the file names; a run script adds rows, it never edits old ones.
"""
import argparse, datetime, json, subprocess, sys
from pathlib import Path

EXP = Path(__file__).resolve().parent
ROOT = EXP.parent


def path(name) -> Path: return EXP/name/'results.json'


def load(name) -> dict:
    "The results file of experiment `name` (a folder of experiments/)."
    return json.loads(path(name).read_text(encoding='utf-8'))


def dumps(obj, indent:int=0, width:int=118, lead:int=0) -> str:
    "JSON with one row per line where it fits: short lists and objects stay on one line."
    flat = json.dumps(obj, ensure_ascii=False)
    if indent + lead + len(flat) <= width or not isinstance(obj, (list, dict)) or not obj: return flat
    pad, inner = ' ' * indent, ' ' * (indent + 2)
    if isinstance(obj, list):
        return '[\n' + ',\n'.join(inner + dumps(v, indent + 2, width) for v in obj) + '\n' + pad + ']'
    keys = {k: json.dumps(k, ensure_ascii=False) + ': ' for k in obj}
    return '{\n' + ',\n'.join(inner + keys[k] + dumps(v, indent + 2, width, len(keys[k])) for k, v in obj.items()) + '\n' + pad + '}'


def save(name, data:dict):
    "Write experiment `name`'s results file (checked: every row has a unique id and a `recorded`)."
    check(data, name)
    path(name).write_text(dumps(data) + '\n', encoding='utf-8')


def check(data:dict, name='?'):
    "Raise ValueError unless `data` has the common shape."
    for k in ('experiment', 'question', 'units', 'tables'):
        if k not in data: raise ValueError(f'{name}: results.json has no {k!r}')
    ids = set()
    for t, rows in data['tables'].items():
        for r in rows:
            if 'id' not in r or 'recorded' not in r: raise ValueError(f'{name}: a row of table {t!r} has no id or recorded')
            if r['id'] in ids: raise ValueError(f"{name}: row id {r['id']!r} appears twice")
            ids.add(r['id'])


def recorded_now(source:str) -> dict:
    "`recorded` for a row measured now: today's date and the checked-out commit (marked dirty if the tree is)."
    git = lambda *a: subprocess.run(['git', '-C', str(ROOT), *a], capture_output=True, text=True).stdout.strip()
    commit = git('rev-parse', '--short', 'HEAD') or 'unknown'
    if git('status', '--porcelain', '--untracked-files=no'): commit += '-dirty'
    return dict(commit=commit, date=datetime.date.today().isoformat(), source=source)


def add_row(name, table:str, row:dict) -> str:
    "Append a newly measured row to `table` of experiment `name` (its id gets a numeric suffix if taken); returns the id."
    data = load(name)
    ids = {r['id'] for rows in data['tables'].values() for r in rows}
    base, k = row['id'], 2
    while row['id'] in ids: row['id'] = f'{base}-{k}'; k += 1
    data['tables'].setdefault(table, []).append(row)
    save(name, data)
    print(f'added row {row["id"]!r} to table {table!r} of {path(name).relative_to(ROOT)}')
    return row['id']


def run_logged(cmd:list, log=None) -> str:
    "Run `cmd` from the repository root, echo its output as it comes, return stdout (raise if it fails)."
    import sys
    print('running:', ' '.join(map(str, cmd)), flush=True)
    p = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout: sys.stdout.write(line); lines.append(line)
    if p.wait(): raise SystemExit(f'{cmd[1] if len(cmd) > 1 else cmd[0]} failed (exit {p.returncode})')
    out = ''.join(lines)
    if log: Path(log).write_text(out, encoding='utf-8')
    return out


def machine() -> str:
    "CPU count and torch threads of this machine, for the `machine` field of a new row."
    import os
    try:
        import torch; th = f', torch {torch.__version__} with {torch.get_num_threads()} threads'
    except ImportError: th = ''
    return f'{os.cpu_count()} CPU core(s){th}; load not recorded'


def run_study_script(doc:str, # the script's docstring (its --help)
                     name:str, # the experiment folder (and results file)
                     command:str, # the mu2llm console command: 'ablate' or 'prefstudy'
                     stages:tuple, # the stages whose seconds the row keeps; the last one wrote results.json
                     source:str # the script's path, for `recorded`
                    ) -> str:
    "The body of a study's run.py: parse --quick / --out / overrides, run `mu2llm COMMAND`, add its results as a row; returns the id."
    import argparse, sys, tempfile, time
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help=f'the tiny study (mu2llm_{command} --quick)')
    ap.add_argument('--out', help='the study folder (default: a temporary folder, removed afterwards)')
    ap.add_argument('overrides', nargs='*', help=f'recipe overrides passed to mu2llm_{command} (section.key=value)')
    a = ap.parse_args()
    quick = ['--quick'] if a.quick else []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.out or Path(tmp)/'study')
        t0 = time.perf_counter()
        run_logged([sys.executable, '-m', 'mu2llm.cli', command, '--out', out, *quick, *a.overrides])
        minutes = round((time.perf_counter() - t0) / 60, 1)
        res = json.loads((out/stages[-1]/'results.json').read_text(encoding='utf-8'))
        seconds = {s: json.loads((out/s/'summary.json').read_text())['seconds'] for s in stages}
    rec = recorded_now(source)
    row = dict(id=f"{'quick' if a.quick else 'study'}-{rec['date']}", recorded=rec, command=' '.join([f'mu2llm_{command}', *quick, *a.overrides]),
               machine=machine(), minutes=minutes, stage_seconds=seconds, **res)
    return add_row(name, 'runs', row)


def compare_rows(folder, a:str, b:str, seeds:list, n_boot:int=1000) -> dict:
    """Row b minus row a of one study folder (`<row>/seed<k>/run.json`, as `mu2llm_ablate` and `mu2llm_prefstudy` write them),
    paired over the same held-out cases: GREEN and finding F1 per seed and pooled over seeds, with 95 % bootstrap CIs."""
    from mu2llm.eval.ablate import paired
    run = lambda row, seed: json.loads((Path(folder)/row/f'seed{seed}'/'run.json').read_text(encoding='utf-8'))
    ra, rb = [run(a, k) for k in seeds], [run(b, k) for k in seeds]
    pick = lambda d: {k: v for k, v in d.items() if k in ('green', 'f1')}
    per_seed = [dict(seed=k, **pick(paired([y], [x], n_boot))) for k, x, y in zip(seeds, ra, rb)]
    out = dict(a=a, b=b, pooled=pick(paired(rb, ra, n_boot)), per_seed=per_seed)
    show = lambda d: f"{d['mean']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
    for m in ('green', 'f1'):
        print(f"{b} minus {a}, same cases, {m}: pooled {show(out['pooled'][m])}; per seed "
              + ', '.join(f"{d['seed']}: {show(d[m])}" for d in per_seed))
    return out


def followup_parser(doc:str, # the script's docstring (its --help)
                    study:str, # what --study is, and what of it is reused
                    stage:str, # the study's last stage (the follow-up folder holds phantoms, prep and it)
                    rows:str # the default --rows
                   ) -> argparse.ArgumentParser:
    "The arguments every follow-up on fresh held-out phantoms takes; a script adds its own."
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--study', required=True, help=study)
    ap.add_argument('--out', required=True, help=f'the follow-up folder (phantoms, prep, {stage}); rerun with it to resume')
    ap.add_argument('--rows', default=rows, help=f'{stage} rows, comma-separated')
    ap.add_argument('--n_test', type=int, default=1000, help='fresh held-out phantoms')
    ap.add_argument('--test_seed_offset', type=int, default=200_000, help="the held-out set's seed offset (the study's was 100000)")
    ap.add_argument('--compare', help='A,B: two rows of --rows; B minus A paired over the same cases, per seed and pooled')
    ap.add_argument('--name', default='followup', help='the row id prefix in results.json')
    return ap


def fresh_heldout(rec, # the follow-up's recipe
                  study:Path, # the finished study folder
                  out:Path, # the follow-up folder
                  n_test:int, offset:int, # the fresh held-out set's size and seed offset
                  trained:str # what of the study was trained on its training phantoms (for the error)
                 ) -> tuple:
    "Phantoms and prep of a follow-up: the study's training phantoms again and a fresh held-out set; `(recipe, stage summaries)`."
    from mu2llm.core.stages import read_summary, run_pipeline
    from mu2llm.data.manifest import read_manifest
    done = read_summary(study/'phantoms')
    if offset == done['recipe']['phantoms'].get('test_seed_offset', 100_000):
        sys.exit("--test_seed_offset must differ from the study's, or the held-out phantoms are the study's")
    rec = rec.updated({'phantoms': dict(done['recipe']['phantoms'], n_test=n_test, test_seed_offset=offset)})
    got = run_pipeline(['phantoms', 'prep'], rec, out)
    train = lambda m: [(r.id, r.report, Path(r.meta['truth']).read_text()) for r in read_manifest(m) if r.split == 'train']
    if train(got['phantoms']['outputs']['manifest']) != train(done['outputs']['manifest']):
        sys.exit(f"the regenerated training phantoms differ from the study's: {trained} was not trained on them")
    return rec, got
