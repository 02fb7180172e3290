"""Benchmark: DPO step time and peak memory with a frozen reference copy vs precomputed reference log-probs.

    python benchmarks/dpo_ref_modes.py                    # demo preset and DPO setup, 3 rounds of both modes
    python benchmarks/dpo_ref_modes.py --steps 4 --warmup 1 --rounds 1
    python benchmarks/dpo_ref_modes.py --train_encoder    # the ViT trains too (the demo keeps it frozen)

Each mode runs in a fresh subprocess, so its peak memory is its own: build the random-initialised `demo` model
(stage `full`, the ViT frozen as in the demo's DPO unless `--train_encoder`), random volumes of the demo shape with ~40-token chosen / rejected reports, then `mu2llm.train.dpo`'s
`dpo_trainer` with the `demo` DPO recipe (`ref_mode` copy or precomputed). Step time: median over the timed steps
after the warm-up steps (a `TrainerCallback` around each optimizer step). Peak memory: `ru_maxrss` of the child
process (the RSS high-water mark, so it includes Python + torch + TRL), printed in full and as the growth over the
high-water mark reached just before the trainer (and with it the frozen copy) is built. The precompute pass
(`precomputed` only) is timed separately: it runs once before training and is not part of the step time.
The two modes alternate for `--rounds` rounds (copy, precomputed, copy, ...), so a drift in machine speed hits both;
the ratio printed is the median over rounds of each round's precomputed / copy ratio.
"""
import argparse, json, os, resource, statistics, tempfile, time

from _alternate import alternate_modes

MODES = ('copy', 'precomputed')


def child(mode: str, steps: int, warmup: int, batch: int, train_encoder: bool):
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    import logging, warnings
    warnings.filterwarnings('ignore')
    logging.getLogger('transformers').setLevel(logging.ERROR)
    import torch
    from transformers import TrainerCallback
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.core.base import set_seed
    from mu2llm.train.dpo import DPORecipe, PairDataset, dpo_trainer
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.sft import set_trainable
    from mu2llm.model.llm import offline_tokenizer

    tok = offline_tokenizer()
    cfg = Mu2LLMConfig.preset('demo', tokenizer=tok)
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'demo', num_image_tokens=cfg.tokenizer_config.n_queries)
    set_seed(0)
    model = set_trainable(Mu2LLMForConditionalGeneration(cfg), 'full', freeze_encoder=not train_encoder, verbose=False)
    shape = tuple(proc.prep.output_shape)
    good = 'There is a 12 mm nodule in the right upper lobe. Small left pleural effusion. Cardiomegaly. No lymphadenopathy.'
    bad = 'The lungs are clear. No pleural effusion. The heart is normal in size. No nodule. No lymphadenopathy.'
    n = batch * (steps + warmup)
    vols = [dict(id=str(i), pixel_values=torch.rand(shape)) for i in range(n)]
    pairs = PairDataset([dict(id=str(i), chosen=good, rejected=bad, question=None) for i in range(n)], vols)
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k): self.t = time.perf_counter()
        def on_step_end(self, *a, **k): times.append(time.perf_counter() - self.t)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rec = DPORecipe.preset_named('demo', ref_mode=mode, max_steps=steps + warmup, per_device_train_batch_size=batch,
                                 logging_steps=1000, save_steps=10_000)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        tr = dpo_trainer(model, proc, pairs, rec, d, callbacks=[Timer()], save_strategy='no')
        build = time.perf_counter() - t0
        tr.train()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(step_s=statistics.median(times[warmup:]), peak_mb=rss1, before_mb=rss0,
                          precompute_s=tr.precompute_seconds, build_s=build, n_pairs=n,
                          params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                          trainable_m=sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=12, help='timed steps per mode and round (median reported)')
    ap.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    ap.add_argument('--rounds', type=int, default=3, help='rounds of both modes, alternating')
    ap.add_argument('--batch', type=int, default=None, help='pairs per step (default: the demo DPO recipe, 4)')
    ap.add_argument('--train_encoder', action='store_true', help='train the ViT too (the demo DPO keeps it frozen)')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.batch is None:
        from mu2llm.train.dpo import DPORecipe
        a.batch = DPORecipe.preset_named('demo').per_device_train_batch_size
    if a.child: return child(a.child, a.steps, a.warmup, a.batch, a.train_encoder)
    import torch
    print(f"demo preset, ViT {'trained' if a.train_encoder else 'frozen (as in the demo DPO)'}, batch {a.batch} pairs "
          f"({2 * a.batch} rows), median of {a.steps} steps after {a.warmup} warm-up, {a.rounds} round(s), "
          f'torch {torch.__version__}, {os.cpu_count()} CPU(s), {torch.get_num_threads()} torch threads')
    runs = alternate_modes(__file__, ['--steps', a.steps, '--warmup', a.warmup, '--batch', a.batch] + (['--train_encoder'] if a.train_encoder else []),
                           MODES, a.rounds)
    c0 = runs['copy'][0]
    print(f"model {c0['params_m']:.1f} M parameters ({c0['trainable_m']:.1f} M trainable); {c0['n_pairs']} pairs per run")
    print('| round | reference | step time (s, median) | peak RSS (MB) | RSS growth from trainer build on (MB) | one-off precompute (s) |')
    print('|---|---|---|---|---|---|')
    for k in range(a.rounds):
        for m in MODES:
            d = runs[m][k]
            pre = f"{d['precompute_s']:.2f} ({d['precompute_s'] / d['n_pairs']:.3f}/pair)" if m == 'precomputed' else '-'
            print(f"| {k + 1} | {m} | {d['step_s']:.3f} | {d['peak_mb']:.0f} | {d['peak_mb'] - d['before_mb']:.0f} | {pre} |")
    ratio = lambda key: [p[key] / c[key] for c, p in zip(runs['copy'], runs['precomputed'])]
    growth = [(p['peak_mb'] - p['before_mb']) / max(c['peak_mb'] - c['before_mb'], 1e-9) for c, p in zip(runs['copy'], runs['precomputed'])]
    fmt = lambda xs: f"{statistics.median(xs):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in xs)})"
    print(f"precomputed / copy: step time {fmt(ratio('step_s'))}; peak RSS {fmt(ratio('peak_mb'))}; "
          f"RSS growth {fmt(growth)}   (target <= 0.70x time and memory)")


if __name__ == '__main__':
    main()
