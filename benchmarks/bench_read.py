"""Benchmark: `read_ct`'s streaming NIfTI read vs the whole-file read it replaced, same files, same arrays.

    python benchmarks/bench_read.py               # 2 synthetic 512x512x120 int16 .nii.gz volumes (and their .nii)
    python benchmarks/bench_read.py --n 3 --reps 5
    python benchmarks/bench_read.py --zlib        # both reads without isal (the fallback when it is not installed)

The streaming read (issue 19) parses the header first, refuses a scan over the voxel budget, and inflates a
`.nii.gz` in 8 MiB slices straight into an array of the size the header declares. The read it replaced (copied below
from the code before that change, as `whole_file_read`) read the whole compressed file, inflated all of it in one
call, then viewed the voxels in the inflated bytes. Both end with the same reorientation to RAS; outputs must be
equal. Prints the best seconds per volume of each, side by side, and the ratio (streaming / whole-file), for
`.nii.gz` and for plain `.nii`.
"""
import argparse, io, os, tempfile, time, zlib
from pathlib import Path

import numpy as np

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')


def whole_file_read(path: Path):
    "The NIfTI read before the streaming one: whole file in memory, one-call inflate, voxels viewed in the bytes."
    import nibabel as nib
    from mu2llm.data.ct_io import _igzip, canonical_ras
    raw = path.read_bytes()
    if raw[:2] == b'\x1f\x8b':
        if _igzip is not None: raw = _igzip.decompress(raw)
        else:
            d = zlib.decompressobj(zlib.MAX_WBITS | 16); raw = d.decompress(raw)
    klass = nib.Nifti1Header if raw[344:348] == b'n+1\x00' else nib.Nifti2Header
    hdr = klass.from_fileobj(io.BytesIO(raw[:klass.sizeof_hdr]), check=False)
    shape, dt, off = hdr.get_data_shape()[:3], hdr.get_data_dtype(), int(hdr.get_data_offset())
    arr = np.frombuffer(raw, dt, count=int(np.prod(shape)), offset=off).reshape(shape, order='F')
    return canonical_ras(arr, hdr.get_best_affine())[0]


def make_volumes(d: Path, n: int, shape=(512, 512, 120)):
    "`n` body-like int16 CT volumes (0.7 x 0.7 x 2.5 mm), as .nii.gz and as .nii."
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    gz, plain = [], []
    for i in range(n):
        hu = tiny_hu(shape, seed=i)
        gz.append(write_nifti(d/f'vol{i}.nii.gz', hu, spacing=(0.7, 0.7, 2.5)))
        plain.append(write_nifti(d/f'vol{i}.nii', hu, spacing=(0.7, 0.7, 2.5)))
    return gz, plain


def best(fn, paths, reps):
    t_best, out = float('inf'), None
    for _ in range(reps):
        t = time.perf_counter(); out = [fn(p) for p in paths]; t_best = min(t_best, time.perf_counter() - t)
    return out, t_best / len(paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=2, help='volumes')
    ap.add_argument('--reps', type=int, default=3, help='repetitions (the best is kept)')
    ap.add_argument('--zlib', action='store_true', help='inflate with zlib, as without isal')
    a = ap.parse_args()
    if a.zlib:
        import mu2llm.data.ct_io as ct_io
        ct_io._igzip = None
    from mu2llm.data.ct_io import gzip_backend, read_ct
    with tempfile.TemporaryDirectory() as td:
        gz, plain = make_volumes(Path(td), a.n)
        mb = np.mean([p.stat().st_size for p in gz]) / 2**20
        print(f'{a.n} volume(s) of 512x512x120 int16 ({mb:.1f} MiB as .nii.gz, 60 MiB as .nii); gzip backend: {gzip_backend()}')
        print(f"{'file':8} {'streaming (s)':>14} {'whole-file (s)':>15} {'ratio':>7}")
        for name, paths in (('.nii.gz', gz), ('.nii', plain)):
            new, t_new = best(lambda p: read_ct(p).hu, paths, a.reps)
            old, t_old = best(whole_file_read, paths, a.reps)
            assert all(np.array_equal(x, y) for x, y in zip(new, old)), 'the two reads disagree'
            print(f'{name:8} {t_new:14.3f} {t_old:15.3f} {t_new / t_old:7.2f}')


if __name__ == '__main__': main()
