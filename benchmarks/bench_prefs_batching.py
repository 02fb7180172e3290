"""Preference sampling speed: one `generate` call per case vs groups of cases (`sample_candidates(batch_cases=G)`).

    python benchmarks/bench_prefs_batching.py --run demo_out            # a finished `mu2llm_demo --out demo_out`
    python benchmarks/bench_prefs_batching.py --checkpoint runs/sft --manifest runs/cache/manifest.jsonl --cases 32

Needs a trained SFT checkpoint: a random-weight model never stops early, so its drafts all run to
`--max_new_tokens` and say nothing about the real draft lengths. Each setting samples the same first `--cases`
training cases (8 drafts each, T 1.0, top-p 0.9) into a fresh store, one after the other in this process, and prints
seconds per case and the ratio to `batch_cases=1`, with the mean draft length in words (batched drafts are seeded per
group, so they are other drafts of the same distribution, not the same drafts).
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', help='a mu2llm_demo output folder (uses RUN/model and RUN/cache/manifest.jsonl)')
    ap.add_argument('--checkpoint', help='SFT checkpoint folder')
    ap.add_argument('--manifest', help='prepared manifest (its folder is the cache)')
    ap.add_argument('--cases', type=int, default=32, help='training cases sampled per setting')
    ap.add_argument('--groups', default='1,4,8,16', help='batch_cases values to time (comma-separated)')
    ap.add_argument('--max_new_tokens', type=int, default=160, help='longest draft (the demo uses 160)')
    a = ap.parse_args()
    if a.run: a.checkpoint, a.manifest = a.checkpoint or Path(a.run)/'model', a.manifest or Path(a.run)/'cache'/'manifest.jsonl'
    if not (a.checkpoint and a.manifest): ap.error('give --run, or --checkpoint and --manifest')
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    import torch
    from mu2llm.model.generation import load_checkpoint
    from mu2llm.train.prefs import manifest_items, sample_candidates
    model, proc = load_checkpoint(a.checkpoint, device='cpu')
    items = manifest_items(a.manifest, split='train', limit=a.cases)
    print(f'{len(items)} training cases x 8 drafts, max_new_tokens {a.max_new_tokens}, torch {torch.__version__}, '
          f'{os.cpu_count()} CPU(s), {torch.get_num_threads()} torch threads')
    print('| batch_cases | s per case | vs batch_cases=1 | mean draft words |\n|---:|---:|---:|---:|')
    base = None
    with tempfile.TemporaryDirectory() as d:
        for g in [int(x) for x in a.groups.split(',')]:
            t0 = time.perf_counter()
            rows = sample_candidates(model, proc, items, Path(d)/f'g{g}.jsonl', n=8, max_new_tokens=a.max_new_tokens, batch_cases=g)
            per = (time.perf_counter() - t0) / len(items)
            base = base or per
            words = statistics.mean(len(c.split()) for r in rows if r['status'] == 'ok' for c in r['candidates'])
            print(f'| {g} | {per:.3f} | {per / base:.2f}x | {words:.1f} |', flush=True)


if __name__ == '__main__':
    main()
