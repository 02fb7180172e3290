"""Acceptance tests of the assembled μ² Tokenizer (mu2llm.model.mu2_tokenizer) and its parts, on tiny instances."""
import subprocess, sys

import pytest
import torch

from mu2llm.core.errors import Mu2LLMError, ConfigError
from mu2llm.core.errors import ShapeError
from mu2llm.model.dts import TokenSelector
from mu2llm.model.mu2_tokenizer import Mu2Tokenizer, Mu2TokenizerOutput, ABLATIONS, PAPER_TOKENIZER, LITE_TOKENIZER, param_table

TINY = dict(in_dim=24, dim=16, out_dim=32, text_dim=20, n_slabs=2, n_tokens=16, n_select=16, n_queries=8,
            n_layers_svr=2, n_layers_tta=2, n_heads=4)
SELECTIONS = [dict(dts=True, dts_mode='soft'), dict(dts=True, dts_mode='gumbel_topk'), dict(dts=False)]


def _inputs(bs=3, L=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    img_tok = torch.randn(bs, 2, 16, 24, generator=g)
    txt = torch.randn(bs, L, 20, generator=g)
    n_real = torch.tensor([L, 4, 1][:bs])
    mask = torch.arange(L)[None] < n_real[:, None]                 # right padding
    return img_tok, txt, mask, n_real


@pytest.mark.parametrize('sel', SELECTIONS, ids=['soft', 'gumbel_topk', 'hard_topk'])
@pytest.mark.parametrize('row', list(ABLATIONS), ids=range(len(ABLATIONS)))
def test_every_parameter_gets_gradient(sel, row):
    torch.manual_seed(0)
    tk = Mu2Tokenizer(**{**TINY, **ABLATIONS[row], **sel}, grid=(1, 4, 4)).train()
    img_tok, txt, mask, _ = _inputs()
    out = tk(img_tok, txt, mask).last_hidden_state
    (out * torch.randn_like(out)).sum().backward()
    dead = [n for n, p in tk.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == [], f'{row} {sel}: no gradient for {dead}'
    assert tk.selector.score.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('sel', SELECTIONS, ids=['soft', 'gumbel_topk', 'hard_topk'])
def test_padding_does_not_change_output(sel):
    torch.manual_seed(1)
    tk = Mu2Tokenizer(**TINY, **sel).eval()
    img_tok, txt, mask, n_real = _inputs()
    ref = tk(img_tok, txt, mask).last_hidden_state
    g = torch.Generator().manual_seed(5)
    for extra in (0, 3, 40):                                       # more pads, arbitrary content, left padding
        L = txt.shape[1] + extra
        left = torch.randn(3, L, 20, generator=g) * 100
        lmask = torch.zeros(3, L, dtype=torch.bool)
        for i, n in enumerate(n_real.tolist()):
            left[i, L - n:] = txt[i, :n]; lmask[i, L - n:] = True
        torch.testing.assert_close(tk(img_tok, left, lmask).last_hidden_state, ref, atol=2e-5, rtol=1e-4)
    # int attention masks behave like bool masks
    torch.testing.assert_close(tk(img_tok, txt, mask.long()).last_hidden_state, ref)


def test_samples_do_not_mix_across_the_batch():
    "Each sample's output equals its output when run alone (the official SVR mixes samples when batch > 1)."
    torch.manual_seed(2)
    tk = Mu2Tokenizer(**TINY).eval()
    img_tok, txt, mask, n_real = _inputs()
    out = tk(img_tok, txt, mask).last_hidden_state
    for i, n in enumerate(n_real.tolist()):
        alone = tk(img_tok[i:i+1], txt[i:i+1, :n]).last_hidden_state
        torch.testing.assert_close(out[i:i+1], alone, atol=2e-5, rtol=1e-4)


def test_text_changes_output_and_dmtp_gates_sum_to_one():
    torch.manual_seed(3)
    tk = Mu2Tokenizer(**TINY).eval()
    img_tok, txt, mask, _ = _inputs()
    out = tk(img_tok, txt, mask)
    a = out.last_hidden_state
    gates = out.scale_gates
    assert gates.shape == (3, 3)
    torch.testing.assert_close(gates.sum(-1), torch.ones(3))
    assert not torch.allclose(a, tk(img_tok, txt + 1, mask).last_hidden_state, atol=1e-4)
    assert not torch.allclose(a, tk(img_tok, None).last_hidden_state, atol=1e-4)
    w = out.selection_weights
    assert w.shape == (3, 16, 32)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 16))


@pytest.mark.parametrize('sel', SELECTIONS, ids=['soft', 'gumbel_topk', 'hard_topk'])
def test_output_carries_the_batch_internals_and_the_module_keeps_none(sel):
    "The forward returns selection, gates and (on request) attention maps; nothing per batch is left on the module."
    torch.manual_seed(7)
    tk = Mu2Tokenizer(**TINY, **sel).train()
    img_tok, txt, mask, _ = _inputs()
    attrs = lambda: {(n, k): v for n, m in tk.named_modules() for k, v in vars(m).items() if not k.startswith('_')}
    before = attrs()
    out = tk(img_tok, txt, mask)
    assert isinstance(out, Mu2TokenizerOutput) and out.attentions is None
    assert out.last_hidden_state.shape == (3, 8, 32) and out.scale_gates.shape == (3, 3)
    assert out.selection_weights.shape == (3, 16, 32)
    torch.testing.assert_close(out.selection_weights.sum(-1), torch.ones(3, 16))
    if sel.get('dts_mode') == 'soft': assert out.selection_indices is None and out.selection_scores is None
    else:
        assert out.selection_indices.shape == (3, 16) and out.selection_scores.shape == (3, 32)
        assert torch.equal(out.selection_weights.argmax(-1), out.selection_indices)
    att = tk.eval()(img_tok, txt, mask, output_attentions=True).attentions
    assert att.shape == (3, 4, 8, tk.n_pooled)
    torch.testing.assert_close(att.sum(-1), torch.ones(3, 4, 8))
    after = attrs()
    assert after.keys() == before.keys() and all(after[k] is before[k] or k[1] == 'training' for k in before)
    assert not any(torch.is_tensor(v) for v in after.values()) and not hasattr(tk, 'aux')


def test_gumbel_selection_is_stochastic_in_training_and_deterministic_in_eval():
    torch.manual_seed(4)
    sel = TokenSelector(16, 8, 'gumbel_topk')
    x = torch.randn(4, 32, 16)
    draws = {tuple(sel.train()(x)[1]['indices'].flatten().tolist()) for _ in range(5)}
    assert len(draws) > 1
    sel.eval()
    assert torch.equal(sel(x)[1]['indices'], sel(x)[1]['indices'])
    sel.tau = 0.1                                                  # schedule = caller sets tau
    tok, _ = sel.train()(x)
    tok.sum().backward()
    assert sel.score.weight.grad.abs().sum() > 0


def test_shape_errors_are_typed_and_clear():
    tk = Mu2Tokenizer(**TINY)
    img_tok, txt, mask, _ = _inputs()
    for bad, msg in [((img_tok[:, :1], txt, mask), 'got (3, 1, 16, 24)'),
                     ((img_tok[..., :20], txt, mask), 'in_dim'),
                     ((img_tok, txt[:2], mask), 'txt_emb'),
                     ((img_tok, txt, mask[:, :3]), 'txt_mask'),
                     ((img_tok[0], txt, mask), '(B, T, N, in_dim)')]:
        with pytest.raises(ShapeError, match=None) as e: tk(*bad)
        assert msg in str(e.value) and isinstance(e.value, Mu2LLMError)
    with pytest.raises(ConfigError): Mu2Tokenizer(**{**TINY, 'dts_mode': 'nope'})
    with pytest.raises(ConfigError): Mu2Tokenizer(**{**TINY, 'spatial_pool': True, 'grid': (1, 4, 4)})


def test_official_width_parameter_counts():
    with torch.device('meta'):
        off = param_table(Mu2Tokenizer(**PAPER_TOKENIZER))
        ours = param_table(Mu2Tokenizer(**LITE_TOKENIZER))
    assert abs(off['total'] - 355.3) < 2 and abs(off['svr'] - 134) < 1 and abs(off['tta'] - 218) < 1.5
    assert off['in_proj'] == 0 and off['out_proj'] == 0           # identity at the official width
    assert ours['out_proj'] == pytest.approx((768 * 2048 + 2048) / 1e6)
    assert ours['total'] < off['total'] / 5


def test_state_dict_reloads_in_a_fresh_interpreter(tmp_path):
    torch.manual_seed(6)
    tk = Mu2Tokenizer(**TINY, grid=(1, 4, 4)).eval()
    img_tok, txt, mask, _ = _inputs()
    torch.save({'sd': tk.state_dict(), 'inp': (img_tok, txt, mask), 'out': tk(img_tok, txt, mask).last_hidden_state}, tmp_path/'tk.pt')
    code = f"""
import torch
from mu2llm.model.mu2_tokenizer import Mu2Tokenizer
d = torch.load({str(tmp_path/'tk.pt')!r}, weights_only=True)
tk = Mu2Tokenizer(**{TINY!r}, grid=(1, 4, 4)).eval()
tk.load_state_dict(d['sd'], strict=True)
torch.testing.assert_close(tk(*d['inp']).last_hidden_state, d['out'])
print('ok')
"""
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == 'ok', p.stderr[-2000:]


def test_bfloat16_forward_keeps_dtype():
    tk = Mu2Tokenizer(**TINY).to(torch.bfloat16).eval()
    img_tok, txt, mask, _ = _inputs()
    out = tk(img_tok.bfloat16(), txt.bfloat16(), mask).last_hidden_state
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
