"""The HF-native model outside the notebook: reload in a fresh interpreter, Auto classes after `import mu2llm`."""
import json
import subprocess
import sys
import textwrap

import torch


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_save_then_load_in_fresh_interpreter_gives_identical_logits(tmp_path):
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.llm import offline_tokenizer
    tok = offline_tokenizer()
    cfg = Mu2LLMConfig.preset('tiny', tokenizer=tok)
    torch.manual_seed(0)
    model = Mu2LLMForConditionalGeneration(cfg).eval()
    model.save_pretrained(tmp_path/'ckpt'); tok.save_pretrained(tmp_path/'ckpt')
    v = cfg.vision_config
    x = torch.rand(1, v.n_slabs, v.in_channels, *v.slab_size)
    ids = torch.tensor([[tok.bos_token_id] + [cfg.image_token_id] * cfg.num_image_tokens + tok('Any nodule?')['input_ids']])
    torch.save({'x': x, 'ids': ids}, tmp_path/'inp.pt')
    with torch.no_grad(): ref = model(input_ids=ids, pixel_values=x).logits
    torch.save(ref, tmp_path/'ref.pt')
    out = _run(f'''
        import json, torch, mu2llm
        from transformers import AutoConfig, AutoModelForImageTextToText
        m = AutoModelForImageTextToText.from_pretrained({str(tmp_path/'ckpt')!r}).eval()   # no trust_remote_code
        d = torch.load({str(tmp_path/'inp.pt')!r})
        with torch.no_grad(): logits = m(input_ids=d['ids'], pixel_values=d['x']).logits
        ref = torch.load({str(tmp_path/'ref.pt')!r})
        print(json.dumps(dict(cls=type(m).__name__, cfg=type(AutoConfig.for_model('mu2llm')).__name__,
                              maxdiff=float((logits - ref).abs().max()))))
    ''')
    res = json.loads(out.strip().splitlines()[-1])
    assert res['cls'] == 'Mu2LLMForConditionalGeneration'
    assert res['cfg'] == 'Mu2LLMConfig'
    assert res['maxdiff'] == 0.0


def test_paper_preset_builds_on_meta_device_without_downloads():
    out = _run('''
        import os, json, torch
        os.environ['HF_HUB_OFFLINE'] = '1'
        from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
        from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
        from mu2llm.model.mu2_tokenizer import param_table
        with torch.device('meta'): ms = {n: Mu2LLMForConditionalGeneration(Mu2LLMConfig.preset(n)) for n in ('paper', 'paper_lite')}
        print(json.dumps({n: param_table(m) for n, m in ms.items()}))
    ''')
    t = json.loads(out.strip().splitlines()[-1])
    p, lite = t['paper'], t['paper_lite']
    # the paper's tokenizer works at the LLM width (the official 355.3 M); the lighter variant at the ViT width
    assert 87 < p['vision_tower'] < 88 and 350 < p['mu2_tokenizer'] < 360 and 1200 < p['language_model'] < 1300
    assert 50 < lite['mu2_tokenizer'] < 60 and lite['vision_tower'] == p['vision_tower']


def test_llm_config_from_local_path(tmp_path):
    "The paper's LLM is reached by local path: a saved (tiny) Llama folder stands in for Llama-3.2-1B-Instruct."
    from transformers import LlamaConfig
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.llm import offline_tokenizer, llm_config
    tok = offline_tokenizer()
    llm_config(tok, hidden_size=96).save_pretrained(tmp_path/'llm')
    cfg = Mu2LLMConfig.preset('tiny', tokenizer=tok, llm=str(tmp_path/'llm'))
    assert isinstance(cfg.text_config, LlamaConfig) and cfg.text_config.hidden_size == 96
