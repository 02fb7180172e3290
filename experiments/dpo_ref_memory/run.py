"""Run benchmarks/dpo_ref_memory.py once and record its figures in results.json (a new row of table `runs`).

    python experiments/dpo_ref_memory/run.py                  # 8 layers of Llama-3.2-1B's shape, 2 rounds (~8 min on 2 cores)
    python experiments/dpo_ref_memory/run.py --layers 16 --rounds 1
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import EXP, add_row, check, machine, path, recorded_now, run_logged, save

NAME = 'dpo_ref_memory'
HEAD = dict(
    experiment=NAME,
    question='With a model whose weights dominate the process, is the peak memory of DPO with precomputed reference log-probs lower '
             "than with a frozen reference copy by at least 90 % of the reference weights' bytes, and is a step <= 0.7x the time?",
    units=dict(weight_bytes="bytes of the reference copy's parameters and buffers (the whole model, fp32)",
               peak_bytes='peak RSS of the mode\'s process (ru_maxrss), bytes', before_bytes='RSS high-water mark before the trainer is built, bytes',
               step_s='s per optimizer step, median of the timed steps', precompute_s='s of the one-off precompute pass',
               saving_fraction='(copy peak - precomputed peak) / weight_bytes: median over rounds and each round',
               time_ratio='precomputed / copy step time: median over rounds and each round', params_m='parameters, millions',
               trainable_m='trainable parameters, millions', wall_s='s of the whole benchmark run'),
    notes=["benchmarks/dpo_ref_memory.py: the LLM has Llama-3.2-1B's width (hidden 2048, MLP 8192, 32 heads, 8 KV heads) with fewer "
           "layers, under the demo ViT (frozen) and mu2 Tokenizer; trained: projector, tokenizer and the LLM's last layer (AdamW, fp32); "
           '1 pair per step; each mode in a fresh process, alternating over rounds.'],
    tables=dict(runs=[]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--layers', type=int, default=8); ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=1); ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--note', default='', help='what else ran on the machine meanwhile')
    a = ap.parse_args()
    cmd = [sys.executable, 'benchmarks/dpo_ref_memory.py', '--layers', a.layers, '--steps', a.steps, '--warmup', a.warmup, '--rounds', a.rounds]
    out = run_logged(cmd, log=EXP/NAME/'last_run.txt')
    res = json.loads(next(l for l in out.splitlines() if l.startswith('RESULT '))[len('RESULT '):])
    if not path(NAME).exists(): check(HEAD, NAME); save(NAME, HEAD)
    rec = recorded_now('experiments/dpo_ref_memory/run.py')
    add_row(NAME, 'runs', dict(id=f"llama1b-width-{a.layers}layers-{rec['date']}", recorded=rec,
                               command=' '.join(['python'] + [str(c) for c in cmd[1:]]), machine=machine() + (f'; {a.note}' if a.note else ''),
                               **res))


if __name__ == '__main__':
    main()
