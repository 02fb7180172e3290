"""`mu2llm_prefs` as a command: SIGKILL mid-run then resume (no case sampled or scored twice, no truncated line, same pairs
as an uninterrupted run), scoring resumed after a crash, a bad volume recorded, settings mismatch refused."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest

from _helpers import cli, cli_env, save_tiny_checkpoint

N_TRAIN = 8
# references without findings: the rule judge scores a draft 1.0 when the labeller finds nothing in it and 0 when it
# "finds" something, so even a random model's drafts give some pairs
REFS = ['The lungs are clear. No pleural effusion.', 'No acute abnormality. The heart is normal in size.']


_env = cli_env


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A tiny random-weight checkpoint and a prepared manifest: 8 train cases (one with a damaged cache entry), 1 val."
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.data.manifest import ManifestRow, write_manifest
    from mu2llm.data.cache import prep_manifest
    from mu2llm.core.files import read_jsonl
    root = tmp_path_factory.mktemp('prefs')
    save_tiny_checkpoint(root/'ckpt')
    rows = []
    for i in range(N_TRAIN + 1):
        write_nifti(root/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'toy', 'train' if i < N_TRAIN else 'val', f'p{i}', report=REFS[i % 2]))
    write_manifest(root/'m.jsonl', rows)
    prep_manifest(root/'m.jsonl', root/'prep', config='tiny', workers=0)
    man = root/'prep'/'manifest.jsonl'
    bad = next(r for r in read_jsonl(man) if r['id'] == 'v3')['meta']['cache_key']
    (root/'prep'/'entries'/f'{bad}.npy').write_bytes(b'not an array')          # a damaged volume: recorded, skipped
    return root, man


def _args(data, out, *extra):
    root, man = data
    return ['--checkpoint', str(root/'ckpt'), '--manifest', str(man), '--out', str(out), '--num_return_sequences', '4',
            '--max_new_tokens', '24', '--seed', '3', '--judge', 'rule', *map(str, extra)]   # the paper preset names no judge


def _run(data, out, *extra, ok=True):
    p = subprocess.run([*cli('prefs'), *_args(data, out, *extra)], capture_output=True, text=True, env=_env(), timeout=300)
    if ok: assert p.returncode == 0, p.stderr[-3000:]
    return p


def _lines(path:Path) -> list[dict]:
    "Every line of a store, each required to be whole JSON ending with a newline."
    raw = path.read_text(encoding='utf-8')
    assert raw == '' or raw.endswith('\n'), f'{path.name}: last line not terminated'
    return [json.loads(l) for l in raw.splitlines()]


def _strip(rows):
    return [{k: v for k, v in r.items() if k != 'seconds'} for r in rows]


def test_help_documents_every_option():
    p = subprocess.run([*cli('prefs'), '--help'], capture_output=True, text=True, env=_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    from mu2llm.cli.commands import _PREFS_OPTIONS                      # every recipe option the command forwards
    for o in ('--checkpoint', '--manifest', '--cache', '--out', *(f'--{k}' for k in _PREFS_OPTIONS)):
        assert o in p.stdout, o
    assert 'counterfactual' in p.stdout and 'minimal_edit' in p.stdout


@pytest.mark.parametrize('batch', [1, 3])        # one case per generate call, and groups of 3 (3 + 3 + 2 cases)
def test_kill_mid_run_then_resume_matches_uninterrupted(data, tmp_path, batch):
    ref, run, opt = tmp_path/'ref', tmp_path/'killed', ('--batch_size', batch)
    _run(data, ref, *opt)
    ref_pairs = (ref/'pairs.jsonl').read_text()

    proc = subprocess.Popen([*cli('prefs'), *_args(data, run, *opt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    store, t0, seen = run/'candidates.jsonl', time.time(), 0
    while time.time() - t0 < 240 and proc.poll() is None:
        seen = store.read_bytes().count(b'\n') if store.exists() else 0
        if 2 <= seen < N_TRAIN: break
        time.sleep(0.02)
    assert proc.poll() is None, f'the run ended before it could be killed ({seen} lines)'
    os.kill(proc.pid, signal.SIGKILL); proc.wait(timeout=30)
    done_at_kill = store.read_bytes().count(b'\n')                # complete lines (a cut last one has no newline)
    assert 2 <= done_at_kill < N_TRAIN
    assert not (run/'pairs.jsonl').exists()                      # killed during sampling, before pairing
    v3_failed = b'"id": "v3"' in store.read_bytes()               # a failed case is tried again on the next run

    p = _run(data, run, *opt)
    assert f'{N_TRAIN - done_at_kill + v3_failed} sampled now, {done_at_kill - v3_failed} resumed' in p.stdout, p.stdout
    cands, scores = _lines(run/'candidates.jsonl'), _lines(run/'scores.jsonl')
    ids = [r['id'] for r in cands]
    assert sorted(ids) == sorted(f'v{i}' for i in range(N_TRAIN)) and len(set(ids)) == N_TRAIN   # each case once
    failed = [r for r in cands if r['status'] == 'failed']
    assert [r['id'] for r in failed] == ['v3'] and 'v3' in p.stderr
    ok_ids = sorted(r['id'] for r in cands if r['status'] == 'ok')
    assert sorted(r['id'] for r in scores) == ok_ids                                            # each scored case once
    # the judge was asked once per distinct (reference, draft) pair: its cache holds no repeats and nothing extra
    cache = _lines(run/'judge_cache.jsonl')
    keys = [c['key'] for c in cache]
    assert len(keys) == len(set(keys))
    want = {(r['reference'], c) for r in cands if r['status'] == 'ok'
            for i, c in enumerate(r['candidates']) if i not in r['invalid']}
    assert len(cache) == len(want) == len(_lines(ref/'judge_cache.jsonl'))
    # the same stores and pairs as the uninterrupted run
    by_id = lambda rows: sorted(_strip(rows), key=lambda r: r['id'])
    assert by_id(cands) == by_id(_lines(ref/'candidates.jsonl'))
    assert by_id(scores) == by_id(_lines(ref/'scores.jsonl'))
    assert (run/'pairs.jsonl').read_text() == ref_pairs
    pairs = _lines(run/'pairs.jsonl')
    assert pairs, 'expected some pairs from the no-finding references'
    for q in pairs:
        assert {'id', 'chosen', 'rejected', 'chosen_score', 'rejected_score', 'question'} <= set(q)
        assert q['chosen_score'] > q['rejected_score'] and q['chosen'] != q['rejected'] and q['question'] is None
    s = json.loads((run/'prefs_summary.json').read_text())
    assert s['pairs'] == len(pairs) and s['dropped'].get('failed') == 1
    assert s['pairs'] + sum(s['dropped'].values()) == N_TRAIN
    assert (run/'prefs_summary.html').stat().st_size > 1000

    p = _run(data, run, *opt)                      # a third run: only the failed case is tried again; nothing is judged
    assert f'1 sampled now, {N_TRAIN - 1} resumed, 1 failed' in p.stdout and '0 case(s) scored now' in p.stdout
    assert len(_lines(run/'judge_cache.jsonl')) == len(cache) and (run/'pairs.jsonl').read_text() == ref_pairs
    assert _lines(run/'candidates.jsonl') == cands                # the same failure is not written twice


class _Counting:
    "A judge that counts the pairs it is asked about and can crash on its k-th call."
    def __init__(self, crash_on:int=None):
        from mu2llm.score.judges import RuleJudge
        self.inner, self.crash_on, self.calls, self.pairs = RuleJudge(), crash_on, 0, []
    def make(self):
        from mu2llm.score.judges import Judge
        outer = self
        class J(Judge):
            identity = outer.inner.identity
            def _judge(self, pairs):
                outer.calls += 1
                if outer.crash_on and outer.calls == outer.crash_on: raise RuntimeError('judge server went away')
                outer.pairs += pairs
                return outer.inner._judge(pairs)
        return J()


def test_scoring_resumes_after_a_crash_without_rescoring(tmp_path):
    from mu2llm.train.prefs import score_candidates
    from mu2llm.score.judges import CachedJudge
    rows = [dict(id=f'c{i}', status='ok', reference=REFS[0], candidates=[f'Draft {i}.{j}: the lungs are clear here.' for j in range(3)],
                 invalid=[2] if i == 1 else []) for i in range(5)]
    store = tmp_path/'scores.jsonl'
    j1 = _Counting(crash_on=4)
    with pytest.raises(RuntimeError): score_candidates(rows, CachedJudge(j1.make(), tmp_path/'cache.jsonl'), store)
    assert [r['id'] for r in _lines(store)] == ['c0', 'c1', 'c2']
    with open(store, 'a') as f: f.write('{"id": "c3", "sco')                 # as if killed while writing c3's line
    j2 = _Counting()
    out = score_candidates(rows, CachedJudge(j2.make(), tmp_path/'cache.jsonl'), store)
    assert j2.calls == 2 and {c for _, c in j2.pairs} == {c for r in rows[3:] for c in r['candidates']}   # only c3, c4
    assert [r['id'] for r in _lines(store)] == [f'c{i}' for i in range(5)] == [r['id'] for r in out]
    assert out[1]['scores'][2] is None and all(s is not None for s in out[1]['scores'][:2])  # the invalid draft is not scored
    assert len(j1.pairs) == 3 * 2 + 2                                                          # c0, c2 (3 each) + c1 (2)


def _call(data, out, **kw):
    "Run `mu2llm_prefs` in this process (cheaper than a subprocess); returns the exit status."
    from mu2llm.cli.commands import mu2llm_prefs as prefs
    root, man = data
    args = dict(checkpoint=str(root/'ckpt'), manifest=str(man), out=str(out), num_return_sequences=3, max_new_tokens=8, seed=3,
                judge='rule')
    try: prefs(**{**args, **kw}); return 0
    except SystemExit as e: return e.code


def test_other_settings_in_the_same_folder_are_refused(data, tmp_path, capsys):
    out = tmp_path/'o'
    assert _call(data, out, limit=2) == 0
    assert _call(data, out, limit=2, temperature=0.7) == 2
    err = capsys.readouterr().err
    assert 'temperature' in err and 'another --out' in err
    assert _call(data, out, limit=3, min_gap=0.5) == 0                     # a longer limit and other pairing rules are fine
    assert '1 sampled now, 2 resumed' in capsys.readouterr().out
    assert _call(data, out, checkpoint=None) == 2 and '--checkpoint' in capsys.readouterr().err


def test_the_paper_preset_needs_a_judge(data, tmp_path, capsys):
    "The paper ranks drafts with GREEN-RadLlama2-7b: without --judge the command says so and samples nothing."
    assert _call(data, tmp_path/'p', judge=None) == 2
    err = capsys.readouterr().err
    assert 'GREEN-RadLlama2-7b' in err and '--judge' in err and 'hf:PATH' in err and 'openai:URL#MODEL' in err
    assert not (tmp_path/'p'/'candidates.jsonl').exists()


# --- pairs that carry the image (issue 16): minimal_edit and counterfactual ---

VISIBLE = ('hepatic_steatosis', 'cardiomegaly', 'lung_nodule', 'pleural_effusion', 'liver_lesion', 'arterial_wall_calcification')


@pytest.fixture(scope='module')
def phantoms(tmp_path_factory):
    "Four tiny phantoms (structured reports) prepared with the tiny config, as the prep stage leaves them."
    from mu2llm.data.phantoms import generate_phantoms
    from mu2llm.data.cache import prep_manifest
    root = tmp_path_factory.mktemp('cf')
    generate_phantoms(root/'ph', 4, seed=5, size='tiny', split=(1., 0., 0.), report_style='structured', workers=0)
    prep_manifest(root/'ph'/'manifest.jsonl', root/'prep', config='tiny', workers=0)
    return root, root/'prep'/'manifest.jsonl'


def test_unknown_pairing_is_a_one_line_config_error_naming_the_choices(data, tmp_path, capsys):
    from mu2llm.core.errors import ConfigError
    from mu2llm.train.prefs import PAIRINGS, build_pairs, check_prefs_settings
    assert PAIRINGS == ('extremes', 'mean_split', 'minimal_edit', 'counterfactual', 'group')
    for f in (lambda: check_prefs_settings(pairing='minimal-edit'), lambda: build_pairs([], pairing='counterfactuals')):
        with pytest.raises(ConfigError) as e: f()
        msg = str(e.value)
        assert '\n' not in msg and all(p in msg for p in PAIRINGS), msg
    assert _call(data, tmp_path/'x', pairing='counterfactul') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'counterfactual'" in err[0] and 'minimal_edit' in err[0], err
    assert not (tmp_path/'x').exists()


def test_minimal_edit_changes_exactly_one_visible_finding():
    "Drafts = phantom reports (and versions missing one finding): every pair's two reports differ, as the labeller reads them, in one visible finding."
    from mu2llm.data.phantoms import make_case
    from mu2llm.score.labeller import extract_findings
    from mu2llm.train.prefs import build_pairs, edit_report, score_pairs
    from mu2llm.score.judges import RuleJudge
    cases = []
    for s in range(12):
        rep = make_case(s, 'tiny', report_style='structured' if s % 2 else 'varied').report
        wrong = edit_report(rep, VISIBLE[s % len(VISIBLE)], 'presence', seed=s)      # a draft wrong about one finding
        cases.append(dict(id=f'c{s}', reference=rep, candidates=[rep, wrong, 'Normal chest CT.' * 2], scores=[0.9, 0.5, 0.1]))
    pairs, dropped = build_pairs(cases, pairs_per_case=3, pairing='minimal_edit', seed=1)
    assert len(pairs) >= 24, (len(pairs), dropped)
    kinds = set()
    for p in pairs:
        a, b = extract_findings(p['chosen']), extract_findings(p['rejected'])
        key = lambda d: (d['present'], d['side'], d['size_mm'])
        diff = [n for n in a if key(a[n]) != key(b[n])]
        assert diff == [p['edit']['finding']] and diff[0] in VISIBLE, (diff, p['edit'])
        assert p['chosen'] == next(c for c in cases if c['id'] == p['id'])['reference']   # the best draft, itself right
        kinds.add(p['edit']['kind'])
    assert kinds == {'presence', 'side', 'size'}, kinds
    only = build_pairs(cases, pairs_per_case=3, pairing='minimal_edit', seed=1, findings=('lung_nodule',))[0]
    assert {p['edit']['finding'] for p in only} == {'lung_nodule'}
    assert all(p['gap'] is not None for p in score_pairs(pairs, RuleJudge()))


def test_counterfactual_pairs_volumes_and_the_dpo_join(phantoms, tmp_path, capsys):
    """Two pairs per phantom, one under each volume; the volumes differ only inside the finding's region; the chosen report
    names the finding iff its volume has it; DPO's join reads each pair under the right volume; a rerun redraws nothing."""
    import nibabel as nib, numpy as np, torch
    from mu2llm.core.files import read_jsonl
    from mu2llm.data.dataset import CTReportDataset
    from mu2llm.data.manifest import read_manifest
    from mu2llm.data.phantoms import changed_region
    from mu2llm.score.labeller import extract_findings
    from mu2llm.train.dpo import PairDataset, pair_volumes
    from mu2llm.train.prefs import counterfactual_case
    root, man = phantoms
    out = tmp_path/'cf'
    assert _call((root, man), out, checkpoint=str(tmp_path/'no_such_checkpoint'), pairing='counterfactual', cache=str(root/'prep')) == 0
    assert '8 pair(s) from 4 case(s)' in capsys.readouterr().out                  # the checkpoint is never loaded
    pairs = read_jsonl(out/'pairs.jsonl')
    rows = {r.id: r for r in read_manifest(man)}
    train = CTReportDataset(man, root/'prep', split='train')
    vols = pair_volumes(out/'pairs.jsonl', train)
    ds = PairDataset(out/'pairs.jsonl', vols)
    by_id = {vols.rows[i].id: i for i in range(len(vols))}
    for rid, row in rows.items():
        a, b = counterfactual_case(row, seed=3)                                  # the run's seed
        assert np.array_equal(a.stored()[0], np.asarray(nib.load(row.volume_path()).dataobj))   # the phantom on disk, redrawn
        region = changed_region(a, b)
        assert not ((a.hu != b.hu) & ~region).any() and region.mean() < 0.25
        name = b.meta['change']['finding']
        assert name in VISIBLE and b.meta['change']['kind'] in ('add', 'remove')
        mine = [(k, p) for k, p in enumerate(pairs) if p['counterfactual']['of'] == rid]
        assert sorted(p['id'] for _, p in mine) == sorted([rid, b.id])
        assert mine[0][1]['chosen'] == mine[1][1]['rejected'] and mine[0][1]['rejected'] == mine[1][1]['chosen']
        for k, p in mine:
            has = (a if p['id'] == rid else b).findings[name]['present']
            assert extract_findings(p['chosen'])[name]['present'] == has == p['counterfactual']['has_finding']
            assert extract_findings(p['rejected'])[name]['present'] == (not has)
            assert p['chosen_score'] > p['rejected_score']                       # the rule judge agrees with the truth
            assert torch.equal(ds[k]['pixel_values'], vols[by_id[p['id']]]['pixel_values'])
        x_own = vols[by_id[rid]]['pixel_values']; x_cf = vols[by_id[b.id]]['pixel_values']
        assert x_own.shape == x_cf.shape and not torch.equal(x_own, x_cf)       # two different prepared volumes
    assert len(train) == 4 and len(vols) == 8
    with pytest.raises(Exception, match='have no volume'): PairDataset(out/'pairs.jsonl', train)   # the training volumes alone lack them
    store = (out/'counterfactuals'/'cases.jsonl').read_text()
    assert _call((root, man), out, checkpoint=str(tmp_path/'no_such_checkpoint'), pairing='counterfactual', cache=str(root/'prep')) == 0
    assert (out/'counterfactuals'/'cases.jsonl').read_text() == store and read_jsonl(out/'pairs.jsonl') == pairs
    assert _call((root, man), out, pairing='counterfactual', cache=str(root/'prep'), seed=4) == 2   # another seed: refused


def test_dpo_trains_on_counterfactual_pairs_end_to_end(phantoms, tmp_path):
    """`mu2llm_prefs --pairing counterfactual` then `mu2llm_train --stage dpo --pairs` on its pairs: DPO reads every pair
    under its own volume (8 pairs: 4 phantoms and their 4 counterfactuals), trains and writes a loadable model.

    The mean margin over a case's two pairs is image-conditional by construction: the two texts swap sides, so a model
    that ignores the volume has a mean margin of exactly 0. The test prints it before and after and does not assert a
    gain: this random tiny model (the paper's tokenizer at initialisation, which reads every case alike) changes its
    logits by ~1e-5 between two volumes, so the margin is ~0 before and after 6 steps. Counterfactual pairs teach only
    a policy that already reads the image; that is the preference study's question, not this test's."""
    import torch
    from mu2llm.core.files import read_jsonl
    from mu2llm.data.dataset import CTReportDataset
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    from mu2llm.train.dpo import Mu2DPOCollator, PairDataset, pair_volumes, sequence_logps
    root, man = phantoms
    save_tiny_checkpoint(tmp_path/'sft')
    out = tmp_path/'prefs'
    p = subprocess.run([*cli('prefs'), '--checkpoint', str(tmp_path/'sft'), '--manifest', str(man), '--cache', str(root/'prep'),
                        '--out', str(out), '--pairing', 'counterfactual', '--seed', '3', '--judge', 'rule'], capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    pairs = read_jsonl(out/'pairs.jsonl')
    assert len(pairs) == 8 and len({p['id'] for p in pairs}) == 8
    dpo = tmp_path/'dpo'
    r = subprocess.run([sys.executable, '-m', 'mu2llm.cli', 'train', '--stage', 'dpo', '--preset', 'tiny', '--manifest', str(man),
                        '--cache', str(root/'prep'), '--out', str(dpo), '--pairs', str(out/'pairs.jsonl'), f'init={tmp_path/"sft"}',
                        'ref_mode=precomputed', 'max_steps=6', 'learning_rate=2e-3'], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s = json.loads((dpo/'train_summary.json').read_text())
    assert s['stage'] == 'dpo' and s['n_pairs'] == 8 and s['global_step'] == 6 and len(s['rewards_margins']) == 6
    proc = Mu2LLMProcessor.from_pretrained(dpo)
    ds = PairDataset(out/'pairs.jsonl', pair_volumes(out/'pairs.jsonl', CTReportDataset(man, root/'prep', split='train')))
    b = Mu2DPOCollator(proc, 256)([ds[i] for i in range(len(ds))])
    for name, path in (('before', tmp_path/'sft'), ('after', dpo)):
        m = Mu2LLMForConditionalGeneration.from_pretrained(path).eval()
        with torch.no_grad(): lp = sequence_logps(m, b)
        margin = lp[:len(ds)] - lp[len(ds):]
        assert torch.isfinite(margin).all()
        print(f'{name} DPO: mean chosen-rejected margin over the counterfactual pairs {margin.mean().item():+.3e} (0 = blind to the image)')
