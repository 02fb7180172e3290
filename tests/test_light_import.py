"""`import mu2llm` is light, and the transformers Auto classes still load a μ²LLM checkpoint (fresh interpreters)."""
import json, subprocess, sys, textwrap

from _helpers import save_tiny_checkpoint

HEAVY = ('torch', 'transformers.modeling_utils', 'monai', 'mu2llm.model.modeling_mu2llm', 'mu2llm.model.encoder', 'trl', 'peft')


def _run(code: str) -> dict:
    r = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_loads_nothing_heavy_and_names_resolve_lazily():
    res = _run(f'''
        import json, sys, mu2llm
        before = [m for m in {HEAVY!r} if m in sys.modules]
        cfg = mu2llm.PreprocessConfig.preset('tiny')              # a public name resolves on first use
        print(json.dumps(dict(before=before, after=[m for m in {HEAVY!r} if m in sys.modules], shape=list(cfg.output_shape),
                              has_dir='read_ct' in dir(mu2llm))))
    ''')
    assert res['before'] == [] and res['has_dir'] and res['shape'] == [2, 1, 8, 32, 32]
    assert 'monai' not in res['after'] and 'mu2llm.model.modeling_mu2llm' not in res['after']


def test_auto_classes_load_a_checkpoint_after_a_light_import(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path/'ckpt')
    res = _run(f'''
        import json, sys, mu2llm
        light = [m for m in {HEAVY!r} if m in sys.modules]
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
        model = AutoModelForImageTextToText.from_pretrained({str(ckpt)!r})          # no trust_remote_code
        proc = AutoProcessor.from_pretrained({str(ckpt)!r})
        print(json.dumps(dict(light=light, model=type(model).__name__, proc=type(proc).__name__,
                              config=type(AutoConfig.from_pretrained({str(ckpt)!r})).__name__, n_img=proc.num_image_tokens,
                              q=model.config.num_image_tokens)))
    ''')
    assert res == dict(light=[], model='Mu2LLMForConditionalGeneration', proc='Mu2LLMProcessor', config='Mu2LLMConfig',
                       n_img=res['q'], q=res['q'])


def test_auto_classes_imported_before_mu2llm_also_work(tmp_path):
    "The other order: transformers' Auto modules first, then `import mu2llm` registers at once."
    ckpt = save_tiny_checkpoint(tmp_path/'ckpt')
    res = _run(f'''
        import json
        from transformers import AutoModelForImageTextToText, AutoProcessor
        import mu2llm
        m, p = AutoModelForImageTextToText.from_pretrained({str(ckpt)!r}), AutoProcessor.from_pretrained({str(ckpt)!r})
        print(json.dumps([type(m).__name__, type(p).__name__]))
    ''')
    assert res == ['Mu2LLMForConditionalGeneration', 'Mu2LLMProcessor']
