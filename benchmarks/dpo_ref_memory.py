"""Benchmark: the memory a precomputed DPO reference saves, on a model whose weights dominate the process.

    python benchmarks/dpo_ref_memory.py                       # 8 layers of Llama-3.2-1B's shape, 2 rounds (~8 min on 2 cores)
    python benchmarks/dpo_ref_memory.py --layers 16 --rounds 1

The target (issue 16): with ref_mode='precomputed' the peak memory is lower than with a frozen reference copy by at
least 90 % of the reference weights' bytes, and a step takes <= 0.7x the time. `dpo_ref_modes.py` measures the demo
model, whose ~10 M weights are lost in the ~1 GB that Python, torch and TRL hold, so its peak-RSS ratio says nothing
about the copy. Here the LLM has Llama-3.2-1B's width (hidden 2048, MLP 8192, 32 heads, 8 KV heads) with `--layers`
of its 16 layers (8 by default: ~0.5 B weights, ~2 GB in fp32, which fits next to other jobs in this machine's RAM),
under the demo's ViT and mu2 Tokenizer (ViT frozen, as in the demo's DPO). Trained: projector, mu2 Tokenizer and the
LLM's last layer, with AdamW; the other LLM layers are frozen, the path the image takes (gradients still flow through
them to the tokenizer). The reference copy is the whole model in either case, so what the copy costs, and what the
precomputed mode saves, does not depend on how much of the policy trains: freezing most of the LLM only keeps the
optimizer state (the same in both modes) and the step time small enough for 2 CPU cores. A fully trained LLM would
add 3 x its bytes of gradients and Adam moments to both peaks, and make the backward pass, which both modes run,
about twice as long, so the time ratio would move towards 3/4 (the reference forward is a third of a
forward + backward over the same rows): the time target is met here *because* most of the LLM is frozen.

Each mode runs in a fresh subprocess, alternating over `--rounds`; the peak is the child's `ru_maxrss`. Printed: the
reference weights' bytes, both peaks, the saving as a fraction of the weight bytes, step times and their ratio; the
last line is the same as JSON (`RESULT {...}`) for experiments/dpo_ref_memory/run.py.
"""
import argparse, json, os, resource, statistics, tempfile, time

from _alternate import alternate_modes

MODES = ('copy', 'precomputed')


def child(mode: str, layers: int, steps: int, warmup: int):
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    import logging, warnings
    warnings.filterwarnings('ignore')
    logging.getLogger('transformers').setLevel(logging.ERROR)
    import torch
    from transformers import TrainerCallback
    from mu2llm.core.base import set_seed
    from mu2llm.core.presets import LLAMA_3_2_1B
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.llm import offline_tokenizer
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.dpo import DPORecipe, PairDataset, dpo_trainer
    from mu2llm.train.sft import set_trainable

    tok = offline_tokenizer()
    shape = {k: LLAMA_3_2_1B[k] for k in ('hidden_size', 'intermediate_size', 'num_attention_heads', 'num_key_value_heads', 'head_dim')}
    cfg = Mu2LLMConfig.preset('demo', tokenizer=tok, llm_shape=dict(shape, num_hidden_layers=layers))
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'demo', num_image_tokens=cfg.tokenizer_config.n_queries)
    set_seed(0)
    model = set_trainable(Mu2LLMForConditionalGeneration(cfg), 'full', freeze_encoder=True, verbose=False)
    last = f'layers.{layers - 1}.'
    for n, p in model.named_parameters():
        if 'language_model' in n and last not in n: p.requires_grad_(False)     # the LLM below its last layer is frozen
    weight_bytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    good = 'There is a 12 mm nodule in the right upper lobe. Small left pleural effusion. Cardiomegaly. No lymphadenopathy.'
    bad = 'The lungs are clear. No pleural effusion. The heart is normal in size. No nodule. No lymphadenopathy.'
    n = steps + warmup                                                          # one pair per step
    vols = [dict(id=str(i), pixel_values=torch.rand(tuple(proc.prep.output_shape))) for i in range(n)]
    pairs = PairDataset([dict(id=str(i), chosen=good, rejected=bad, question=None) for i in range(n)], vols)
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k): self.t = time.perf_counter()
        def on_step_end(self, *a, **k): times.append(time.perf_counter() - self.t)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rec = DPORecipe.preset_named('demo', ref_mode=mode, max_steps=n, per_device_train_batch_size=1, precompute_batch_size=1,
                                 logging_steps=1000, save_steps=10_000, rpo_alpha=None)
    with tempfile.TemporaryDirectory() as d:
        tr = dpo_trainer(model, proc, pairs, rec, d, callbacks=[Timer()], save_strategy='no')
        tr.train()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(step_s=statistics.median(times[warmup:]), peak_bytes=peak, before_bytes=rss0, weight_bytes=weight_bytes,
                          precompute_s=tr.precompute_seconds, n_pairs=n, params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                          trainable_m=sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--layers', type=int, default=8, help="LLM layers of Llama-3.2-1B's shape (it has 16)")
    ap.add_argument('--steps', type=int, default=3, help='timed steps per mode and round (median reported)')
    ap.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    ap.add_argument('--rounds', type=int, default=2, help='rounds of both modes, alternating')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child, a.layers, a.steps, a.warmup)
    import torch
    t0 = time.perf_counter()
    print(f"LLM: Llama-3.2-1B's width with {a.layers} of its 16 layers; demo ViT (frozen) and mu2 Tokenizer; trained: projector, "
          f"tokenizer, the LLM's last layer (AdamW, fp32); 1 pair per step; median of {a.steps} steps after {a.warmup} warm-up; "
          f"{a.rounds} round(s); torch {torch.__version__}, {os.cpu_count()} CPU(s), {torch.get_num_threads()} torch threads")
    show = lambda k, mode, d: print(f"  round {k + 1} {mode:<11} step {d['step_s']:.2f} s  peak {d['peak_bytes'] / 2**30:.2f} GiB", flush=True)
    runs = alternate_modes(__file__, ['--layers', a.layers, '--steps', a.steps, '--warmup', a.warmup], MODES, a.rounds, show)
    c0 = runs['copy'][0]
    W = c0['weight_bytes']
    print(f"model {c0['params_m']:.1f} M parameters ({c0['trainable_m']:.1f} M trainable); reference weights {W / 2**30:.3f} GiB ({W} bytes)")
    print('| round | reference | step time (s, median) | peak RSS (GiB) | one-off precompute (s) |')
    print('|---|---|---|---|---|')
    for k in range(a.rounds):
        for m in MODES:
            d = runs[m][k]
            print(f"| {k + 1} | {m} | {d['step_s']:.2f} | {d['peak_bytes'] / 2**30:.3f} | "
                  f"{'%.1f' % d['precompute_s'] if m == 'precomputed' else '-'} |")
    saving = [(c['peak_bytes'] - p['peak_bytes']) / W for c, p in zip(runs['copy'], runs['precomputed'])]
    ratio = [p['step_s'] / c['step_s'] for c, p in zip(runs['copy'], runs['precomputed'])]
    med = lambda xs: statistics.median(xs)
    print(f"peak saving (copy - precomputed) / reference weight bytes: {med(saving):.3f} (rounds: {', '.join(f'{x:.3f}' for x in saving)})"
          f"   target >= 0.90: {'met' if min(saving) >= 0.9 else 'NOT met'}")
    print(f"step time precomputed / copy: {med(ratio):.3f}x (rounds: {', '.join(f'{x:.3f}' for x in ratio)})"
          f"   target <= 0.70: {'met' if med(ratio) <= 0.7 else 'NOT met'}")
    print(f'wall time {time.perf_counter() - t0:.0f} s')
    print('RESULT ' + json.dumps(dict(layers=a.layers, steps=a.steps, warmup=a.warmup, rounds=a.rounds, weight_bytes=W,
                                      params_m=round(c0['params_m'], 1), trainable_m=round(c0['trainable_m'], 1),
                                      runs={m: [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()
                                                 if k in ('step_s', 'peak_bytes', 'before_bytes', 'precompute_s')} for d in runs[m]] for m in MODES},
                                      saving_fraction=dict(median=round(med(saving), 4), rounds=[round(x, 4) for x in saving]),
                                      time_ratio=dict(median=round(med(ratio), 4), rounds=[round(x, 4) for x in ratio]),
                                      wall_s=round(time.perf_counter() - t0))))


if __name__ == '__main__':
    main()
