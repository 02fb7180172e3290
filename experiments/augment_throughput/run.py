"""Run benchmarks/bench_augment.py (loopback server, 200 ms latency, concurrency 1 and 16) and add the run to results.json.

    python experiments/augment_throughput/run.py     # ~20 s, mostly waiting on the server's latency
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged


def parse(out:str) -> dict:
    "The figures bench_augment.py prints: requests/s and fraction of ideal, per path and concurrency."
    lat = re.search(r'latency (\d+) ms', out)
    r = dict(latency_s=int(lat.group(1)) / 1000 if lat else None)
    for what in ('backend', 'pipeline'):
        m = re.search(rf'^{what}\s+([\d.]+) \(\s*([\d.]+)%\)\s+([\d.]+) \(\s*([\d.]+)%\)', out, re.M)
        if not m: raise SystemExit('could not read the benchmark output (format changed?)')
        r[what] = {'1': dict(req_per_s=float(m.group(1)), fraction_of_ideal=round(float(m.group(2)) / 100, 3)),
                   '16': dict(req_per_s=float(m.group(3)), fraction_of_ideal=round(float(m.group(4)) / 100, 3))}
    return r


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    cmd = [sys.executable, 'benchmarks/bench_augment.py', '--latency', '0.2', '--requests', '320']
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/augment_throughput/run.py')
    add_row('augment_throughput', 'runs', dict(id=f"run-{rec['date']}", recorded=rec, command=' '.join(['python'] + cmd[1:]),
                                               machine=machine(), **fig))


if __name__ == '__main__':
    main()
