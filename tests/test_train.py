"""mu2llm_train end to end: 2-process DDP on CPU, SIGKILL then the same command resumes, LoRA adapters, --help (tiny preset)."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

pytest.importorskip('mu2llm.data.preprocess')
pytest.importorskip('mu2llm.model.processing_mu2llm')
from safetensors.torch import load_file

from mu2llm.data.cache import prep_manifest
from mu2llm.data.manifest import ManifestRow, write_manifest
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti

from _helpers import cli_env

REPORTS = ['There is a 12 mm nodule in the right upper lobe.', 'Small left pleural effusion.',
           'Cardiomegaly. The heart is enlarged.', 'The lungs are clear. No pleural effusion.']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "Six tiny NIfTI volumes (4 train, 2 val) prepared with the tiny preprocessing preset."
    root = tmp_path_factory.mktemp('train_data')
    rows = []
    for i in range(6):
        write_nifti(root/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'toy', 'train' if i < 4 else 'val', f'p{i}', report=REPORTS[i % 4]))
    write_manifest(root/'m.jsonl', rows)
    prep_manifest(root/'m.jsonl', root/'cache', config='tiny', workers=0)
    return root/'cache'/'manifest.jsonl', root/'cache'


_env = cli_env


def _cmd(man, cache, out, *extra):
    return ['--preset', 'tiny', '--manifest', str(man), '--cache', str(cache), '--out', str(out), *extra]


def _load(out):
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    return Mu2LLMForConditionalGeneration.from_pretrained(out).eval(), Mu2LLMProcessor.from_pretrained(out)


def _batch(proc, cache, man, n=2):
    from mu2llm.data.dataset import CTReportDataset
    from mu2llm.train.sft import Mu2SFTCollator
    ds = CTReportDataset(man, cache, split='train')
    return Mu2SFTCollator(proc, 128)([ds[i] for i in range(n)])


def test_help_documents_every_option():
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', '--help'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    for opt in ('--preset', '--recipe', '--run', '--manifest', '--cache', '--pairs', '--out', '--stage', '--force', 'overrides'):
        assert opt in r.stdout, opt
    assert 'warmup' in r.stdout and 'key=value' in r.stdout


def test_two_process_torchrun(data, tmp_path):
    man, cache = data
    out = tmp_path/'ddp'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'mu2llm.cli', 'train',
           *_cmd(man, cache, out, 'max_steps=4', 'eval_steps=2')]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((out/'ranks'/f'rank{i}.json').read_text()) for i in range(2)]
    assert [d['rank'] for d in ranks] == [0, 1]
    assert all(d['world_size'] == 2 and d['global_step'] == 4 and d['steps_this_run'] == 4 for d in ranks)
    assert ranks[0]['pid'] != ranks[1]['pid']
    summ = json.loads((out/'train_summary.json').read_text())
    assert summ['world_size'] == 2 and summ['eval_loss']
    model, proc = _load(out)
    with torch.no_grad(): out_ = model(**_batch(proc, cache, man))
    assert torch.isfinite(out_.logits).all() and torch.isfinite(out_.loss)


def _wait_for_checkpoint(proc, out, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        done = [p for p in out.glob('checkpoint-*') if (p/'processor_config.json').exists()]
        if done: return done
        if proc.poll() is not None: return []
        time.sleep(0.02)
    return []


def test_sigkill_then_resume_matches_uninterrupted_run(data, tmp_path):
    man, cache = data
    args = ['max_steps=100', 'save_steps=20', 'save_total_limit=50']
    ref = tmp_path/'ref'
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', *_cmd(man, cache, ref, *args)], capture_output=True,
                       text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path/'killed'
    p = subprocess.Popen([sys.executable, '-m', 'mu2llm.cli', 'train', *_cmd(man, cache, out, *args)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    ckpts = _wait_for_checkpoint(p, out)
    p.send_signal(signal.SIGKILL); p.wait()
    assert ckpts, 'no checkpoint appeared before the run ended'
    assert not (out/'model.safetensors').exists(), 'the run finished before it was killed: the test proves nothing'
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', *_cmd(man, cache, out, *args)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    summ = json.loads((out/'train_summary.json').read_text())
    assert summ['resumed_from'] and summ['global_step'] == 100
    a, b = load_file(ref/'model.safetensors'), load_file(out/'model.safetensors')
    assert a.keys() == b.keys()
    # the same computation in the same order on the same CPU (data order and RNG restored from the checkpoint):
    # bit-equal here (0.0); the 1e-6 bound only allows for a BLAS that reorders sums between runs
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f'max |w_resumed - w_uninterrupted| = {diff:.3g}')
    assert diff <= 1e-6, diff
    # and training did move the weights (so equality is not trivial)
    init = load_file(next(iter(sorted(ref.glob('checkpoint-20'))))/'model.safetensors')
    assert max((a[k] - init[k]).abs().max().item() for k in a) > 1e-3


def test_lora_adapter_loads_merges_and_generates_the_same(data, tmp_path):
    from peft import PeftModel
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.launch import load_recipe, train
    man, cache = data
    out = tmp_path/'lora'
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    train(load_recipe('tiny', ['mode=lora', 'max_steps=10', 'learning_rate=1e-2']), man, cache, out)
    assert (out/'adapter'/'adapter_config.json').exists() and (out/'base'/'model.safetensors').exists()
    proc = Mu2LLMProcessor.from_pretrained(out/'adapter')
    b = _batch(proc, cache, man, 1)
    enc = proc(volumes=[b['pixel_values'][0]])
    gen = dict(max_new_tokens=12, do_sample=False, pad_token_id=proc.tokenizer.pad_token_id)

    base = Mu2LLMForConditionalGeneration.from_pretrained(out/'base').eval()
    with torch.no_grad(): base_logits = base(**enc).logits
    peft_model = PeftModel.from_pretrained(Mu2LLMForConditionalGeneration.from_pretrained(out/'base'), out/'adapter').eval()
    with torch.no_grad():
        lora_logits = peft_model(**enc).logits
        lora_ids = peft_model.generate(**enc, **gen)
    assert (lora_logits - base_logits).abs().max() > 1e-3           # the adapter changes the model
    merged = peft_model.merge_and_unload().eval()
    with torch.no_grad():
        merged_ids = merged.generate(**enc, **gen)
        torch.testing.assert_close(merged(**enc).logits, lora_logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(lora_ids, merged_ids)
    saved, _ = _load(out)                                            # out/ holds the merged model
    with torch.no_grad(): assert torch.equal(saved.generate(**enc, **gen), lora_ids)
    print(repr(proc.tokenizer.decode(lora_ids[0, enc['input_ids'].shape[1]:])))


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT/'configs').exists(), reason='repository configs/ not present')
def test_shipped_recipes_and_accelerate_configs():
    from accelerate.commands.config.config_args import load_config_from_file
    from mu2llm.core.presets import PRESETS, Recipe
    for name in PRESETS:   # the YAML files restate the package's presets exactly (tools/recipes.py writes them)
        assert Recipe.load(ROOT/f'configs/recipes/{name}.yaml') == Recipe.load(name), name
    assert sorted(p.stem for p in (ROOT/'configs'/'recipes').glob('*.yaml')) == sorted(PRESETS)
    for name, kind in (('zero2', 'DEEPSPEED'), ('zero3', 'DEEPSPEED'), ('fsdp', 'FSDP')):
        c = load_config_from_file(str(ROOT/f'configs/accelerate/{name}_4gpu.yaml'))
        assert c.distributed_type.name == kind and c.num_processes == 4 and c.mixed_precision == 'bf16'
        if kind == 'DEEPSPEED':
            ds = json.loads((ROOT/c.deepspeed_config['deepspeed_config_file']).read_text())
            assert ds['zero_optimization']['stage'] == int(name[-1])
            if name == 'zero3': assert ds['zero_optimization']['stage3_gather_16bit_weights_on_model_save'] is True
        else: assert c.fsdp_config['fsdp_use_orig_params'] is True   # partial freezing (align stage) needs it


@pytest.mark.skipif(not (ROOT/'configs'/'slurm').exists(), reason='repository configs/ not present')
def test_slurm_examples_and_the_deepspeed_extra():
    "configs/slurm: one node with 4 GPUs and two nodes, valid bash, starting mu2llm_train with the shipped ZeRO-2 config."
    import runpy, shutil
    from unittest import mock
    scripts = {p.name: p.read_text() for p in (ROOT/'configs'/'slurm').glob('*.sbatch')}
    assert sorted(scripts) == ['train_1node_4gpu.sbatch', 'train_2nodes_8gpu.sbatch']
    for name, text in scripts.items():
        if shutil.which('bash'):
            r = subprocess.run(['bash', '-n', str(ROOT/'configs'/'slurm'/name)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        assert '#SBATCH --gpus-per-node=4' in text and 'configs/accelerate/zero2_4gpu.yaml' in text
        assert '-m mu2llm.cli train --stage "$STAGE" --preset "$PRESET"' in text
        assert 'llm="$LLM" vision_weights="$VIT"' in text and 'init="$INIT"' in text
    assert '#SBATCH --nodes=1' in scripts['train_1node_4gpu.sbatch'] and '#SBATCH --nodes=2' in scripts['train_2nodes_8gpu.sbatch']
    assert '--num_machines 2 --num_processes 8 --machine_rank "$SLURM_NODEID"' in scripts['train_2nodes_8gpu.sbatch']
    got = {}
    with mock.patch('setuptools.setup', lambda **kw: got.update(kw)): runpy.run_path(str(ROOT/'setup.py'))
    assert any(r.startswith('deepspeed') for r in got['extras_require']['deepspeed'])        # pip install -e .[deepspeed]
    assert 'mu2llm_manifest=mu2llm.cli.commands:mu2llm_manifest' in got['entry_points']['console_scripts']


def test_align_trains_only_projector_and_tokenizer_then_full_starts_from_it(data, tmp_path):
    from mu2llm.train.launch import build_model, load_recipe, train
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    man, cache = data
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    rec = load_recipe('tiny', ['mode=align', 'max_steps=5'])
    train(rec, man, cache, tmp_path/'align')
    after = load_file(tmp_path/'align'/'model.safetensors')
    before = build_model(rec, Mu2LLMProcessor.from_pretrained(tmp_path/'align')).state_dict()   # same seed, same init
    moved = {k.split('.')[1] for k in after if k.startswith('model.') and not torch.equal(after[k], before[k])}
    assert moved == {'projector', 'mu2_tokenizer'}, moved
    assert torch.equal(after['lm_head.weight'], before['lm_head.weight'])
    s = train(load_recipe('tiny', ['max_steps=2', f'init={tmp_path/"align"}']), man, cache, tmp_path/'full')
    assert s['global_step'] == 2
    full = load_file(tmp_path/'full'/'model.safetensors')
    assert not torch.equal(full['model.language_model.layers.0.mlp.up_proj.weight'],
                           after['model.language_model.layers.0.mlp.up_proj.weight'])   # now the LLM trains too


def test_encoder_stage_trains_only_the_vit_then_sft_keeps_it_frozen(data, tmp_path):
    "mu2llm_train --stage warmup: only the ViT moves, the whole model is saved and loads; SFT from it can freeze it."
    from mu2llm.train.launch import build_model, load_recipe, train
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from _helpers import cli
    man, cache = data
    out = tmp_path/'enc'
    r = subprocess.run([*cli('train'), '--stage', 'warmup', '--preset', 'tiny', '--manifest', str(man), '--cache', str(cache),
                        '--out', str(out), 'max_steps=6'], capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    after = load_file(out/'model.safetensors')
    rec = load_recipe('tiny', ['max_steps=6'], section='warmup')
    before = build_model(rec, Mu2LLMProcessor.from_pretrained(out)).state_dict()           # same seed, same init
    moved = {k.split('.')[1] for k in after if k.startswith('model.') and not torch.equal(after[k], before[k])}
    assert moved == {'vision_tower'}, moved
    assert not any('head' in k and 'lm_head' not in k for k in after)                        # the probe's head is not kept
    s = json.loads((out/'train_summary.json').read_text())
    assert s['stage'] == 'warmup' and s['mode'] == 'encoder' and s['global_step'] == 6 and len(s['loss']) > 0
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    train(load_recipe('tiny', ['max_steps=2', f'init={out}', 'freeze_encoder=true']), man, cache, tmp_path/'sft')
    sft = load_file(tmp_path/'sft'/'model.safetensors')
    assert all(torch.equal(sft[k], after[k]) for k in after if '.vision_tower.' in k)
    assert not torch.equal(sft['model.language_model.layers.0.mlp.up_proj.weight'], after['model.language_model.layers.0.mlp.up_proj.weight'])


def test_llm_weights_load_from_a_local_folder(tmp_path):
    from transformers import LlamaForCausalLM
    from mu2llm.train.sft import SFTRecipe
    from mu2llm.model.llm import offline_tokenizer, llm_config
    from mu2llm.train.launch import build_model, build_processor
    tok = offline_tokenizer()
    tok.save_pretrained(tmp_path/'llm')
    lm = LlamaForCausalLM(llm_config(tok, 'tiny')); lm.save_pretrained(tmp_path/'llm')
    r = SFTRecipe.preset_named('tiny', llm=str(tmp_path/'llm'))
    m = build_model(r, build_processor(r))
    assert torch.equal(m.model.language_model.layers[1].self_attn.q_proj.weight, lm.model.layers[1].self_attn.q_proj.weight)
    assert torch.equal(m.lm_head.weight, lm.lm_head.weight)
