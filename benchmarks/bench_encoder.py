"""Cost of the vision front end, measured side by side in one run (ratios matter, not absolute seconds).

    python benchmarks/bench_encoder.py [--reps 3]

1. SVR (4 layers, 8 heads, T=8 slabs x N=256 tokens, paper shapes) forward, at the tokenizer width E=768 vs the
   official E=2048, with 1-D RPE, 3-D RPE and plain attention.
2. Encoder forward+backward with and without gradient checkpointing (a small ViT on demo slabs), time ratio.
3. Projector (paper shapes) forward.
"""
import argparse, time
import torch
from mu2llm.model.encoder import CTViTEncoder
from mu2llm.model.projector import SpatialPoolProjector
from mu2llm.model.svr import SpatioTemporalRefiner


def timeit(fn, reps):
    fn()                                                   # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return min(ts)


def main(reps=3):
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    rows = {}
    with torch.no_grad():
        for e in (768, 2048):
            x = torch.randn(1, 8, 256, e)
            for name, kw in [('1-D RPE', dict(rpe=True)), ('3-D RPE', dict(rpe=True, grid=(4, 8, 8))), ('no RPE', dict(rpe=False))]:
                svr = SpatioTemporalRefiner(e, 8, 4, n_tokens=256, n_slabs=8, **kw).eval()
                rows[(e, name)] = timeit(lambda: svr(x), reps)
                print(f"SVR fwd  E={e:4d} {name:8s} {rows[(e, name)]:.3f} s  ({sum(p.numel() for p in svr.parameters())/1e6:.1f} M params)")
    print(f"SVR E=2048 / E=768 (1-D RPE): {rows[(2048, '1-D RPE')]/rows[(768, '1-D RPE')]:.2f}x")
    print(f"SVR 3-D RPE / 1-D RPE at E=768: {rows[(768, '3-D RPE')]/rows[(768, '1-D RPE')]:.2f}x; "
          f"RPE off / 1-D RPE: {rows[(768, 'no RPE')]/rows[(768, '1-D RPE')]:.2f}x")

    enc = CTViTEncoder(1, (16, 96, 96), (4, 12, 12), hidden_size=192, mlp_dim=768, num_layers=4, num_heads=4).train()
    x = torch.randn(4, 1, 16, 96, 96)
    def step():
        enc.zero_grad(); enc(x).square().mean().backward()
    t = {}
    for ck in (False, True):
        enc.gradient_checkpointing = ck; t[ck] = timeit(step, reps)
        print(f"encoder fwd+bwd (demo slabs, width 192, 4 layers, 4 slabs) checkpointing={ck}: {t[ck]:.3f} s")
    print(f"gradient checkpointing time ratio: {t[True]/t[False]:.2f}x")

    proj = SpatialPoolProjector(768, 768, (8, 16, 16)).eval()
    x = torch.randn(8, 2048, 768)
    with torch.no_grad(): tp = timeit(lambda: proj(x), reps)
    print(f"projector fwd (8 slabs x 2048 tokens, 768->768): {tp:.3f} s")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--reps', type=int, default=3)
    main(ap.parse_args().reps)
