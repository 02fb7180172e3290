"""Run benchmarks/bench_tokenizer.py (all four cases, its defaults unless given) and add the run to results.json.

    python experiments/tokenizer_cost/run.py              # ~3-4 min on 2 cores
    python experiments/tokenizer_cost/run.py --reps 1     # quicker, noisier
"""
import argparse, json, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged


def to_row(res:dict, command:str) -> dict:
    "A results-file row from bench_tokenizer.py's --json output."
    rec = recorded_now('experiments/tokenizer_cost/run.py')
    keys = dict(params_M='params_m', fwd_s='fwd_s', fwd_bwd_s='fwd_bwd_s', fwd_peak_MiB='fwd_peak_mib', fwd_bwd_peak_MiB='fwd_bwd_peak_mib')
    configs = {c: {keys[k]: round(v, 3 if k.endswith('_s') else 1) for k, v in r.items() if k in keys} for c, r in res.items()}
    row = dict(id=f"run-{rec['date']}", recorded=rec, command=command, machine=machine(), configs=configs)
    if 'official' in res and 'ours' in res:
        row['sub_fwd_s'] = {n: [round(res['official']['sub_s'].get(n, 0.), 3), round(res['ours']['sub_s'].get(n, 0.), 3)] for n in res['ours']['sub_s']}
    if 'llm' in res:
        L = res['llm']['fwd_s']
        if 'ours' in res: row['ours_over_llm'] = round(res['ours']['fwd_s'] / L, 3)
        if 'official' in res: row['official_over_llm'] = round(res['official']['fwd_s'] / L, 3)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reps', type=int, default=3, help='timed repetitions after one warm-up (bench_tokenizer.py --reps)')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, 'benchmarks/bench_tokenizer.py', '--reps', str(a.reps), '--json', f'{d}/res.json']
        run_logged(cmd)
        res = json.loads(Path(d, 'res.json').read_text())
    add_row('tokenizer_cost', 'runs', to_row(res, f'python benchmarks/bench_tokenizer.py --reps {a.reps}'))


if __name__ == '__main__':
    main()
