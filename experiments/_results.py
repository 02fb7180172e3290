"""One format for every experiment's `results.json`: read it, write it, add a newly measured row.

    from _results import load, save, add_row, recorded_now   # with experiments/ on sys.path

A results file is a JSON object with `experiment`, `question`, `units`, `notes` and `tables`: {table name: [row, ...]}.
Every row has an `id` (unique in the file) and `recorded` ({commit, date, source}: where the figures were first
written down). Figures are numbers in the units the file names; a run script adds rows, it never edits old ones.
"""
import datetime, json, subprocess
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
