"""DPO (mu2llm.train.dpo): the trainer's loss and margins equal a direct computation from logits in every reference
mode; `mu2llm_train --stage dpo` end to end (subprocess), resume, LoRA, two processes (tiny preset)."""
import copy, json, math, os, subprocess, sys

import pytest
import torch

from mu2llm.data.cache import prep_manifest
from mu2llm.core.files import append_jsonl
from mu2llm.core.base import set_seed
from mu2llm.data.manifest import ManifestRow, write_manifest
from mu2llm.model.llm import offline_tokenizer
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti

from _helpers import cli_env

REPORTS = ['There is a 12 mm nodule in the right upper lobe.', 'Small left pleural effusion.',
           'Cardiomegaly. The heart is enlarged.', 'The lungs are clear. No pleural effusion.']


# ---------------------------------------------------------------------------------------------------------------
# the loss path against a direct computation

def _direct_logps(model, batch):
    "log_softmax of the model's own logits, gathered at the answer tokens (labels shifted by one), summed per row."
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'],
                       prompt_mask=batch['prompt_mask'], pixel_values=batch['pixel_values']).logits
    logp = torch.log_softmax(logits.double(), -1)
    out = []
    for i in range(batch['input_ids'].shape[0]):
        s = 0.
        for t in range(1, batch['labels'].shape[1]):
            y = batch['labels'][i, t].item()
            if y != -100: s += logp[i, t - 1, y].item()
        out.append(s)
    return torch.tensor(out, dtype=torch.float64)


@pytest.fixture(scope='module')
def toy():
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.train.dpo import PairDataset
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    tok = offline_tokenizer()
    cfg = Mu2LLMConfig.preset('tiny', tokenizer=tok)
    proc = Mu2LLMProcessor.from_tokenizer(tok, 'tiny', num_image_tokens=cfg.tokenizer_config.n_queries)
    set_seed(0)
    vols = [dict(id=f'c{i}', pixel_values=torch.rand(tuple(proc.prep.output_shape))) for i in range(3)]
    pairs = PairDataset([dict(id='c0', chosen=REPORTS[0], rejected=REPORTS[1], question=None),
                         dict(id='c1', chosen=REPORTS[2], rejected='No cardiomegaly.', question=None),
                         dict(id='c2', chosen='yes', rejected='no', question='Is there a pleural effusion?')], vols)
    set_seed(0)
    return proc, pairs, Mu2LLMForConditionalGeneration(cfg).eval()


@pytest.mark.parametrize('mode,rpo_alpha', [('copy', None), ('lora', None), ('precomputed', None), ('precomputed', 0.5)])
def test_trainer_loss_and_margins_equal_direct_computation(toy, mode, rpo_alpha, tmp_path):
    from mu2llm.train.dpo import DPORecipe, dpo_trainer
    from mu2llm.train.sft import set_trainable
    proc, pairs, start = toy
    beta = 0.1
    rec = DPORecipe.preset_named('tiny', ref_mode=mode, max_steps=1, rpo_alpha=rpo_alpha)
    policy = set_trainable(copy.deepcopy(start), rec.train_mode, rec.lora, verbose=False)
    tr = dpo_trainer(policy, proc, pairs, rec, tmp_path, save_strategy='no')
    # move the policy away from the reference (the reference is fixed at construction in every mode)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in tr.model.parameters():
            if p.requires_grad: p.add_(0.05 * torch.randn(p.shape, generator=g))
    rows = [tr.train_dataset[i] for i in range(len(pairs))]
    batch = tr.data_collator(rows)
    if mode == 'precomputed': assert 'ref_chosen_logps' in batch
    tr.model.train()
    with torch.no_grad():
        o = tr.dpo_forward(tr.model, batch)
        loss = tr.compute_loss(tr.model, batch).item()
    # direct: the perturbed policy's logits, and the *starting* model's logits for the reference
    pol = _direct_logps(tr.model, batch)
    ref = _direct_logps(start, batch)
    B = len(pairs)
    pc, pr, rc, rr = pol[:B], pol[B:], ref[:B], ref[B:]
    margins = beta * ((pc - rc) - (pr - rr))
    want = -torch.nn.functional.logsigmoid(margins).mean().item()
    assert abs(want - math.log(2)) > 1e-3, 'the policy still equals the reference: the check would be trivial'
    if rpo_alpha:   # RPO: plus alpha x the chosen answers' negative log-likelihood per answer token
        n_tok = torch.tensor([sum(int(y != -100) for y in batch['labels'][i, 1:].tolist()) for i in range(B)], dtype=torch.float64)
        want += rpo_alpha * (-(pc / n_tok).mean().item())
        assert o['nll'].item() == pytest.approx(-(pc / n_tok).mean().item(), abs=5e-5)
    print(mode, rpo_alpha, 'trainer loss', loss, 'direct', want)
    assert loss == pytest.approx(want, abs=1e-5 if not rpo_alpha else 5e-5)   # fp32 log-probs within 2e-4, / tokens
    torch.testing.assert_close(o['policy_chosen'].double(), pc, atol=2e-4, rtol=1e-5)
    torch.testing.assert_close(o['policy_rejected'].double(), pr, atol=2e-4, rtol=1e-5)
    torch.testing.assert_close(o['ref_chosen'].double(), rc, atol=2e-4, rtol=1e-5)
    torch.testing.assert_close(o['ref_rejected'].double(), rr, atol=2e-4, rtol=1e-5)
    torch.testing.assert_close((o['policy_chosen'] - o['policy_rejected']).double(), pc - pr, atol=2e-4, rtol=1e-5)
    torch.testing.assert_close(o['margins'].double(), margins, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(o['rewards_chosen'].double(), beta * (pc - rc), atol=2e-5, rtol=1e-5)
    # the metrics TRL logs come from the same numbers
    m = tr._metrics['train']
    assert m['rewards/margins'][-1] == pytest.approx(margins.mean().item(), abs=1e-5)
    assert m['rewards/accuracies'][-1] == pytest.approx((margins > 0).double().mean().item())


# ---------------------------------------------------------------------------------------------------------------
# mu2llm_train --stage dpo

_env = cli_env


@pytest.fixture(scope='module')
def sft_run(tmp_path_factory):
    "Four tiny prepared volumes, a short SFT run (the DPO init) and a pairs file."
    from mu2llm.train.launch import load_recipe, train
    os.environ['MU2LLM_NO_PROGRESS'] = '1'
    root = tmp_path_factory.mktemp('dpo_data')
    rows = []
    for i in range(4):
        write_nifti(root/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'toy', 'train', f'p{i}', report=REPORTS[i]))
    write_manifest(root/'m.jsonl', rows)
    prep_manifest(root/'m.jsonl', root/'cache', config='tiny', workers=0)
    man, cache = root/'cache'/'manifest.jsonl', root/'cache'
    train(load_recipe('tiny', ['max_steps=4']), man, cache, root/'sft')
    bad = ['No abnormality.', 'Normal chest CT.', 'The study is unremarkable.', 'No acute findings.']
    append_jsonl(root/'pairs.jsonl', [dict(id=f'v{i}', chosen=REPORTS[i], rejected=bad[i], chosen_score=1.0,
                                           rejected_score=0.2, question=None) for i in range(4)])
    return man, cache, root/'sft', root/'pairs.jsonl'


def _dpo_cmd(sft_run, out, *extra):
    man, cache, sft, pairs = sft_run
    return [sys.executable, '-m', 'mu2llm.cli', 'train', '--stage', 'dpo', '--preset', 'tiny', '--manifest', str(man),
            '--cache', str(cache), '--out', str(out), '--pairs', str(pairs), f'init={sft}', *extra]


def _weights(path):
    from safetensors.torch import load_file
    return load_file(path/'model.safetensors')


@pytest.fixture(scope='module')
def dpo_run(sft_run, tmp_path_factory):
    "An uninterrupted 6-step DPO run (precomputed reference) through the command line."
    out = tmp_path_factory.mktemp('dpo')/'full'
    r = subprocess.run(_dpo_cmd(sft_run, out, 'ref_mode=precomputed', 'max_steps=6', 'save_steps=3', 'learning_rate=2e-3'),
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'mu2llm_train: dpo: steps 6' in r.stdout, r.stdout
    return out


def test_help_documents_dpo():
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', '--help'], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    for opt in ('--pairs', '--stage', 'dpo', 'init=', '--run'): assert opt in r.stdout, opt


def test_cli_dpo_end_to_end_loads_and_prefers_chosen(sft_run, dpo_run):
    from mu2llm.data.dataset import CTReportDataset
    from mu2llm.train.dpo import Mu2DPOCollator, PairDataset, sequence_logps
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    man, cache, sft, pairs = sft_run
    s = json.loads((dpo_run/'train_summary.json').read_text())
    assert s['stage'] == 'dpo' and s['ref_mode'] == 'precomputed' and s['global_step'] == 6 and s['n_pairs'] == 4
    assert s['precompute_seconds'] > 0 and len(s['rewards_margins']) == 6
    assert (dpo_run/'ref_logps.json').exists() and (dpo_run/'checkpoint-3'/'processor_config.json').exists()
    proc = Mu2LLMProcessor.from_pretrained(dpo_run)
    ds = PairDataset(pairs, CTReportDataset(man, cache, split='train'))
    b = Mu2DPOCollator(proc, 128)([ds[i] for i in range(4)])
    margin = {}
    for name, path in (('sft', sft), ('dpo', dpo_run)):
        m = Mu2LLMForConditionalGeneration.from_pretrained(path).eval()
        with torch.no_grad(): lp = sequence_logps(m, b)
        margin[name] = (lp[:4] - lp[4:]).mean().item()
    print('mean chosen-rejected log-prob margin', margin)
    assert margin['dpo'] > margin['sft'] + 0.5


def test_cli_dpo_resume_matches_uninterrupted(sft_run, dpo_run, tmp_path):
    "A DPO run stopped after its step-3 checkpoint, started again with the same command, ends where an uninterrupted run does."
    import shutil
    out = tmp_path/'resumed'
    args = ['ref_mode=precomputed', 'max_steps=6', 'save_steps=3', 'learning_rate=2e-3']
    r = subprocess.run(_dpo_cmd(sft_run, out, *args), capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the state a kill right after checkpoint-3 leaves: the stage's attempt record, no summary, no final model
    fp = json.loads((out/'summary.json').read_text())['fingerprint']
    for f in ('model.safetensors', 'summary.json', 'train_summary.json'): (out/f).unlink()
    shutil.rmtree(out/'checkpoint-6')
    (out/'attempt.json').write_text(json.dumps(dict(stage='dpo', fingerprint=fp)))
    cache_mtime = (out/'ref_logps.json').stat().st_mtime
    r = subprocess.run(_dpo_cmd(sft_run, out, *args), capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out/'train_summary.json').read_text())
    assert s['resumed_from'].endswith('checkpoint-3') and s['global_step'] == 6
    assert (out/'ref_logps.json').stat().st_mtime == cache_mtime    # reference log-probs reused, not recomputed
    a, b = _weights(dpo_run), _weights(out)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f'max |w_resumed - w_uninterrupted| = {diff:.3g}')
    assert diff <= 1e-6
    init = _weights(sft_run[2])
    assert max((a[k] - init[k]).abs().max().item() for k in a) > 1e-3     # DPO moved the weights
    r = subprocess.run(_dpo_cmd(sft_run, out, *args[:-1], 'learning_rate=1e-3'), capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 2 and 'other settings' in r.stderr and '--force' in r.stderr   # a finished run is never overwritten silently


def test_dpo_lora_saves_adapter_and_merged_model(sft_run, tmp_path):
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.train.launch import load_recipe, train_dpo
    man, cache, sft, pairs = sft_run
    out = tmp_path/'lora'
    s = train_dpo(load_recipe('tiny', [f'init={sft}', 'ref_mode=lora', 'max_steps=3', 'learning_rate=1e-2'], section='dpo'),
                  pairs, man, cache, out)
    assert s['mode'] == 'lora' and s['global_step'] == 3
    assert (out/'adapter'/'adapter_config.json').exists()
    merged = Mu2LLMForConditionalGeneration.from_pretrained(out)                  # the merged model loads as a plain μ²LLM
    assert not any('lora' in k for k in merged.state_dict())
    a, init = _weights(out), _weights(sft)
    assert a.keys() == init.keys()
    assert max((a[k] - init[k]).abs().max().item() for k in a) > 1e-4       # adapters (merged) changed the LLM


def test_dpo_two_processes(sft_run, tmp_path):
    out = tmp_path/'ddp'
    cmd = _dpo_cmd(sft_run, out, 'ref_mode=precomputed', 'max_steps=2', 'per_device_train_batch_size=1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2'] + cmd[1:]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ranks = [json.loads((out/'ranks'/f'rank{i}.json').read_text()) for i in range(2)]
    assert all(d['world_size'] == 2 and d['global_step'] == 2 for d in ranks)
    s = json.loads((out/'train_summary.json').read_text())
    assert s['world_size'] == 2
