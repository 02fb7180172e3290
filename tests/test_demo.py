"""The demo pipeline end to end at the `tiny` size (toy data generator, few steps): the files it writes, the table it
prints, and that a scored table is consistent with the predictions on disk."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import pytest

from mu2llm.core.files import read_jsonl
from mu2llm.data.manifest import ManifestRow, read_manifest, write_manifest
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti


def toy_phantoms(folder, n, seed):
    "Toy generator with the demo's `make_data` contract: a bright sphere (nodule) left or right, or none."
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    rng, rows = np.random.default_rng(seed), []
    for i in range(n):
        hu = tiny_hu(seed=seed * 1000 + i).astype(np.int16)
        kind = ['left', 'right', None][i % 3]
        size = float(rng.choice([6.0, 14.0, 24.0]))
        if kind:
            X, Y, Z = hu.shape
            c = (int(X * (0.3 if kind == 'left' else 0.7)), Y // 2, Z // 2)
            g = np.stack(np.meshgrid(*[np.arange(s) for s in hu.shape], indexing='ij'))
            hu[((g - np.array(c)[:, None, None, None]) ** 2).sum(0) <= (size / 4) ** 2] = 60
            rep = f'There is a {size:.0f} mm nodule in the {kind} upper lobe. No pleural effusion.'
            truth = {'findings': {'lung_nodule': {'present': True, 'side': kind, 'size_mm': size}}}
        else:
            rep, truth = 'The lungs are clear. No nodule. No pleural effusion.', {'findings': {}}
        write_nifti(folder/f'c{i:03d}.nii.gz', hu, spacing=(4., 4., 4.))
        (folder/f'c{i:03d}.truth.json').write_text(json.dumps(truth))
        rows.append(ManifestRow(id=f'c{i:03d}', volume=f'c{i:03d}.nii.gz', dataset='toy', split='train',
                                patient_id=f's{seed}-{i}', task='report', report=rep, meta={'truth': f'c{i:03d}.truth.json'}))
    write_manifest(folder/'manifest.jsonl', rows)
    return folder/'manifest.jsonl'


def toy_stage(ctx):
    "The `phantoms` stage with the toy generator: training and held-out sets from two seeds, one manifest."
    from mu2llm.data.phantoms import combine_splits
    c = ctx.cfg
    parts = {'train': toy_phantoms(ctx.out/'train', c['n_train'], c['seed']),
             'test': toy_phantoms(ctx.out/'test', c['n_test'], c['seed'] + 100_000)}
    return dict(outputs=dict(manifest=combine_splits(ctx.out/'manifest.jsonl', parts)))


OVERRIDES = ['phantoms.n_train=6', 'phantoms.n_test=3', 'warmup.max_steps=3', 'sft.max_steps=4', 'sft.freeze_encoder=true',
             'prefs.num_return_sequences=4', 'dpo.max_steps=2', 'dpo.ref_mode=precomputed', 'dpo.rpo_alpha=1.0',
             'dpo.freeze_encoder=true', 'generate.max_new_tokens=12', 'eval.n_boot=200',
             # the demo preset's tokenizer fixes and finding loss, so that the whole chain runs with them
             'tokenizer.dts_init=local', 'tokenizer.positions=true', 'tokenizer.gate_input=stats', 'tokenizer.out_norm=true',
             'sft.finding_loss=1.0']


def test_demo_pipeline_tiny(tmp_path, capsys):
    from mu2llm.cli.demo import run_demo
    from mu2llm.eval.heldout import finding_scores
    from mu2llm.score.labeller import extract_findings
    out = tmp_path/'demo'
    res = run_demo(out, 'tiny', OVERRIDES, seed=1, workers=0, fns={'phantoms': toy_stage})
    printed = capsys.readouterr().out
    for f in ('phantoms/manifest.jsonl', 'prep/manifest.jsonl', 'warmup/config.json', 'sft/config.json', 'sft/processor_config.json',
              'prefs/pairs.jsonl', 'prefs/prefs_summary.json', 'dpo/config.json', 'dpo/train_summary.json',
              'paper_dpo/pairs.jsonl', 'paper_dpo/config.json', 'generate/preds_paper_dpo.jsonl', 'generate/preds_paper_dpo_blank.jsonl',
              'generate/preds_blank.jsonl', 'generate/preds_blank_mean.jsonl', 'generate/preds_sft.jsonl', 'generate/preds_dpo.jsonl', 'eval/sft/summary.json',
              'eval/dpo/cases.jsonl', 'eval/results.json', 'eval/results.md'):
        assert (out/f).exists(), f
    for stage in ('phantoms', 'prep', 'warmup', 'align', 'sft', 'prefs', 'dpo', 'paper_dpo', 'generate', 'eval'):
        s = json.loads((out/stage/'summary.json').read_text())             # every stage wrote the contract's summary
        assert s['status'] == 'done' and s['fingerprint'] and s['versions']['torch'] and not (out/stage/'attempt.json').exists()
    for row in ('| blank-volume control |', '| mean-volume control |', 'gain over the mean-volume control', '| SFT |', '| SFT+DPO |', '| SFT+DPO, blank volume |', 'finding F1 gain', 'GREEN (rule) gain of DPO over SFT',
                "| SFT+paper's DPO |", "| SFT+paper's DPO, blank volume |", "GREEN (rule) gain of the paper's DPO over SFT"):
        assert row in printed, row
    assert all(f'[{k}/10]' in printed for k in range(1, 11))
    # SFT started from the warmed encoder and kept it frozen
    from safetensors.torch import load_file
    enc, sft, dpo_w = (load_file(next((out/d).glob('*.safetensors'))) for d in ('warmup', 'sft', 'dpo'))
    vit = [k for k in enc if 'vision_tower' in k]
    assert vit and all(torch.equal(enc[k], sft[k]) and torch.equal(enc[k], dpo_w[k]) for k in vit)
    assert not all(torch.equal(enc[k], sft[k]) for k in enc if 'language_model' in k)
    assert Path(json.loads((out/'sft'/'recipe.json').read_text())['init']).resolve() == (out/'align').resolve()   # SFT starts from the aligned image path (warm-up -> align -> SFT)
    # the truth came from the truth files, and the test cases are disjoint from the training cases
    assert res['truth_source'] == ['truth_file']
    rows = read_jsonl(out/'phantoms'/'manifest.jsonl')
    assert sorted(r['split'] for r in rows) == ['test'] * 3 + ['train'] * 6
    preds, blank, dpo = (read_jsonl(out/'generate'/f'preds_{k}.jsonl') for k in ('sft', 'blank', 'dpo'))
    assert [p['id'] for p in preds] == [p['id'] for p in blank] == [p['id'] for p in dpo] == [r['id'] for r in rows if r['split'] == 'test']
    assert all(p['status'] == 'ok' for p in preds + blank + dpo) and blank[0]['settings']['blank_volume']
    assert dpo[0]['checkpoint'].endswith('dpo') and preds[0]['checkpoint'].endswith('sft')
    # the neutral control is the voxel-wise mean of the prepared training volumes
    from mu2llm.data.dataset import CTReportDataset
    from mu2llm.eval.heldout import mean_volume
    prep_rows = [r for r in read_manifest(out/'prep'/'manifest.jsonl') if r.split == 'train']
    want = torch.stack([it['pixel_values'].float() for it in CTReportDataset(prep_rows, out/'prep')]).mean(0)
    assert torch.allclose(mean_volume(out/'prep'/'manifest.jsonl', out/'prep'), want, atol=1e-5)
    assert res['f1_gain_mean'] == pytest.approx(res['sft']['findings']['overall']['f1'] - res['blank_mean']['findings']['overall']['f1'])
    assert res['dpo_gain'] == pytest.approx(res['dpo']['findings']['overall']['f1'] - res['dpo_blank']['findings']['overall']['f1'])
    # DPO trained on the pairs the preference stage kept, all from training cases
    pairs = read_jsonl(out/'prefs'/'pairs.jsonl')
    prefs_fig = json.loads((out/'prefs'/'prefs_summary.json').read_text())
    assert len(pairs) == prefs_fig['pairs'] > 0
    assert {p['id'] for p in pairs} <= {r['id'] for r in rows if r['split'] == 'train'}
    # the recipe's pairing (above- vs below-mean drafts, at most 2 per case) and RPO's NLL term reached the trainer
    assert prefs_fig['settings']['pairing'] == 'mean_split'
    assert all(p['chosen_score'] > p['rejected_score'] for p in pairs)
    assert max(Counter(p['id'] for p in pairs).values()) <= 2
    # all 6 training cases were sampled, as one group of one generate call (prefs.batch_size=8)
    cands = read_jsonl(out/'prefs'/'candidates.jsonl')
    train_ids = [r['id'] for r in rows if r['split'] == 'train']
    assert sorted(c['id'] for c in cands) == sorted(train_ids)
    assert {tuple(c['group']) for c in cands} == {tuple(train_ids)}
    assert json.loads((out/'dpo'/'recipe.json').read_text())['rpo_alpha'] == 1.0
    # the paper's DPO: best vs worst of the same drafts (one pair per case, no new sampling), plain sigmoid loss, same SFT start
    from mu2llm.train.prefs import build_pairs, read_store, scored_cases
    want, _ = build_pairs(scored_cases(list(read_store(out/'prefs'/'candidates.jsonl').values()),
                                       list(read_store(out/'prefs'/'scores.jsonl').values())), pairing='extremes')
    paper = read_jsonl(out/'paper_dpo'/'pairs.jsonl')
    assert paper == want and len({p['id'] for p in paper}) == len(paper) > 0
    sc = {k: [x for x in r['scores'] if x is not None] for k, r in read_store(out/'prefs'/'scores.jsonl').items() if r['status'] == 'ok'}
    assert all((p['chosen_score'], p['rejected_score']) == (max(sc[p['id']]), min(sc[p['id']])) for p in paper)
    prec = json.loads((out/'paper_dpo'/'recipe.json').read_text())
    assert prec['rpo_alpha'] is None and prec['objective'] == 'dpo' and Path(prec['init']).resolve() == (out/'sft').resolve()
    assert read_jsonl(out/'generate'/'preds_paper_dpo.jsonl')[0]['checkpoint'].endswith('paper_dpo')
    dsum = json.loads((out/'dpo'/'train_summary.json').read_text())
    assert dsum['nll_loss'] and all(x > 0 for x in dsum['nll_loss'])
    # the GREEN columns are the evaluation's, and the gain is the paired per-case difference
    ev = {k: {c['id']: c.get('green') for c in read_jsonl(out/'eval'/k/'cases.jsonl')} for k in ('sft', 'dpo')}
    d = [ev['dpo'][i] - ev['sft'][i] for i in ev['sft'] if ev['sft'][i] is not None and ev['dpo'][i] is not None]
    assert res['green_gain']['mean'] == pytest.approx(sum(d) / len(d))
    assert res['green_gain']['ci'][0] <= res['green_gain']['mean'] <= res['green_gain']['ci'][1]
    ep = {c['id']: c.get('green') for c in read_jsonl(out/'eval'/'paper_dpo'/'cases.jsonl')}
    d = [ep[i] - ev['sft'][i] for i in ev['sft'] if ev['sft'][i] is not None and ep[i] is not None]
    assert res['paper_green_gain']['mean'] == pytest.approx(sum(d) / len(d))
    assert res['paper_dpo_gain'] == pytest.approx(res['paper_dpo']['findings']['overall']['f1'] - res['paper_dpo_blank']['findings']['overall']['f1'])
    assert res['sft']['text']['green'] == pytest.approx(json.loads((out/'eval'/'sft'/'summary.json').read_text())['means']['green'])
    # the stored scores are the scores of the stored predictions
    truths = [{'lung_nodule': {'present': i % 3 != 2, 'side': ['left', 'right', None][i % 3],
                               'size_mm': None}} for i in range(3)]
    again = finding_scores([extract_findings(p['report']) for p in preds], truths)
    stored = json.loads((out/'eval'/'results.json').read_text())
    assert stored['sft']['findings']['overall']['presence_acc'] == pytest.approx(again['overall']['presence_acc'])
    assert stored['f1_gain'] == pytest.approx(stored['sft']['findings']['overall']['f1'] - stored['blank']['findings']['overall']['f1'])
    # the saved model is a checkpoint mu2llm_generate loads
    from mu2llm.model.generation import load_checkpoint
    m, p = load_checkpoint(out/'sft', device='cpu')
    assert p.num_image_tokens == m.config.num_image_tokens

    # run again: every stage is done with the same settings, nothing runs; change DPO's beta: DPO and what follows rerun
    done = {st: json.loads((out/st/'summary.json').read_text())['finished'] for st in ('phantoms', 'prep', 'warmup', 'sft', 'prefs', 'dpo', 'eval')}
    again = run_demo(out, 'tiny', OVERRIDES, seed=1, workers=0, fns={'phantoms': toy_stage}, verbose=False)
    assert again['sft'] == res['sft'] and {st: json.loads((out/st/'summary.json').read_text())['finished'] for st in done} == done
    with pytest.raises(Exception, match='--force'):
        run_demo(out, 'tiny', OVERRIDES + ['dpo.beta=0.5'], seed=1, workers=0, fns={'phantoms': toy_stage}, verbose=False)
    run_demo(out, 'tiny', OVERRIDES + ['dpo.beta=0.5'], seed=1, workers=0, fns={'phantoms': toy_stage}, force=True, verbose=False)
    now = {st: json.loads((out/st/'summary.json').read_text())['finished'] for st in done}
    assert [st for st in done if now[st] != done[st]] == ['dpo', 'eval']
    assert json.loads((out/'dpo'/'recipe.json').read_text())['beta'] == 0.5


def test_demo_rejects_a_bad_setting_before_any_stage(tmp_path):
    import subprocess, sys
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'demo', '--out', str(tmp_path/'d'), '--preset', 'foo'], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "mu2llm_demo: error: --preset must be one of tiny, demo, paper, paper_lite, not 'foo'"
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'demo', '--out', str(tmp_path/'d'), 'sfft.max_steps=3'], capture_output=True, text=True)
    assert r.returncode == 2 and "did you mean 'sft'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path/'d').exists()                                   # nothing was drawn or written
