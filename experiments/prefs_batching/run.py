"""Run benchmarks/bench_prefs_batching.py on a finished demo run (G = 1, 4, 8, 16; 32 cases) and add the run to results.json.

    python experiments/prefs_batching/run.py --run demo_out    # a `mu2llm_demo --out demo_out` folder (its SFT model and cache)

Needs a trained SFT checkpoint (see the benchmark's docstring); `python experiments/demo_runs/run.py defaults-2026-11-29 --out X`
makes one (X/demo).
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged


def parse(out:str) -> dict:
    "The table bench_prefs_batching.py prints: s per case, ratio and mean draft words per batch_cases value."
    rows = re.findall(r'^\| (\d+) \| ([\d.]+) \| ([\d.]+)x \| ([\d.]+) \|$', out, re.M)
    if not rows: raise SystemExit('could not read the benchmark output (format changed?)')
    groups = {g: dict(s_per_case=float(s), ratio=float(r), mean_draft_words=float(w)) for g, s, r, w in rows}
    groups[rows[0][0]].pop('ratio')
    cases = re.search(r'^(\d+) training cases', out, re.M)
    return dict(cases=int(cases.group(1)) if cases else None, groups=groups)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', required=True, help='a finished mu2llm_demo output folder')
    ap.add_argument('--cases', type=int, default=32)
    a = ap.parse_args()
    cmd = [sys.executable, 'benchmarks/bench_prefs_batching.py', '--run', a.run, '--cases', str(a.cases), '--groups', '1,4,8,16']
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/prefs_batching/run.py')
    add_row('prefs_batching', 'runs', dict(id=f"bench-{rec['date']}", recorded=rec, command=' '.join(['python'] + cmd[1:]),
                                           machine=machine(), **fig))


if __name__ == '__main__':
    main()
