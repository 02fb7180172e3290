"""Import and `--help` time against `import torch`, side by side in one run (medians of N fresh interpreters each).

    python benchmarks/bench_import.py            # 5 rounds; prints every median and the ratios to `import torch`
    python benchmarks/bench_import.py --n 9

The commands are timed round-robin (torch, mu2llm, each CLI's --help, then again) so a busy machine slows all of them
alike. Targets (issue 14): `import mu2llm` <= 1.3x and each `--help` <= 1.5x `python -c "import torch"`.
"""
import argparse, shutil, statistics, subprocess, sys, time

CLIS = ('phantoms', 'manifest', 'prep', 'train', 'prefs', 'generate', 'eval', 'augment', 'demo', 'ablate', 'view')


def main(n: int = 5):
    cmds = {'import torch': [sys.executable, '-c', 'import torch'], 'import mu2llm': [sys.executable, '-c', 'import mu2llm']}
    for c in CLIS:
        exe = shutil.which(f'mu2llm_{c}')
        cmds[f'mu2llm_{c} --help'] = [exe, '--help'] if exe else [sys.executable, '-m', 'mu2llm.cli', c, '--help']
    times = {k: [] for k in cmds}
    for _ in range(n):
        for k, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times['import torch'])
    print(f'{"command":<26}{"median s":>10}{"x torch":>9}  target')
    for k, ts in times.items():
        med = statistics.median(ts)
        target = '' if k == 'import torch' else ('<= 1.3' if k == 'import mu2llm' else '<= 1.5')
        print(f'{k:<26}{med:>10.3f}{med / base:>9.2f}  {target}')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=5, help='fresh interpreters per command')
    main(ap.parse_args().n)
