"""Benchmark: SFT steps/s and peak memory of the `demo` preset, gradient checkpointing on/off x encoder trained/frozen.

    python benchmarks/bench_sft.py                 # 8 measured steps per setting, batch 2
    python benchmarks/bench_sft.py --steps 4 --batch 1

Each setting runs in a fresh subprocess (so peak RSS is its own): build the `demo` model, apply stage `full`
(encoder trained) or `full` + `freeze_encoder`, run TRL's SFTTrainer (via `mu2llm.train.sft.sft_trainer`) on random
volumes of the demo shape with ~60-token reports, time the steps after the first (warm-up), and read
`ru_maxrss`. Prints one table; the ratios against the first row are the figures to compare.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

SETTINGS = [('no checkpointing, encoder trained', False, False), ('checkpointing, encoder trained', True, False),
            ('no checkpointing, encoder frozen', False, True), ('checkpointing, encoder frozen', True, True)]


def child(gc: bool, frozen: bool, steps: int, batch: int):
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    import logging, warnings
    warnings.filterwarnings('ignore')
    logging.getLogger('transformers').setLevel(logging.ERROR)
    import torch
    from transformers import TrainerCallback
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.core.base import set_seed
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.sft import SFTRecipe, set_trainable, sft_trainer, trainable_table
    from mu2llm.model.llm import offline_tokenizer

    tok = offline_tokenizer()
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'demo', num_image_tokens=32)
    set_seed(0)
    model = Mu2LLMForConditionalGeneration(Mu2LLMConfig.preset('demo', tokenizer=tok))
    model = set_trainable(model, 'full', freeze_encoder=frozen, verbose=False)
    shape = tuple(proc.prep.output_shape)
    report = ('There is a 12 mm nodule in the right upper lobe. Small left pleural effusion. Cardiomegaly. '
              'The liver is of low attenuation. No lymphadenopathy.')
    data = [dict(id=str(i), pixel_values=torch.rand(shape), report=report, question=None, answer=None, task='report')
            for i in range(batch * (steps + 1))]
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k): self.t = time.perf_counter()
        def on_step_end(self, *a, **k): times.append(time.perf_counter() - self.t)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    recipe = SFTRecipe.preset_named('demo', gradient_checkpointing=gc, max_steps=steps + 1, per_device_train_batch_size=batch,
                                    logging_steps=1000, save_steps=10_000, learning_rate=1e-4)
    with tempfile.TemporaryDirectory() as d:
        tr = sft_trainer(model, proc, data, recipe, d, callbacks=[Timer()], save_strategy='no')
        tr.train()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trained = sum(t for t, _ in trainable_table(model).values())
    print(json.dumps(dict(steps_per_s=1 / (sum(times[1:]) / len(times[1:])), peak_mb=rss1, before_train_mb=rss0,
                          trainable_m=trained / 1e6)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=8, help='measured steps per setting (after one warm-up step)')
    ap.add_argument('--batch', type=int, default=2, help='per-device batch size')
    ap.add_argument('--child', nargs=2, type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(bool(a.child[0]), bool(a.child[1]), a.steps, a.batch)
    import torch
    print(f'demo preset, batch {a.batch}, {a.steps} timed steps, torch {torch.__version__}, {os.cpu_count()} CPU(s), '
          f'{torch.get_num_threads()} torch threads')
    rows = []
    for name, gc, frozen in SETTINGS:
        r = subprocess.run([sys.executable, __file__, '--steps', str(a.steps), '--batch', str(a.batch),
                            '--child', str(int(gc)), str(int(frozen))], capture_output=True, text=True)
        if r.returncode: sys.exit(f'{name} failed:\n{r.stderr[-3000:]}')
        rows.append((name, json.loads(r.stdout.strip().splitlines()[-1])))
    base = rows[0][1]
    print("| setting | trainable (M) | steps/s | x speed | peak RSS (MB) | growth during training (MB) |")
    print('|---|---|---|---|---|---|')
    for name, d in rows:
        print(f"| {name} | {d['trainable_m']:.2f} | {d['steps_per_s']:.2f} | {d['steps_per_s'] / base['steps_per_s']:.2f} | "
              f"{d['peak_mb']:.0f} | {d['peak_mb'] - d['before_train_mb']:.0f} |")


if __name__ == '__main__':
    main()
