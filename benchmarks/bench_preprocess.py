"""Benchmark: mu2llm `read_ct` + `preprocess_ct` vs an equivalent MONAI dictionary pipeline, same inputs, same output.

    python benchmarks/bench_preprocess.py            # 3 synthetic 512x512x120 int16 .nii.gz volumes, 0.7x0.7x2.5 mm
    python benchmarks/bench_preprocess.py --n 2 --reps 2

Both pipelines: load the .nii.gz, reorient to RAS, resample to `SPACING` mm, window HU to [0, 1], resize to the
paper's 256x256x256, lay out as (T=8, C=1, 32, 256, 256). MONAI does the spacing resample and the resize as two
interpolations (`Spacingd` then `Resized`); mu2llm folds them into one `interpolate` call, so outputs agree up
to interpolation detail, not bit for bit. A second comparison without the spacing step (MONAI `Resized` only vs
mu2llm with `target_spacing=None`) checks that the rest is the same computation. Prints seconds per volume, the
ratio, and the differences between outputs.
"""
import argparse, os, tempfile, time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')
SPACING = (1.5, 1.5, 1.5)  # target spacing, mm
WINDOW = (-1000.0, 1000.0)  # HU window -> [0, 1]


def make_volumes(d: Path, n: int, shape=(512, 512, 120)):
    "Write `n` body-like int16 volumes with 0.7x0.7x2.5 mm spacing, alternately RAS and LPS affines."
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    paths = []
    for i in range(n):
        hu = tiny_hu(shape, seed=i)
        hu[200:260, 300:330, 40:80] = 1200  # a bright block, so edges and clipping matter
        sp = (0.7, 0.7, 2.5)
        aff = np.diag([*sp, 1.0])
        if i % 2:  # LPS storage of the same anatomy: flip x and y
            hu = hu[::-1, ::-1].copy(); aff = np.diag([-sp[0], -sp[1], sp[2], 1.0])
            aff[:2, 3] = [(shape[0] - 1) * sp[0], (shape[1] - 1) * sp[1]]
        paths.append(write_nifti(d/f'vol{i}.nii.gz', hu, affine=aff))
    return paths


def monai_pipeline(spacing, out_xyz=(256, 256, 256), n_slabs=8):
    "The MONAI dict pipeline configured to give mu2llm's (T, C, D, H, W) layout."
    from monai.transforms import (Compose, EnsureChannelFirstd, Lambdad, LoadImaged, Orientationd,
                                  Resized, ScaleIntensityRanged, Spacingd)
    def to_slabs(x):  # (C, X, Y, Z) RAS -> (C, D, H, W) with D superior->inferior, H anterior->posterior, W right->left
        x = torch.as_tensor(x).permute(0, 3, 2, 1).flip(1, 2, 3)
        C, D, H, W = x.shape
        return x.reshape(C, n_slabs, D//n_slabs, H, W).transpose(0, 1).contiguous()  # (T, C, D/T, H, W)
    ts = [LoadImaged('img', image_only=True), EnsureChannelFirstd('img'), Orientationd('img', axcodes='RAS')]
    if spacing is not None: ts.append(Spacingd('img', pixdim=spacing, mode='bilinear'))
    ts += [ScaleIntensityRanged('img', a_min=WINDOW[0], a_max=WINDOW[1], b_min=0.0, b_max=1.0, clip=True),
           Resized('img', spatial_size=out_xyz, mode='trilinear'), Lambdad('img', to_slabs)]
    return Compose(ts)


def timeit(fn, paths, reps):
    outs, best = None, float('inf')
    for _ in range(reps):
        t = time.perf_counter(); outs = [fn(p) for p in paths]; best = min(best, time.perf_counter() - t)
    return outs, best/len(paths)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=3, help='number of synthetic volumes')
    ap.add_argument('--reps', type=int, default=2, help='repetitions (best is reported)')
    ap.add_argument('--no-isal', action='store_true', help='decompress with zlib even when isal is installed')
    ap.add_argument('--baseline-only', action='store_true', help='time MONAI only')
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as td:
        paths = make_volumes(Path(td), a.n)
        print(f'{a.n} volumes 512x512x120 int16 .nii.gz, {np.mean([p.stat().st_size for p in paths])/1e6:.1f} MB each, '
              f'torch threads {torch.get_num_threads()}')
        mon = monai_pipeline(SPACING)
        mon({'img': str(paths[0])})  # warm-up (lazy imports)
        m_out, m_t = timeit(lambda p: torch.as_tensor(mon({'img': str(p)})['img']), paths, a.reps)
        print(f'MONAI (Load, Orientation, Spacing {SPACING}, window, Resize): {m_t:.3f} s/volume')
        if a.baseline_only: return
        import mu2llm.data.ct_io
        from mu2llm.data.ct_io import read_ct, gzip_backend
        if a.no_isal: mu2llm.data.ct_io._igzip = None
        from mu2llm.data.preprocess import PreprocessConfig, preprocess_ct
        preprocess_ct(read_ct(paths[0]), PreprocessConfig.preset('tiny'))  # warm-up
        cfg = PreprocessConfig.preset('paper').replace(intensity='window', windows=(WINDOW,), target_spacing=SPACING)
        o_out, o_t = timeit(lambda p: preprocess_ct(read_ct(p), cfg), paths, a.reps)
        print(f'mu2llm read_ct + preprocess_ct (same config, gzip via {gzip_backend()}): {o_t:.3f} s/volume')
        print(f'speed-up: {m_t/o_t:.2f}x')
        d = torch.stack([(o - m).abs() for o, m in zip(o_out, m_out)])
        print(f'with spacing step: |mu2llm - MONAI| max {d.max():.4f}, mean {d.mean():.5f}, '
              f'99.9th pct {torch.quantile(d.flatten()[::7].float(), 0.999):.4f} (intensities in [0, 1])')
        mon0, cfg0 = monai_pipeline(None), cfg.replace(target_spacing=None)
        d0 = max((preprocess_ct(read_ct(p), cfg0) - torch.as_tensor(mon0({'img': str(p)})['img'])).abs().max().item() for p in paths)
        print(f'without spacing step: |mu2llm - MONAI| max {d0:.2e}')


if __name__ == '__main__': main()
