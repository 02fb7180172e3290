"""Run benchmarks/bench_preprocess.py (3 volumes, best of 2) and add the run to results.json.

    python experiments/preprocess_vs_monai/run.py             # gzip through isal when installed
    python experiments/preprocess_vs_monai/run.py --no-isal   # plain zlib
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged

F = r'([0-9.]+(?:e[-+]?\d+)?)'


def parse(out:str) -> dict:
    "The figures bench_preprocess.py prints."
    g = lambda pat: re.search(pat, out)
    monai, ours = g(r'MONAI \(.*\): ' + F + ' s/volume'), g(r'mu2llm read_ct \+ preprocess_ct \(.*gzip via (\w+)\): ' + F + ' s/volume')
    sp, diff, diff0 = g(r'speed-up: ' + F + 'x'), g(r'with spacing step: .* max ' + F + ', mean ' + F + r', 99\.9th pct ' + F), g(r'without spacing step: .* max ' + F)
    if not (monai and ours and sp): raise SystemExit('could not read the benchmark output (format changed?)')
    m = float(monai.group(1))
    r = dict(gzip=ours.group(1), monai_s=[m, m], ours_s=float(ours.group(2)), speedup=float(sp.group(1)))
    if diff: r['with_spacing'] = dict(max_abs_diff=float(diff.group(1)), mean_abs_diff=float(diff.group(2)), p999_abs_diff=float(diff.group(3)))
    if diff0: r['without_spacing'] = dict(max_abs_diff=float(diff0.group(1)))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--no-isal', action='store_true', help='decompress with zlib even when isal is installed')
    a = ap.parse_args()
    cmd = [sys.executable, 'benchmarks/bench_preprocess.py', '--n', '3', '--reps', '2'] + (['--no-isal'] if a.no_isal else [])
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/preprocess_vs_monai/run.py')
    add_row('preprocess_vs_monai', 'runs', dict(id=f"{fig['gzip']}-{rec['date']}", recorded=rec, command=' '.join(['python'] + cmd[1:]),
                                                machine=machine(), n_volumes=3, shape=[512, 512, 120], **fig))


if __name__ == '__main__':
    main()
