"""Shared by the benchmarks that compare modes side by side: each mode in a fresh process, the modes alternating."""
import json, subprocess, sys


def alternate_modes(script, # the benchmark script; run as `script ARGS --child MODE`, its last stdout line is JSON
                    args:list, # its command-line arguments (strings)
                    modes:tuple, # the modes compared
                    rounds:int, # rounds of all modes, alternating (a drift in machine speed hits every mode)
                    show=None # called as show(round, mode, result) after each run, to print progress
                   ) -> dict:
    "{mode: [the child's JSON result per round]}; a failed child stops the benchmark with its stderr."
    runs = {m: [] for m in modes}
    for k in range(rounds):
        for mode in modes:
            r = subprocess.run([sys.executable, str(script), *map(str, args), '--child', mode], capture_output=True, text=True)
            if r.returncode: sys.exit(f'{mode} failed:\n{r.stderr[-3000:]}')
            runs[mode].append(json.loads(r.stdout.strip().splitlines()[-1]))
            if show: show(k, mode, runs[mode][-1])
    return runs
