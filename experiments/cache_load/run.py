"""Run benchmarks/bench_cache.py (paper config, 3 volumes of 512x512x120) and add the run to results.json.

    python experiments/cache_load/run.py
"""
import argparse, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged

F = r'([0-9.]+)'


def parse(out:str) -> dict:
    "The figures bench_cache.py prints."
    g = lambda pat: re.search(pat, out)
    head, raw, cached, fmt = (g(r'config=(\S+) .*volumes=(\d+) of (\d+)x(\d+)x(\d+).*entry ' + F + ' MiB'), g(r'raw load .*: ' + F + ' s/volume'),
                              g(r'cached load .*: ' + F + r' s/volume\s+ratio raw/cached = ' + F + 'x'),
                              g(r'entry format: npy\+mmap ' + F + ' s, safetensors ' + F + ' s'))
    if not (head and raw and cached): raise SystemExit('could not read the benchmark output (format changed?)')
    r = dict(config=head.group(1), n_volumes=int(head.group(2)), shape=[int(head.group(i)) for i in (3, 4, 5)], entry_mib=float(head.group(6)),
             raw_s=float(raw.group(1)), cached_s=float(cached.group(1)), ratio=float(cached.group(2)))
    if fmt: r.update(npy_s=float(fmt.group(1)), safetensors_s=float(fmt.group(2)))
    return r


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    cmd = [sys.executable, 'benchmarks/bench_cache.py', '--config', 'paper', '--n', '3', '--z', '120']
    fig = parse(run_logged(cmd))
    rec = recorded_now('experiments/cache_load/run.py')
    add_row('cache_load', 'runs', dict(id=f"{fig['config']}-{rec['date']}", recorded=rec, command=' '.join(['python'] + cmd[1:]),
                                       machine=machine(), **fig))


if __name__ == '__main__':
    main()
