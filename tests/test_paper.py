"""The `paper` preset is the paper, and its pretrained parts come by path (issue 17, points 1-3):

- the preset's numbers are the official scripts' (model layout, SFT / DPO schedules, drafts);
- a file in M3D-CLIP's key layout at the paper's shapes loads strictly through the recipe (`vision_weights`) and the ViT's
  tokens equal MONAI's ViT built the same way;
- `paper` without `llm` is refused, naming the field, unless `random_llm: true`;
- a real-format LLM folder (tokenizer with a chat template, no `<image>`, no padding token, Llama-3 rope scaling) trains
  and generates through the command line, and the model card names what the model is made of;
- any TrainingArguments / SFTConfig / DPOConfig field passes through (and reaches the trainer), typos are refused with a
  suggestion; the model card is what `push_to_hub` publishes.
"""
import json, subprocess, sys, types
from pathlib import Path

import pytest
import torch

from _helpers import cli, cli_env, save_m3d_style_vit, save_tiny_llm_folder

REPORTS = ['There is a 12 mm nodule in the right upper lobe.', 'Small left pleural effusion.',
           'Cardiomegaly. The heart is enlarged.', 'The lungs are clear. No pleural effusion.']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "Six tiny NIfTI volumes (4 train, 2 val) prepared with the tiny preprocessing preset."
    from mu2llm.data.cache import prep_manifest
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.data.manifest import ManifestRow, write_manifest
    from mu2llm.testing import tiny_hu
    root = tmp_path_factory.mktemp('paper_data')
    rows = []
    for i in range(6):
        write_nifti(root/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', str(root/f'v{i}.nii.gz'), 'toy', 'train' if i < 4 else 'val', f'p{i}', report=REPORTS[i % 4]))
    write_manifest(root/'m.jsonl', rows)
    prep_manifest(root/'m.jsonl', root/'cache', config='tiny', workers=0)
    return root/'cache'/'manifest.jsonl', root/'cache', root


def _main(argv, capsys):
    "Run `python -m mu2llm.cli ARGV` in this process; returns (exit code, stderr)."
    from mu2llm.cli.commands import main
    try: main(list(map(str, argv))); code = 0
    except SystemExit as e: code = e.code
    return code, capsys.readouterr().err


# ---- point 1: the preset is the paper --------------------------------------------------------------------------------

def test_paper_preset_is_the_official_setting():
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.train.prefs import PrefsSettings
    from mu2llm.train.recipes import DPORecipe, SFTRecipe
    from mu2llm.core.presets import Recipe
    c = Mu2LLMConfig.preset('paper')
    v, t = c.vision_config, c.tokenizer_config
    assert (v.proj_type, v.cls_token, tuple(v.slab_size), tuple(v.patch_size), v.hidden_size, v.num_layers) == \
        ('perceptron', True, (32, 256, 256), (4, 16, 16), 768, 12)
    assert (c.tokenizer_width, t.n_select, t.n_queries, t.n_layers_svr, t.n_layers_tta, t.n_heads, tuple(t.scales)) == \
        (2048, 1024, 256, 4, 4, 8, (1, 2, 4))
    assert c.text_config.rope_parameters['rope_type'] == 'llama3' and c.text_config.max_position_embeddings == 131072
    assert Mu2LLMConfig.preset('paper_lite').tokenizer_width == 768
    s, d = SFTRecipe.preset_named('paper'), DPORecipe.preset_named('paper')
    assert (s.learning_rate, s.num_train_epochs, s.global_batch_size, s.lr_scheduler_type, s.warmup_steps) == \
        (4e-6, 4, 4, 'constant_with_warmup', 0.1)
    assert (d.learning_rate, d.num_train_epochs, d.global_batch_size, d.lr_scheduler_type, d.warmup_steps, d.beta) == \
        (4e-6, 6, 4, 'constant_with_warmup', 100, 0.1)
    p = PrefsSettings.from_dict({**Recipe.load('paper')['prefs'], 'judge': 'hf:/models/GREEN-RadLlama2-7b'})
    assert (p.max_new_tokens, p.temperature, p.top_p, p.num_return_sequences) == (768, 1.0, 0.9, 8)


# ---- point 2: pretrained parts by path -------------------------------------------------------------------------------

def test_m3d_clip_weights_at_the_paper_shapes_load_strictly_with_monai_tokens(tmp_path):
    "A pretrained_ViT.bin in M3D-CLIP's layout at the paper's ViT-B shapes, loaded by the recipe's vision_weights."
    from mu2llm.core.presets import preset
    from mu2llm.train.launch import build_model, build_processor
    from mu2llm.train.recipes import SFTRecipe
    vision = preset('paper')['vision']
    path, m3d = save_m3d_style_vit(tmp_path/'M3D-CLIP'/'pretrained_ViT.bin', vision)
    sd = torch.load(path, weights_only=True)
    assert 'cls_token' in sd and 'patch_embedding.patch_embeddings.1.weight' in sd and sd[next(k for k in sd if k.endswith('position_embeddings'))].shape == (1, 2048, 768)
    rec = SFTRecipe.preset_named('tiny', vision_weights=str(path))
    model = build_model(rec, build_processor(rec), model_cfg={'vision': vision, 'tokenizer': preset('tiny')['tokenizer'],
                                                              'llm': preset('tiny')['llm']})
    enc = model.model.vision_tower.eval()
    assert (enc.proj_type, enc.has_cls_token, enc.grid_shape) == ('perceptron', True, (8, 16, 16))
    own = enc.state_dict()
    assert set(sd) <= set(own) and all(torch.equal(own[k], w) for k, w in sd.items())        # every tensor of the file, unchanged
    torch.manual_seed(1)
    x = torch.randn(1, 1, 32, 256, 256)
    with torch.no_grad():
        _, hidden = m3d(x)
        want = m3d.norm(hidden[-1])[:, 1:]                                    # M3D's patch features: normed, class token dropped
        got = enc(x)
    assert got.shape == (1, 2048, 768)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_the_paper_without_llm_is_refused_naming_the_field(tmp_path, capsys):
    from mu2llm.train.launch import check_model_source
    from mu2llm.train.recipes import SFTRecipe
    man = tmp_path/'m.jsonl'; man.write_text('')
    code, err = _main(['train', '--stage', 'sft', '--preset', 'paper', '--manifest', man, '--out', tmp_path/'out'], capsys)
    assert code == 2 and 'sft.llm is not set' in err and 'llm=PATH' in err and 'random_llm=true' in err, err
    assert not (tmp_path/'out').exists()                                      # refused before any stage work
    check_model_source(SFTRecipe.preset_named('paper', random_llm=True))      # said explicitly: a random LLM of its shape
    with pytest.raises(Exception, match='drop llm='):
        check_model_source(SFTRecipe.preset_named('tiny', init=str(tmp_path), llm='models/x'))


def test_a_tokenizer_without_chat_template_is_refused(tmp_path):
    from mu2llm.core.errors import ConfigError
    from mu2llm.train.launch import build_processor
    from mu2llm.train.recipes import SFTRecipe
    llm = save_tiny_llm_folder(tmp_path/'llm')
    cfg = json.loads((llm/'tokenizer_config.json').read_text()); cfg.pop('chat_template', None)
    (llm/'tokenizer_config.json').write_text(json.dumps(cfg))
    for f in llm.glob('chat_template.*'): f.unlink()
    with pytest.raises(ConfigError, match='no chat template'):
        build_processor(SFTRecipe.preset_named('tiny', llm=str(llm)))


def test_a_real_format_llm_folder_trains_and_generates(data, tmp_path):
    """llm=FOLDER and vision_weights=FILE through `mu2llm_train`: the folder's tokenizer (chat template kept, `<image>` and
    padding added), its config (rope scaling) and weights; a pass-through field reaches the trainer; the checkpoint
    generates through `mu2llm_generate`, and its model card names the parts."""
    from mu2llm.core.presets import preset
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from _helpers import LLAMA3_CHAT_TEMPLATE
    man, cache, root = data
    llm = save_tiny_llm_folder(tmp_path/'Llama-3.2-1B-Instruct')
    vit, _ = save_m3d_style_vit(tmp_path/'M3D-CLIP'/'pretrained_ViT.bin', preset('tiny')['vision'], cls_token=False)
    out = tmp_path/'sft'
    r = subprocess.run([*cli('train'), '--stage', 'sft', '--preset', 'tiny', '--manifest', str(man), '--cache', str(cache),
                        '--out', str(out), f'llm={llm}', f'vision_weights={vit}', 'max_steps=3', 'optim=adafactor',
                        'adam_beta2=0.95'], capture_output=True, text=True, env=cli_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    proc = Mu2LLMProcessor.from_pretrained(out)
    tok = proc.tokenizer
    assert proc.chat_template == LLAMA3_CHAT_TEMPLATE and '<|start_header_id|>' in proc.prompt()
    assert tok.convert_tokens_to_ids('<image>') != tok.unk_token_id and tok.pad_token is not None
    cfg = Mu2LLMConfig.from_pretrained(out)
    assert cfg.text_config.rope_parameters['rope_type'] == 'llama3' and cfg.text_config.hidden_size == 64
    args = torch.load(out/'training_args.bin', weights_only=False)            # what the Trainer ran with
    assert args.optim == 'adafactor' and args.adam_beta2 == 0.95
    card = (out/'README.md').read_text()
    for want in (str(llm), str(vit), str(Path(man).resolve()), '(4 training cases)', '`sft`', 'optim: adafactor',
                 'AutoModelForImageTextToText.from_pretrained', "volumes=['scan.nii.gz']", 'pipeline_tag: image-text-to-text'):
        assert want in card, want
    assert 'fine-tuned version of' not in card and 'base_model:' not in card  # a local folder: named in the text only
    preds = tmp_path/'preds.jsonl'
    g = subprocess.run([*cli('generate'), str(out), str(root/'v4.nii.gz'), '--out', str(preds), '--max_new_tokens', '8'],
                       capture_output=True, text=True, env=cli_env(), timeout=600)
    assert g.returncode == 0, g.stderr[-3000:]
    rec = json.loads(preds.read_text().splitlines()[0])
    assert rec['status'] == 'ok' and isinstance(rec['report'], str)


# ---- point 3: recipes speak TrainingArguments ------------------------------------------------------------------------

def test_pass_through_fields_reach_the_trainers_and_typos_are_refused(tmp_path, capsys):
    from mu2llm.train.dpo import dpo_config
    from mu2llm.train.recipes import DPORecipe, SFTRecipe
    from mu2llm.train.sft import sft_config
    a = sft_config(SFTRecipe.preset_named('tiny', optim='adafactor', lr_scheduler_kwargs={'min_lr': 1e-6}, torch_compile=False), tmp_path)
    assert a.optim == 'adafactor' and a.lr_scheduler_kwargs == {'min_lr': 1e-6}
    d = dpo_config(DPORecipe.preset_named('tiny', adam_beta2=0.95, disable_dropout=False), tmp_path)
    assert d.adam_beta2 == 0.95 and d.disable_dropout is False and d.loss_type == ['sigmoid']
    man = tmp_path/'m.jsonl'; man.write_text('')
    base = ['train', '--stage', 'sft', '--preset', 'tiny', '--manifest', man, '--out', tmp_path/'o']
    for extra, want in ((['optimm=adafactor'], "unknown setting 'optimm' (did you mean 'optim'?)"),
                        (['lerning_rate=1e-4'], "did you mean 'learning_rate'?"),
                        (['optim=adamw_troch'], "did you mean 'adamw_torch'?"),
                        (['adam_beta2=high'], 'sft.adam_beta2 must be float'),
                        (['packing=true'], 'sft.packing is set by mu2llm')):
        code, err = _main(base + extra, capsys)
        assert code == 2 and want in err, (extra, err)
    (tmp_path/'init').mkdir()
    code, err = _main(['train', '--stage', 'dpo', '--preset', 'tiny', '--manifest', man, '--pairs', man, '--out', tmp_path/'d',
                       f"init={tmp_path/'init'}", 'label_smoothing=0.1'], capsys)
    assert code == 2 and 'computes its loss itself' in err, err
    assert not (tmp_path/'o').exists() and not (tmp_path/'d').exists()


def test_help_lists_the_recipe_fields():
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', '--help'], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    text = ' '.join(r.stdout.split())
    for f in ('llm', 'vision_weights', 'random_llm', 'init', 'learning_rate', 'warmup_steps', 'global_batch_size', 'beta', 'ref_mode',
              'rpo_alpha', 'TrainingArguments / SFTConfig / DPOConfig', 'optim=adafactor'):
        assert f in text, f


def test_the_model_card_is_what_push_to_hub_publishes(tmp_path, monkeypatch):
    "push_to_hub=true and hub_model_id pass through; the Hub upload (faked here: no network) carries mu2llm's card."
    import transformers.trainer
    from mu2llm.core.base import set_seed
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.llm import offline_tokenizer
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.dpo import Mu2DPOTrainer
    from mu2llm.train.recipes import ModelCardMixin, SFTRecipe
    from mu2llm.train.sft import sft_trainer

    uploads = []
    class FakeHub:
        def create_repo(self, name, **kw): return types.SimpleNamespace(repo_id=name)
        def upload_folder(self, repo_id, folder_path, **kw):
            readme = Path(folder_path)/'README.md'
            uploads.append(dict(repo_id=repo_id, readme=readme.read_text() if readme.exists() else None,
                                files=sorted(p.name for p in Path(folder_path).iterdir())))
            return types.SimpleNamespace(done=lambda: True)                  # a finished upload (`run_as_future`)
    monkeypatch.setattr(transformers.trainer, 'hf_api', lambda: FakeHub())
    tok = offline_tokenizer()
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'tiny', num_image_tokens=4)
    set_seed(0)
    model = Mu2LLMForConditionalGeneration(Mu2LLMConfig.preset('tiny', tokenizer=tok))
    data = [dict(id=str(i), pixel_values=torch.rand(tuple(proc.prep.output_shape)), report=r, question=None, answer=None, task='report')
            for i, r in enumerate(REPORTS)]
    rec = SFTRecipe.preset_named('tiny', max_steps=1, push_to_hub=True, hub_model_id='someone/mu2llm-tiny', save_steps=1000)
    card = dict(stage='sft', preset='tiny', recipe=rec.to_dict(), base_llm='/models/Llama-3.2-1B-Instruct',
                vision_weights='/models/M3D-CLIP/pretrained_ViT.bin', manifest='/data/ctrate/cache/manifest.jsonl', n_train=4)
    tr = sft_trainer(model, proc, data, rec, tmp_path/'out', card=card)
    assert tr.args.push_to_hub and tr.args.hub_model_id == 'someone/mu2llm-tiny'
    tr.train()
    tr.push_to_hub()
    assert uploads and uploads[-1]['repo_id'] == 'someone/mu2llm-tiny'
    published = uploads[-1]['readme']
    assert published == (tmp_path/'out'/'README.md').read_text()
    for want in ('/models/Llama-3.2-1B-Instruct', '/models/M3D-CLIP/pretrained_ViT.bin', '/data/ctrate/cache/manifest.jsonl',
                 "from_pretrained('someone/mu2llm-tiny')", 'push_to_hub: true', 'pipeline_tag: image-text-to-text'):
        assert want in published, want
    assert 'fine-tuned version of' not in published
    assert Mu2DPOTrainer.create_model_card is ModelCardMixin.create_model_card
