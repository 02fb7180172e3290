"""Run benchmarks/bench_judges.py (rule judge, 1,000 real report pairs, one core) and add the run to results.json.

    python experiments/judge_speed/run.py     # seconds; needs the shared data
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged


def parse(out:str) -> dict:
    "The figures bench_judges.py prints."
    m = re.search(r'rule judge, ([\d,]+) real pairs, 1 core: cold ([\d,]+) pairs/s \(([\d.]+) s\), warm ([\d,]+) pairs/s', out)
    if not m: raise SystemExit('could not read the benchmark output (format changed?)')
    n = lambda s: int(s.replace(',', ''))
    return dict(n_pairs=n(m.group(1)), cold_pairs_per_s=n(m.group(2)), warm_pairs_per_s=n(m.group(4)))


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    cmd = [sys.executable, 'benchmarks/bench_judges.py']
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/judge_speed/run.py')
    add_row('judge_speed', 'runs', dict(id=f"cold-{rec['date']}", recorded=rec, command='python benchmarks/bench_judges.py', machine=machine(), **fig))


if __name__ == '__main__':
    main()
