"""Rerun one recorded demo run with today's code and add the result to results.json as a new row.

    python experiments/demo_runs/run.py defaults-2026-11-29                # runs `mu2llm_demo` with that row's flags (~13 min)
    python experiments/demo_runs/run.py defaults-2026-11-29 --out demo_out  # keep the demo's output folder
    python experiments/demo_runs/run.py defaults-2026-11-29 --from demo_out  # only read a finished run's results.json

The row's `command` gives the flags; rows with `reproducible_today: false` say why in `why_not` and are refused.
The new row has the recorded row's settings, today's date and commit, the wall-clock seconds of the command
(`--from`: the demo's own clock), and the figures of the demo's `results.json` rounded as `results_table` prints them.
"""
import argparse, shlex, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import load, add_row, recorded_now

NAME = 'demo_runs'
PCT = lambda v: None if v is None or v != v else round(100 * v, 1)
G3 = lambda v: None if v is None or v != v else round(v, 3)


def to_row(res:dict, base:dict, seconds:float, clock:str) -> dict:
    "A results-file row from the dict `run_demo` returns (its results.json)."
    models = {}
    for k in ('blank', 'blank_mean', 'sft', 'dpo', 'dpo_blank', 'paper_dpo', 'paper_dpo_blank'):
        if k not in res: continue
        o, t = res[k]['findings']['overall'], res[k]['text']
        models[k] = dict(f1=PCT(o['f1']), presence_acc=PCT(o['presence_acc']), side_acc=PCT(o['side_acc']),
                         size_bin_acc=PCT(o['size_bin_acc']), green=G3(t.get('green')),
                         green_ci=[G3(x) for x in (t.get('green_ci') or [None, None])], rouge1=PCT(t.get('rouge1')), bleu1=PCT(t.get('bleu1')))
    sec = dict(res.get('seconds', {}))
    stage = {dict(total='pipeline_total').get(k, k.replace('+', '_')): v for k, v in sec.items()}
    rec = recorded_now('experiments/demo_runs/run.py')
    row = dict(id=f"{base['id'].rsplit('-', 3)[0]}-{rec['date']}", recorded=rec,
               description=f"rerun of {base['id']}: {base.get('description', '')}", command=base['command'],
               reproducible_today=True, settings=res.get('settings', base.get('settings')),
               machine=f"{res.get('settings', {}).get('cpu_cores', '?')} CPU cores", seconds=round(seconds), clock=clock,
               stage_seconds=stage, models=models, sft_f1_gain=PCT(res.get('f1_gain')))
    if res.get('f1_gain_mean') is not None: row['sft_f1_gain_mean'] = PCT(res['f1_gain_mean'])
    if res.get('train', {}).get('loss'): row['sft_loss'] = [round(res['train']['loss'][0], 3), round(res['train']['loss'][-1], 3)]
    if 'prefs' in res:
        p = res['prefs']
        row['prefs'] = dict(drafts=p.get('candidates'), cases=p.get('cases'), green_mean=G3((p.get('candidate_scores') or {}).get('mean')),
                            green_median=G3((p.get('candidate_scores') or {}).get('median')), pairs=p.get('pairs'),
                            dropped=p.get('dropped'), mean_gap=(lambda g: None if g is None else round(g, 2))((p.get('gaps') or {}).get('mean')))
    if res.get('dpo_train', {}).get('margins'):
        d = res['dpo_train']
        row['dpo'] = dict(reward_margin=[round(d['margins'][0], 3), round(d['margins'][-1], 3)],
                          reward_accuracy_end=round(d['accuracies'][-1], 2) if d.get('accuracies') else None,
                          chosen_reward_end=round(d['rewards_chosen'][-1], 2) if d.get('rewards_chosen') else None)
    for k in ('green_gain', 'paper_green_gain'):
        if res.get(k): row[k] = dict(mean=G3(res[k]['mean']), ci=[G3(x) for x in res[k]['ci']])
    row['per_finding_f1'] = {k: {n: PCT(a['f1']) for n, a in res[k]['findings']['per_finding'].items()} for k in ('sft', 'dpo', 'paper_dpo', 'blank_mean') if k in res}
    if base.get('same_sft_model'): row['same_sft_model'] = True
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('row', help='id of a recorded row of results.json (its command is rerun)')
    ap.add_argument('--out', help='demo output folder, kept (default: a temporary folder, removed at the end)')
    ap.add_argument('--from', dest='src', help='a finished mu2llm_demo output folder: read its results.json, run nothing')
    a = ap.parse_args()
    rows = {r['id']: r for r in load(NAME)['tables']['runs']}
    if a.row not in rows: sys.exit(f'no row {a.row!r}; rows: {", ".join(rows)}')
    base = rows[a.row]
    if a.src:
        import json
        f = Path(a.src)/'eval'/'results.json'                       # the stage layout; older runs wrote results.json at the top
        res = json.loads((f if f.exists() else Path(a.src)/'results.json').read_text())
        if 'seconds' not in res: res['seconds'] = dict(total=sum(json.loads(p.read_text())['seconds'] for p in Path(a.src).glob('*/summary.json')))
        return add_row(NAME, 'runs', to_row(res, base, res['seconds']['total'], 'pipeline'))
    if not base.get('reproducible_today'): sys.exit(f"{a.row} cannot be rerun as recorded: {base.get('why_not')}")
    args = shlex.split(base['command'].split('#')[0])
    tmp = None if a.out else tempfile.TemporaryDirectory(prefix='demo_run_')
    out = Path(a.out or tmp.name)/'demo'
    i = args.index('--out'); args[i + 1] = str(out)
    print('running:', shlex.join(args), flush=True)
    t0 = time.perf_counter(); subprocess.run(args, check=True); secs = time.perf_counter() - t0
    import json
    f = out/'eval'/'results.json'
    add_row(NAME, 'runs', to_row(json.loads((f if f.exists() else out/'results.json').read_text()), base, secs, 'time'))
    if tmp: tmp.cleanup()


if __name__ == '__main__':
    main()
