"""Encoder weight import (M3D-CLIP format), gradient checkpointing, and SVR batch isolation."""
import pytest
import torch
from monai.networks.nets import ViT

from mu2llm.model.encoder import CTViTEncoder, adapt_state_dict, load_m3d_vit_weights
from mu2llm.core.errors import WeightsError
from mu2llm.model.projector import SpatialPoolProjector
from mu2llm.model.svr import SpatioTemporalRefiner

TINY = dict(in_channels=1, img_size=(8, 32, 32), patch_size=(4, 8, 8), hidden_size=32, mlp_dim=64, num_layers=2, num_heads=4)


def m3d_keys(n_layers=12, e=768, mlp=3072, n_patches=2048, patch_dim=1024):
    "The key -> shape map of M3D-CLIP's pretrained_ViT.bin (MONAI 1.3 ViT, perceptron embedding, class token, no head)."
    keys = {'cls_token': (1, 1, e), 'patch_embedding.position_embeddings': (1, n_patches, e),
            'patch_embedding.patch_embeddings.1.weight': (e, patch_dim), 'patch_embedding.patch_embeddings.1.bias': (e,),
            'norm.weight': (e,), 'norm.bias': (e,)}
    for i in range(n_layers):
        b = f'blocks.{i}.'
        keys.update({b+'mlp.linear1.weight': (mlp, e), b+'mlp.linear1.bias': (mlp,), b+'mlp.linear2.weight': (e, mlp),
                     b+'mlp.linear2.bias': (e,), b+'norm1.weight': (e,), b+'norm1.bias': (e,), b+'attn.qkv.weight': (3*e, e),
                     b+'attn.out_proj.weight': (e, e), b+'attn.out_proj.bias': (e,), b+'norm2.weight': (e,), b+'norm2.bias': (e,)})
    return keys


def test_vitb_m3d_key_set_fits_without_allocating():
    with torch.device('meta'):
        enc = CTViTEncoder.m3d()
        sd = {'vision_encoder.' + k: torch.empty(s) for k, s in m3d_keys().items()}
    out = adapt_state_dict(sd, enc)                                   # strict checks raise on any mismatch
    assert set(out) == set(enc.state_dict())
    assert all(out[k].shape == v.shape for k, v in enc.state_dict().items())
    # one key too many / too few is reported by name
    bad = dict(sd); bad.pop('vision_encoder.blocks.3.norm2.bias'); bad['vision_encoder.extra.weight'] = torch.empty(1, device='meta')
    with pytest.raises(WeightsError, match=r"blocks\.3\.norm2\.bias"): adapt_state_dict(bad, enc)


def _m3d_file(tmp_path, fmt='bin', prefix='vision_encoder.'):
    torch.manual_seed(0)
    ref = ViT(**TINY, proj_type='perceptron', classification=True).eval()
    sd = {prefix + k: v.clone() for k, v in ref.state_dict().items()
          if 'classification_head' not in k and 'norm_cross_attn' not in k}   # what MONAI 1.3 + M3D wrote
    assert set(k[len(prefix):] for k in sd) == set(m3d_keys(2, 32, 64, 32, 256))
    if fmt == 'bin':
        path = tmp_path/'pretrained_ViT.bin'; torch.save(sd, path)
    else:
        from safetensors.torch import save_file
        path = tmp_path/'vit.safetensors'; save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return ref, path


@pytest.mark.parametrize('fmt', ['bin', 'safetensors'])
@pytest.mark.parametrize('proj', ['perceptron', 'conv'])
def test_import_m3d_weights_matches_monai_forward(tmp_path, fmt, proj):
    ref, path = _m3d_file(tmp_path, fmt)
    enc = load_m3d_vit_weights(CTViTEncoder(**TINY, proj_type=proj, cls_token=True), path).eval()
    x = torch.randn(3, 1, 8, 32, 32)
    with torch.no_grad():
        _, hidden = ref(x)
        want = ref.norm(hidden[-1])[:, 1:]                  # patch tokens after the final norm, class token dropped
        got = enc(x)
    assert got.shape == (3, 32, 32)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_import_refuses_wrong_architecture(tmp_path):
    _, path = _m3d_file(tmp_path)
    with pytest.raises(WeightsError, match='cls_token'): load_m3d_vit_weights(CTViTEncoder(**TINY), path)
    with pytest.raises(WeightsError, match='shape mismatch'):
        load_m3d_vit_weights(CTViTEncoder(**{**TINY, 'num_heads': 2, 'mlp_dim': 32}, proj_type='perceptron', cls_token=True), path)
    with pytest.raises(WeightsError, match='interpolate_pos'):
        load_m3d_vit_weights(CTViTEncoder(**{**TINY, 'img_size': (16, 32, 32)}, proj_type='perceptron', cls_token=True), path)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self): return (print, ('pwned',))
    path = tmp_path/'evil.bin'; torch.save({'x': Evil()}, path)
    with pytest.raises(WeightsError, match='cannot read'): load_m3d_vit_weights(CTViTEncoder(**TINY), path)


def test_gradient_checkpointing_same_outputs_and_grads_and_recomputes():
    torch.manual_seed(0)
    enc = CTViTEncoder(**TINY).train()
    calls = []
    enc.blocks[0].register_forward_pre_hook(lambda *a: calls.append(1))  # (post-hooks do not fire: recompute stops early)
    x = torch.randn(2, 1, 8, 32, 32, requires_grad=True)
    res = {}
    for ckpt in (False, True):
        enc.gradient_checkpointing = ckpt; enc.zero_grad(); x.grad = None; calls.clear()
        y = enc(x); (y*torch.linspace(-1, 1, y.shape[-1])).sum().backward()
        res[ckpt] = (y.detach(), x.grad.clone(), {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None},
                     len(calls))
    torch.testing.assert_close(res[True][0], res[False][0], atol=0, rtol=0)
    torch.testing.assert_close(res[True][1], res[False][1])
    assert res[True][2].keys() == res[False][2].keys()
    for n in res[False][2]: torch.testing.assert_close(res[True][2][n], res[False][2][n])
    assert (res[False][3], res[True][3]) == (1, 2)            # block 0 really re-ran in the backward pass


def test_encoder_projector_svr_chain_shapes():
    enc = CTViTEncoder(**TINY).eval()
    proj = SpatialPoolProjector(32, 16, enc.grid_shape)
    svr = SpatioTemporalRefiner(16, 2, 1, n_tokens=proj.n_out, n_slabs=2, grid=proj.out_grid).eval()
    vols = torch.randn(3, 2, 1, 8, 32, 32)                    # (B, T, C, D, H, W)
    with torch.no_grad():
        tok = enc(vols.flatten(0, 1))                        # (B·T, 32, 32)
        out = svr(proj(tok).unflatten(0, (3, 2)))            # (B, T, 4, 16)
    assert out.shape == (3, 2, 4, 16)


@pytest.mark.parametrize('rpe', [False, True])
def test_svr_samples_do_not_mix(rpe):
    torch.manual_seed(1)
    svr = SpatioTemporalRefiner(32, 4, 3, n_tokens=8, n_slabs=4, rpe=rpe, mlp_ratio=2.).eval()
    x = torch.randn(3, 4, 8, 32)
    with torch.no_grad():
        y = svr(x)
        for i in range(3):
            x2 = x.clone(); x2[i] = torch.randn(4, 8, 32)
            y2 = svr(x2)
            others = [j for j in range(3) if j != i]
            torch.testing.assert_close(y2[others], y[others], atol=1e-6, rtol=1e-5)
            assert (y2[i] - y[i]).abs().max() > 1e-2
            torch.testing.assert_close(svr(x[i:i+1])[0], y[i], atol=1e-5, rtol=1e-5)
