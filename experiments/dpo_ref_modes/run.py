"""Run benchmarks/dpo_ref_modes.py (the demo's DPO setup, 3 alternating rounds) and add the run to results.json.

    python experiments/dpo_ref_modes/run.py                 # the recorded run 1: 12 timed steps per mode and round (~2 min)
    python experiments/dpo_ref_modes/run.py --steps 24      # the recorded run 2
    python experiments/dpo_ref_modes/run.py --train_encoder # the ViT trains too (the demo keeps it frozen)
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged


def parse(out:str) -> dict:
    "Per-round figures of both modes and the ratio line dpo_ref_modes.py prints."
    rounds = {}
    for k, mode, step, peak, growth, pre in re.findall(r'^\| (\d+) \| (copy|precomputed) \| ([\d.]+) \| (\d+) \| (-?\d+) \| ([^|]+) \|$', out, re.M):
        d = dict(step_s=float(step), peak_mb=int(peak), growth_mb=int(growth))
        m = re.match(r'\s*([\d.]+) \(', pre)
        if m: d['precompute_s'] = float(m.group(1))
        rounds.setdefault(int(k), {})[mode] = d
    ratio = lambda name: re.search(name + r' ([\d.]+)x \(rounds: ([\d., ]+)\)', out)
    t, p, g = ratio('step time'), ratio('peak RSS'), ratio('RSS growth')
    model = re.search(r'model ([\d.]+) M parameters \(([\d.]+) M trainable\); (\d+) pairs per run', out)
    if not (rounds and t and p and g): raise SystemExit('could not read the benchmark output (format changed?)')
    rs = lambda m: [float(x) for x in m.group(2).split(',')]
    r = dict(rounds=[rounds[k] for k in sorted(rounds)], time_ratio=dict(median=float(t.group(1)), rounds=rs(t)),
             peak_rss_ratio=float(p.group(1)), rss_growth_ratio=float(g.group(1)))
    if model:
        r['model'] = dict(params_m=float(model.group(1)), trainable_m=float(model.group(2)))
        for rd in r['rounds']:
            if 'precompute_s' in rd.get('precomputed', {}): rd['precomputed']['precompute_pairs'] = int(model.group(3))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=12); ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3); ap.add_argument('--train_encoder', action='store_true')
    a = ap.parse_args()
    cmd = [sys.executable, 'benchmarks/dpo_ref_modes.py', '--steps', str(a.steps), '--warmup', str(a.warmup), '--rounds', str(a.rounds)]
    cmd += ['--train_encoder'] if a.train_encoder else []
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/dpo_ref_modes/run.py')
    settings = dict(preset='demo', stage='full', encoder='trained' if a.train_encoder else 'frozen (as in the demo DPO)',
                    steps=a.steps, warmup=a.warmup, rounds=a.rounds, **fig.pop('model', {}))
    add_row('dpo_ref_modes', 'runs', dict(id=f"demo-dpo-setup-{rec['date']}", recorded=rec, series='rerun', valid=True,
                                          command=' '.join(['python'] + cmd[1:]), settings=settings, machine=machine(), **fig))


if __name__ == '__main__':
    main()
