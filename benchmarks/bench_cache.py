"""Raw load (read_ct + preprocess_ct) vs cached load, on synthetic 512x512xZ int16 .nii.gz volumes.

    python benchmarks/bench_cache.py [--config paper] [--n 3] [--z 120]

Prints seconds per volume for each path, side by side from one run, and the ratios. Also compares the two
storage formats considered for cache entries (.npy loaded with mmap vs one safetensors file).
"""
import argparse, os, statistics, tempfile, time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')
from mu2llm.data.cache import VolumeCache, prep_manifest
from mu2llm.data.ct_io import read_ct
from mu2llm.data.manifest import ManifestRow, write_manifest, read_manifest
from mu2llm.data.preprocess import preprocess_ct
from mu2llm.data.cache import load_prep_config
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti


def timeit(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', default='paper'); ap.add_argument('--n', type=int, default=3)
    ap.add_argument('--z', type=int, default=120); ap.add_argument('--reps', type=int, default=3)
    a = ap.parse_args()
    cfg = load_prep_config(a.config)
    with tempfile.TemporaryDirectory() as td:
        td = Path(td); rows = []
        for i in range(a.n):
            write_nifti(td/f'v{i}.nii.gz', tiny_hu((512, 512, a.z), seed=i), spacing=(0.7, 0.7, 2.5))
            rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'bench', 'train', f'p{i}', report='x'))
        write_manifest(td/'m.jsonl', rows)
        t0 = time.perf_counter(); prep_manifest(td/'m.jsonl', td/'c', config=cfg, workers=0); t_prep = time.perf_counter() - t0
        vc, keys = VolumeCache(td/'c'), [r.meta['cache_key'] for r in read_manifest(td/'c/manifest.jsonl')]
        raw = statistics.mean(timeit(lambda p=td/f'v{i}.nii.gz': preprocess_ct(read_ct(p), cfg), 1) for i in range(a.n))
        cached = statistics.mean(timeit(lambda k=k: vc.load(k), a.reps) for k in keys)
        # storage formats: same float16 tensor as .npy (mmap) and as safetensors
        from safetensors.torch import save_file, load_file
        x = vc.load(keys[0]).half()
        save_file({'pixel_values': x.contiguous()}, str(td/'e.safetensors'))
        t_npy = timeit(lambda: torch.from_numpy(np.array(np.load(vc.paths(keys[0])[0], mmap_mode='r'))), a.reps * 3)
        t_st = timeit(lambda: load_file(str(td/'e.safetensors'))['pixel_values'].clone(), a.reps * 3)  # materialised, like the .npy copy
        mb = vc.paths(keys[0])[0].stat().st_size / 2**20
    print(f'config={a.config} output={tuple(cfg.output_shape)} volumes={a.n} of 512x512x{a.z} int16 .nii.gz, entry {mb:.1f} MiB (float16)')
    print(f'mu2llm_prep (workers=0, incl. hashing): {t_prep / a.n:.3f} s/volume')
    print(f'raw load  read_ct + preprocess_ct : {raw:.3f} s/volume')
    print(f'cached load VolumeCache.load      : {cached:.4f} s/volume   ratio raw/cached = {raw / cached:.0f}x')
    print(f'entry format: npy+mmap {t_npy:.4f} s, safetensors {t_st:.4f} s   ratio = {t_st / t_npy:.2f}')


if __name__ == '__main__':
    main()
