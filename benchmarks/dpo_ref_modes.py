"""Benchmark: DPO step time and peak memory with a frozen reference copy vs precomputed reference log-probs.

    python benchmarks/dpo_ref_modes.py                    # demo preset, demo recipe batch (4 pairs = 8 rows)
    python benchmarks/dpo_ref_modes.py --steps 4 --warmup 1

Each mode runs in a fresh subprocess, so its peak memory is its own: build the random-initialised `demo` model
(stage `full`), random volumes of the demo shape with ~40-token chosen / rejected reports, then `mu2llm.dpo`'s
`dpo_trainer` with the `demo` DPO recipe (`ref_mode` copy or precomputed). Step time: median over the timed steps
after the warm-up steps (a `TrainerCallback` around each optimizer step). Peak memory: `ru_maxrss` of the child
process (the RSS high-water mark, so it includes Python + torch + TRL), printed in full and as the growth over the
high-water mark reached just before the trainer (and with it the frozen copy) is built. The precompute pass
(`precomputed` only) is timed separately: it runs once before training and is not part of the step time.
"""
import argparse, json, os, resource, statistics, subprocess, sys, tempfile, time

MODES = ('copy', 'precomputed')


def child(mode: str, steps: int, warmup: int, batch: int):
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    import logging, warnings
    warnings.filterwarnings('ignore')
    logging.getLogger('transformers').setLevel(logging.ERROR)
    import torch
    from transformers import TrainerCallback
    from mu2llm.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.core import set_seed
    from mu2llm.dpo import DPORecipe, PairDataset, dpo_trainer
    from mu2llm.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.sft import apply_stage
    from mu2llm.test_utils import offline_tokenizer

    tok = offline_tokenizer()
    cfg = Mu2LLMConfig.preset('demo', tokenizer=tok)
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'demo', num_image_tokens=cfg.tokenizer_config.n_queries)
    set_seed(0)
    model = apply_stage(Mu2LLMForConditionalGeneration(cfg), 'full', verbose=False)
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
                          params_m=sum(p.numel() for p in model.parameters()) / 1e6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=6, help='timed steps per mode (median reported)')
    ap.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    ap.add_argument('--batch', type=int, default=None, help='pairs per step (default: the demo DPO recipe, 4)')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.batch is None:
        from mu2llm.dpo import DPORecipe
        a.batch = DPORecipe.preset_named('demo').per_device_train_batch_size
    if a.child: return child(a.child, a.steps, a.warmup, a.batch)
    import torch
    print(f'demo preset, batch {a.batch} pairs ({2 * a.batch} rows), median of {a.steps} steps after {a.warmup} warm-up, '
          f'torch {torch.__version__}, {os.cpu_count()} CPU(s), {torch.get_num_threads()} torch threads')
    res = {}
    for mode in MODES:
        r = subprocess.run([sys.executable, __file__, '--steps', str(a.steps), '--warmup', str(a.warmup),
                            '--batch', str(a.batch), '--child', mode], capture_output=True, text=True)
        if r.returncode: sys.exit(f'{mode} failed:\n{r.stderr[-3000:]}')
        res[mode] = json.loads(r.stdout.strip().splitlines()[-1])
    c, p = res['copy'], res['precomputed']
    print(f"model {c['params_m']:.1f} M parameters; {p['n_pairs']} pairs")
    print('| reference | step time (s, median) | peak RSS (MB) | RSS growth from trainer build on (MB) | one-off precompute (s) |')
    print('|---|---|---|---|---|')
    for m in MODES:
        d = res[m]
        print(f"| {m} | {d['step_s']:.3f} | {d['peak_mb']:.0f} | {d['peak_mb'] - d['before_mb']:.0f} | "
              f"{d['precompute_s']:.2f} ({d['precompute_s'] / d['n_pairs']:.3f}/pair) |" if m == 'precomputed' else
              f"| {m} | {d['step_s']:.3f} | {d['peak_mb']:.0f} | {d['peak_mb'] - d['before_mb']:.0f} | - |")
    gc, gp = c['peak_mb'] - c['before_mb'], p['peak_mb'] - p['before_mb']
    print(f"precomputed / copy: step time {p['step_s'] / c['step_s']:.2f}x, peak RSS {p['peak_mb'] / c['peak_mb']:.2f}x, "
          f"RSS growth {gp / max(gc, 1e-9):.2f}x   (target <= 0.70x time and memory)")


if __name__ == '__main__':
    main()
