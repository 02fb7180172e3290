"""Issue 19, "nothing lost, nothing huge, one clear line for every bad input": one test (or a few) per point.

1 checkpoints are recognised before anything is built; damaged weights give one typed line; resume skips a damaged
  newest checkpoint.  2 no command writes over its inputs; failed rows are retried.  3 a voxel budget and a bounded
  inflate; a dead worker is one volume's failure; workers exit with their parent.  4 preference drafts: failed cases
  retried, options checked before anything is written.  5 non-UTF-8 input, all-failed augmentation, unwritable
  outputs, bad options, a cut pairs file.  6 files honour the umask; orphan temp files are cleaned.  7 no secret is
  stored; cache keys are plain names.  8 a plain install evaluates offline; messages spell options as the CLI does.
  9 spacing, element-count overflow, "folder is empty", --p_normal.

New names are imported inside the tests, so each test fails on its own on code that lacks them.
"""
import ast, json, os, re, shutil, signal, subprocess, sys, time, zlib
from pathlib import Path

import numpy as np
import pytest

from mu2llm.core.errors import CTReadError, ConfigError, FileError, Mu2LLMError
from mu2llm.core.files import read_jsonl

from _helpers import cli_env, save_tiny_checkpoint

REPORT = 'The lungs are clear. No pleural effusion. The heart is normal in size.'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "A tiny checkpoint, three phantom-like volumes, their manifest and a prepared cache."
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.data.manifest import ManifestRow, write_manifest
    from mu2llm.data.cache import prep_manifest
    root = tmp_path_factory.mktemp('rel')
    save_tiny_checkpoint(root/'ckpt')
    rows = []
    for i in range(3):
        write_nifti(root/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'toy', 'train', f'p{i}', report=REPORT))
    write_manifest(root/'m.jsonl', rows)
    prep_manifest(root/'m.jsonl', root/'prep', config='tiny', workers=0)
    return root


def _cli(name, *args, **kw):
    "Run command `mu2llm_<name>` in this process; its exit status."
    from mu2llm.cli import commands
    try: getattr(commands, f'mu2llm_{name}')(*map(str, args), **kw); return 0
    except SystemExit as e: return e.code


def _one_line(err:str, prog:str) -> str:
    "The error line of a command's stderr; fails when it printed a traceback."
    assert 'Traceback' not in err, err[-2000:]
    lines = [l for l in err.splitlines() if l.startswith(f'{prog}: error:')]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def _no_model_load(monkeypatch):
    "Make any μ²LLM model construction fail loudly (a check must come first)."
    from mu2llm.model import modeling_mu2llm as mm
    def built(*a, **k): raise AssertionError('a model was built')
    monkeypatch.setattr(mm.Mu2LLMForConditionalGeneration, '__init__', built)


def _unwritable_dir(tmp_path) -> Path:
    "An existing folder this process cannot write into (a read-only folder, or /sys when running as root)."
    d = tmp_path/'ro'; d.mkdir(); d.chmod(0o555)
    for cand in (d, Path('/sys')):
        try: (cand/'.probe').write_bytes(b''); (cand/'.probe').unlink()
        except OSError: return cand
    pytest.skip('no unwritable folder on this machine')


# ---------------------------------------------------------------- 1. what loads as a μ²LLM checkpoint
def _foreign(tiny, tmp_path, edit):
    d = tmp_path/'ck'; shutil.copytree(tiny/'ckpt', d)
    cfg = json.loads((d/'config.json').read_text()); edit(cfg)
    (d/'config.json').write_text(json.dumps(cfg))
    return d


def test_checkpoint_with_foreign_model_type_is_refused_before_building(tiny, tmp_path, monkeypatch):
    from mu2llm.model.generation import load_checkpoint
    _no_model_load(monkeypatch)
    d = _foreign(tiny, tmp_path, lambda c: c.update(model_type='llama'))
    with pytest.raises(FileError) as e: load_checkpoint(d, device='cpu')
    assert "'llama'" in str(e.value) and 'mu2llm' in str(e.value) and e.value.path.endswith('config.json')


def test_plain_llama_folder_is_refused_before_building(tmp_path, monkeypatch):
    from transformers import LlamaConfig
    from mu2llm.model.generation import load_checkpoint
    _no_model_load(monkeypatch)
    LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    (tmp_path/'processor_config.json').write_text('{}')       # even with a processor file it is not a μ²LLM folder
    with pytest.raises(FileError) as e: load_checkpoint(tmp_path, device='cpu')
    assert 'not a μ²LLM checkpoint' in e.value.reason


@pytest.mark.parametrize('missing', ['vision_config', 'tokenizer_config', 'text_config'])
def test_checkpoint_without_a_sub_config_is_refused(tiny, tmp_path, monkeypatch, missing):
    from mu2llm.model.generation import load_checkpoint
    _no_model_load(monkeypatch)
    d = _foreign(tiny, tmp_path, lambda c: c.pop(missing))
    with pytest.raises(FileError) as e: load_checkpoint(d, device='cpu')
    assert missing in e.value.reason


def test_generate_prefs_and_init_refuse_a_foreign_checkpoint_in_one_line(tiny, tmp_path, monkeypatch, capsys):
    from mu2llm.train.launch import load_recipe, start_model
    _no_model_load(monkeypatch)
    d = _foreign(tiny, tmp_path, lambda c: c.update(model_type='llama'))
    assert _cli('generate', d, tiny/'v0.nii.gz', out=str(tmp_path/'p.jsonl')) == 2
    assert 'not a μ²LLM checkpoint' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert _cli('prefs', checkpoint=str(d), manifest=str(tiny/'prep/manifest.jsonl'), out=str(tmp_path/'pr'), preset='tiny') == 2
    _one_line(capsys.readouterr().err, 'mu2llm_prefs')
    with pytest.raises(FileError): start_model(load_recipe('tiny', {'init': str(d)}))


@pytest.mark.parametrize('damage', ['missing', 'truncated', 'bad_header'])
def test_damaged_weights_give_one_typed_line_naming_the_file(tiny, tmp_path, damage, capsys):
    from mu2llm.model.generation import load_checkpoint
    d = tmp_path/'ck'; shutil.copytree(tiny/'ckpt', d)
    w = d/'model.safetensors'
    if damage == 'missing': w.unlink()
    elif damage == 'truncated': w.write_bytes(w.read_bytes()[:w.stat().st_size // 2])
    else: w.write_bytes(b'\xff' * 8 + w.read_bytes()[8:])
    with pytest.raises(FileError) as e: load_checkpoint(d, device='cpu')
    assert e.value.path.endswith('model.safetensors') or damage == 'missing', e.value
    assert _cli('generate', d, tiny/'v0.nii.gz', out=str(tmp_path/'p.jsonl')) == 2
    line = _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert str(d) in line


def _fake_ckpt(folder:Path, step:int) -> Path:
    import torch
    from safetensors.torch import save_file
    c = folder/f'checkpoint-{step}'; c.mkdir(parents=True)
    save_file({'w': torch.ones(64)}, str(c/'model.safetensors'))
    torch.save({'state': torch.zeros(64)}, c/'optimizer.pt')
    (c/'trainer_state.json').write_text(json.dumps({'global_step': step}))
    (c/'processor_config.json').write_text('{}')
    return c


@pytest.mark.parametrize('damage', ['model.safetensors', 'optimizer.pt', 'trainer_state.json'])
def test_resume_falls_back_to_the_previous_good_checkpoint(tmp_path, damage):
    from mu2llm.train.launch import last_checkpoint
    good, bad = _fake_ckpt(tmp_path, 1), _fake_ckpt(tmp_path, 2)
    assert last_checkpoint(tmp_path) == str(bad)
    f = bad/damage; f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
    assert last_checkpoint(tmp_path) == str(good)


# ---------------------------------------------------------------- 2. nothing written over an input
def test_prep_refuses_to_write_over_its_input_manifest(tiny, tmp_path, capsys):
    data = tmp_path/'DATA'; data.mkdir()
    rows = [json.loads(l) for l in (tiny/'m.jsonl').read_text().splitlines()]
    for r in rows: r['volume'] = str(tiny/r['volume'])
    text = ''.join(json.dumps(r) + '\n' for r in rows)
    (data/'manifest.jsonl').write_text(text)
    assert _cli('prep', data/'manifest.jsonl', out=str(data), preset='tiny', workers=0) == 2
    assert 'manifest.jsonl' in _one_line(capsys.readouterr().err, 'mu2llm_prep')
    assert (data/'manifest.jsonl').read_text() == text and sorted(p.name for p in data.iterdir()) == ['manifest.jsonl']
    assert _cli('prep', data/'manifest.jsonl', out=str(tmp_path/'c'), out_manifest=str(data/'manifest.jsonl'),
                preset='tiny', workers=0) == 2
    assert '--out_manifest' in _one_line(capsys.readouterr().err, 'mu2llm_prep')
    assert (data/'manifest.jsonl').read_text() == text and not (tmp_path/'c').exists()


def test_generate_augment_and_eval_refuse_to_write_over_their_inputs(tiny, tmp_path, monkeypatch, capsys):
    _no_model_load(monkeypatch)
    man = tmp_path/'m.jsonl'; shutil.copy(tiny/'prep/manifest.jsonl', man)
    rows = [json.loads(l) for l in man.read_text().splitlines()]
    for r in rows: r['volume'] = str(tiny/'prep'/r['volume'])
    man.write_text(''.join(json.dumps(r) + '\n' for r in rows)); before = man.read_text()
    assert _cli('generate', tiny/'ckpt', man, out=str(man)) == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert _cli('augment', manifest=str(man), out=str(man), model='m') == 2
    _one_line(capsys.readouterr().err, 'mu2llm_augment')
    assert _cli('augment', manifest=str(man), out=str(tmp_path/'a.jsonl'), store=str(man), model='m') == 2
    assert '--store' in _one_line(capsys.readouterr().err, 'mu2llm_augment')
    ev = tmp_path/'ev'; ev.mkdir(); shutil.copy(man, ev/'cases.jsonl')
    assert _cli('eval', preds=str(ev/'cases.jsonl'), refs=str(man), out=str(ev), metrics='bleu') == 2
    _one_line(capsys.readouterr().err, 'mu2llm_eval')
    assert man.read_text() == before and (ev/'cases.jsonl').read_text() == before


def test_train_refuses_an_output_folder_that_holds_its_inputs(tiny, tmp_path, capsys):
    cache = tmp_path/'prep'; shutil.copytree(tiny/'prep', cache)
    cfg = (cache/'config.json').read_text()
    assert _cli('train', overrides=['max_steps=1'], stage='sft', preset='tiny', manifest=str(cache/'manifest.jsonl'), out=str(cache)) == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_train')
    assert (cache/'config.json').read_text() == cfg and not (cache/'summary.json').exists()


def test_prep_failed_rows_stay_recorded_and_are_retried(tiny, tmp_path):
    from mu2llm.data.cache import prep_manifest
    from mu2llm.data.manifest import ManifestRow, read_manifest, write_manifest
    shutil.copy(tiny/'v0.nii.gz', tmp_path/'a.nii.gz'); (tmp_path/'b.nii.gz').write_bytes(b'broken')
    write_manifest(tmp_path/'m.jsonl', [ManifestRow(k, f'{k}.nii.gz', 'toy', 'train', k, report=REPORT) for k in 'ab'])
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert s['failed_rows'] == 1 and [f['id'] for f in read_jsonl(tmp_path/'c/failures.jsonl')] == ['b']
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)        # still broken: still recorded
    assert [f['id'] for f in read_jsonl(tmp_path/'c/failures.jsonl')] == ['b']
    shutil.copy(tiny/'v1.nii.gz', tmp_path/'b.nii.gz')                                       # fixed: retried
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert s['new'] == 1 and read_jsonl(tmp_path/'c/failures.jsonl') == []
    assert [r.id for r in read_manifest(tmp_path/'c/manifest.jsonl')] == ['a', 'b']


# ---------------------------------------------------------------- 3. nothing huge; a dead worker is one failure
def _gz_nifti(path:Path, shape, extra:int=0, dtype=np.int16):
    "A .nii.gz of zeros whose header declares `shape`, with `extra` zero bytes after the data (all in the gzip stream)."
    import nibabel as nib
    hdr = nib.Nifti1Header(); hdr.set_data_dtype(dtype); hdr.set_data_shape(shape); hdr.set_zooms((1., 1., 1.))
    hdr.set_qform(np.eye(4), code=1); hdr.set_sform(np.eye(4), code=1); hdr['vox_offset'] = 352
    head = hdr.binaryblock + b'\0' * 4
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, 'wb') as f:
        f.write(c.compress(head))
        n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize + extra
        block = b'\0' * (1 << 22)
        while n > 0: f.write(c.compress(block[:min(n, len(block))])); n -= len(block)
        f.write(c.flush())
    return path


def test_header_over_the_voxel_budget_is_refused_before_inflating(tmp_path, monkeypatch):
    import nibabel as nib
    hdr = nib.Nifti1Header(); hdr.set_data_dtype(np.int16); hdr.set_data_shape((2048, 2048, 768))  # 3.2 G voxels
    hdr.set_qform(np.eye(4), code=1); hdr['vox_offset'] = 352
    p = tmp_path/'huge.nii'; p.write_bytes(hdr.binaryblock + b'\0' * 4 + b'\0' * 4096)
    from mu2llm.data.ct_io import read_ct
    with pytest.raises(CTReadError) as e: read_ct(p)
    assert 'voxel budget' in e.value.reason and 'MU2LLM_MAX_VOXELS' in e.value.reason
    small = _gz_nifti(tmp_path/'s.nii.gz', (64, 64, 64))
    assert read_ct(small).shape == (64, 64, 64)
    with pytest.raises(CTReadError, match='voxel budget'): read_ct(small, max_voxels=100_000)
    monkeypatch.setenv('MU2LLM_MAX_VOXELS', '100000')
    with pytest.raises(CTReadError, match='voxel budget'): read_ct(small)


def test_gzip_is_inflated_no_further_than_the_header_declares(tmp_path):
    import tracemalloc
    from mu2llm.data.ct_io import read_ct
    p = _gz_nifti(tmp_path/'bomb.nii.gz', (32, 32, 16), extra=256 << 20)       # 32 KiB of image, 256 MiB more in the stream
    assert p.stat().st_size < 2 << 20
    tracemalloc.start()
    try: v = read_ct(p); peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert v.shape == (32, 32, 16) and peak < 16 << 20, f'peak {peak / 2**20:.0f} MiB'


def test_element_count_overflow_is_a_typed_error(tmp_path):
    import io
    import nibabel as nib
    from mu2llm.data.ct_io import read_ct
    nib.save(nib.Nifti2Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), str(tmp_path/'n2.nii'))
    raw = bytearray((tmp_path/'n2.nii').read_bytes())
    h = nib.Nifti2Header.from_fileobj(io.BytesIO(raw), check=False)
    h['dim'][1:4] = (2**31, 2**31, 2**31)
    b = io.BytesIO(); h.write_to(b); raw[:540] = b.getvalue()[:540]
    (tmp_path/'over.nii').write_bytes(bytes(raw))
    with pytest.raises(CTReadError) as e: read_ct(tmp_path/'over.nii')
    assert 'voxel' in e.value.reason


KILLER = '''
import os, signal, sys
import mu2llm.data.cache as cm
_orig = cm._read_and_preprocess
def _read_or_die(path, cfg):                  # spawned workers import this file as __mp_main__: the patch is theirs too
    if 'boom' in str(path): os.kill(os.getpid(), signal.SIGKILL)   # what the out-of-memory killer does
    return _orig(path, cfg)
cm._read_and_preprocess = _read_or_die
if __name__ == '__main__':
    from mu2llm.data.cache import prep_manifest, prep_summary
    print(prep_summary(prep_manifest(sys.argv[1], sys.argv[2], config='tiny', workers=2)))
'''


def test_a_killed_worker_is_one_volumes_failure_and_the_run_goes_on(tiny, tmp_path):
    from mu2llm.data.manifest import ManifestRow, read_manifest, write_manifest
    for k, v in (('a', 'v0'), ('boom', 'v1'), ('c', 'v2'), ('d', 'v0')): shutil.copy(tiny/f'{v}.nii.gz', tmp_path/f'{k}.nii.gz')
    write_manifest(tmp_path/'m.jsonl', [ManifestRow(k, f'{k}.nii.gz', 'toy', 'train', k, report=REPORT) for k in ('a', 'boom', 'c', 'd')])
    (tmp_path/'run.py').write_text(KILLER)
    r = subprocess.run([sys.executable, str(tmp_path/'run.py'), str(tmp_path/'m.jsonl'), str(tmp_path/'c')],
                       capture_output=True, text=True, env=cli_env(), timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '1 failed' in r.stdout, r.stdout
    fails = read_jsonl(tmp_path/'c/failures.jsonl')
    assert [f['id'] for f in fails] == ['boom'] and fails[0]['error_type'] == 'WorkerDiedError', fails
    assert 'killed' in fails[0]['reason']
    assert sorted(r.id for r in read_manifest(tmp_path/'c/manifest.jsonl')) == ['a', 'c', 'd']


PARENT = '''
import sys, time
from mu2llm.core.base import spawn_pool
if __name__ == '__main__':
    with spawn_pool(2, 'test') as ex:
        list(ex.map(abs, range(8)))
        print(' '.join(map(str, ex._processes)), flush=True)
        time.sleep(120)
'''


def _alive(pid:int) -> bool:
    try: st = Path(f'/proc/{pid}/status').read_text()
    except OSError: return False
    return 'State:\tZ' not in st


def test_workers_exit_when_their_parent_dies(tmp_path):
    (tmp_path/'parent.py').write_text(PARENT)
    p = subprocess.Popen([sys.executable, str(tmp_path/'parent.py')], stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path)
    pids = []
    try:
        pids = [int(x) for x in p.stdout.readline().split()]
        assert len(pids) == 2 and all(map(_alive, pids))
        p.send_signal(signal.SIGKILL); p.wait()
        t0 = time.time()
        while time.time() - t0 < 15 and any(map(_alive, pids)): time.sleep(0.2)
        assert not any(map(_alive, pids)), 'workers outlived their parent'
    finally:
        if p.poll() is None: p.kill()
        for pid in pids:
            if _alive(pid): os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- 4. preference drafts
PREFS = dict(num_return_sequences=2, max_new_tokens=4, max_retries=0, device='cpu', dtype='float32')


def test_prefs_retries_a_failed_case_on_the_next_run(tiny, tmp_path):
    from mu2llm.train.prefs import run_prefs
    prep = tmp_path/'prep'; shutil.copytree(tiny/'prep', prep)
    key = json.loads((prep/'manifest.jsonl').read_text().splitlines()[1])['meta']['cache_key']
    npy = prep/'entries'/f'{key}.npy'; good = npy.read_bytes(); npy.write_bytes(b'not an array')
    s, _ = run_prefs(tiny/'ckpt', prep/'manifest.jsonl', tmp_path/'out', **PREFS)
    assert [f['id'] for f in s['failed']] == ['v1']
    npy.write_bytes(good)
    s, _ = run_prefs(tiny/'ckpt', prep/'manifest.jsonl', tmp_path/'out', **PREFS)
    assert s['failed'] == [] and s['sampled'] == 3 and s['sampled_now'] == 1, s
    assert sum(r['id'] == 'v1' and r['status'] == 'ok' for r in read_jsonl(tmp_path/'out/candidates.jsonl')) == 1


@pytest.mark.parametrize('bad', [dict(temperature=0.0), dict(top_p=0.0), dict(pairing='foo'), dict(batch_size=0),
                                 dict(num_return_sequences=1), dict(max_new_tokens=0)])
def test_prefs_checks_options_before_writing_anything(tiny, tmp_path, monkeypatch, bad):
    import mu2llm.train.prefs as pm
    def no_load(*a, **k): raise AssertionError('the checkpoint was loaded before the options were checked')
    monkeypatch.setattr(pm, 'load_checkpoint', no_load)
    with pytest.raises(ConfigError): pm.run_prefs(tiny/'ckpt', tiny/'prep/manifest.jsonl', tmp_path/'out', **{**PREFS, **bad})
    assert not (tmp_path/'out').exists() or list((tmp_path/'out').iterdir()) == []


def test_prefs_rejected_run_does_not_block_the_corrected_one(tiny, tmp_path, capsys):
    args = dict(checkpoint=str(tiny/'ckpt'), manifest=str(tiny/'prep/manifest.jsonl'), out=str(tmp_path/'o'), preset='tiny',
                max_new_tokens=4, num_return_sequences=2)
    assert _cli('prefs', **args, temperature=0.0) == 2
    assert '--temperature' in _one_line(capsys.readouterr().err, 'mu2llm_prefs')
    assert not (tmp_path/'o/settings.json').exists()
    assert _cli('prefs', **args, temperature=1.0) == 0


# ---------------------------------------------------------------- 5. one clear line for every bad input
LATIN = '{"id": "caf\xe9", "volume": "v0.nii.gz", "dataset": "t", "split": "train", "patient_id": "p", "report": "x"}\n'


def _latin_manifest(tiny, tmp_path) -> Path:
    good = (tiny/'m.jsonl').read_text().splitlines()
    rows = [json.loads(l) for l in good]
    for r in rows: r['volume'] = str(tiny/r['volume'])
    p = tmp_path/'latin.jsonl'
    p.write_bytes((json.dumps(rows[0]) + '\n').encode() + LATIN.encode('latin-1') + (json.dumps(rows[1]) + '\n').encode())
    return p


def test_non_utf8_manifest_line_is_named_not_a_traceback(tiny, tmp_path, capsys):
    from mu2llm.data.manifest import read_manifest
    from mu2llm.core.errors import ManifestError
    p = _latin_manifest(tiny, tmp_path)
    with pytest.raises(ManifestError, match='line 2.*UTF-8'): read_manifest(p)
    errs = []; assert [r.id for r in read_manifest(p, errors=errs)] == ['v0', 'v1'] and 'line 2' in errs[0].reason
    with pytest.raises(ManifestError, match='line 2.*UTF-8'): read_jsonl(p)
    assert _cli('prep', p, out=str(tmp_path/'c'), preset='tiny', workers=0) == 0      # the bad row is recorded, the rest prepared
    assert 'UTF-8' in read_jsonl(tmp_path/'c/failures.jsonl')[0]['reason']
    capsys.readouterr()
    assert _cli('generate', tiny/'ckpt', p, out=str(tmp_path/'g.jsonl')) == 2
    assert 'line 2' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert _cli('augment', manifest=str(p), out=str(tmp_path/'a.jsonl'), model='m') == 2
    assert 'UTF-8' in _one_line(capsys.readouterr().err, 'mu2llm_augment')
    assert _cli('train', overrides=['max_steps=1'], preset='tiny', manifest=str(p), cache=str(tiny/'prep'), out=str(tmp_path/'t')) == 2
    assert 'UTF-8' in _one_line(capsys.readouterr().err, 'mu2llm_train')


def _free_port() -> int:
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_augment_exits_nonzero_when_every_request_failed(tiny, tmp_path, capsys):
    from mu2llm.augment.backends import LoopbackChatServer, Reply
    url = f'http://127.0.0.1:{_free_port()}/v1'                                  # connection refused
    assert _cli('augment', manifest=str(tiny/'m.jsonl'), out=str(tmp_path/'a.jsonl'), model='m', base_url=url, max_retries=0) == 1
    assert 'connection' in _one_line(capsys.readouterr().err, 'mu2llm_augment')
    with LoopbackChatServer(lambda body, n: Reply(status=401, body='{"error": "bad key"}')) as srv:
        assert _cli('augment', manifest=str(tiny/'m.jsonl'), out=str(tmp_path/'b.jsonl'), model='m', base_url=srv.url) == 1
    assert 'HTTP 401' in _one_line(capsys.readouterr().err, 'mu2llm_augment')


def test_unwritable_or_file_out_is_refused_before_any_work(tiny, tmp_path, monkeypatch, capsys):
    import mu2llm.eval.evaluate as ev
    ro = _unwritable_dir(tmp_path)
    _no_model_load(monkeypatch)
    def no_metrics(*a, **k): raise AssertionError('metrics computed before --out was checked')
    monkeypatch.setattr(ev, 'compute_metrics', no_metrics)
    preds = tmp_path/'p.jsonl'; preds.write_text(json.dumps({'id': 'a', 'report': REPORT}) + '\n')
    assert _cli('eval', preds=str(preds), refs=str(preds), out=str(ro), metrics='bleu') == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_eval')
    afile = tmp_path/'afile'; afile.write_text('x')
    assert _cli('eval', preds=str(preds), refs=str(preds), out=str(afile), metrics='bleu') == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_eval')
    assert _cli('generate', tiny/'ckpt', tiny/'v0.nii.gz', out=str(ro/'x.jsonl')) == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert _cli('generate', tiny/'ckpt', tiny/'v0.nii.gz', out=str(afile/'x.jsonl')) == 2
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    for name, kw in [('prep', dict(manifest=str(tiny/'m.jsonl'), preset='tiny')),                  # folder outputs given a file
                     ('prefs', dict(checkpoint=str(tiny/'ckpt'), manifest=str(tiny/'prep/manifest.jsonl'), judge='rule')),
                     ('phantoms', dict(n_cases=1, size='tiny')),
                     ('train', dict(manifest=str(tiny/'prep/manifest.jsonl'), preset='tiny', overrides=['max_steps=1']))]:
        assert _cli(name, **kw, out=str(afile)) == 2, name
        assert '--out' in _one_line(capsys.readouterr().err, f'mu2llm_{name}'), name
    assert afile.read_text() == 'x'
    assert _cli('augment', manifest=str(tiny/'m.jsonl'), model='m', out=str(ro/'a.jsonl')) == 2         # a file output in a read-only folder
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_augment')
    assert _cli('augment', manifest=str(tiny/'m.jsonl'), model='m', out=str(tmp_path)) == 2             # ... or naming a folder
    assert '--out' in _one_line(capsys.readouterr().err, 'mu2llm_augment')


@pytest.mark.parametrize('opt', [dict(batch_size=0), dict(max_new_tokens=0), dict(dtype='foo'), dict(device='foo')])
def test_generate_checks_options_before_loading(tiny, tmp_path, monkeypatch, capsys, opt):
    _no_model_load(monkeypatch)
    assert _cli('generate', tiny/'ckpt', tiny/'v0.nii.gz', out=str(tmp_path/'x.jsonl'), **opt) == 2
    assert f'--{next(iter(opt))}' in _one_line(capsys.readouterr().err, 'mu2llm_generate')
    assert not (tmp_path/'x.jsonl').exists()


@pytest.mark.parametrize('name,opt', [('augment', dict(max_new_tokens=0)), ('augment', dict(max_retries=-1)),
                                      ('augment', dict(timeout=0.0)), ('augment', dict(temperature=-1.0)),
                                      ('augment', dict(rpm=0.0)), ('prefs', dict(min_gap=-1.0)),
                                      ('prefs', dict(max_retries=-1)), ('prefs', dict(top_p=0.0)),
                                      ('prefs', dict(temperature=0.0))])
def test_other_commands_check_options_before_any_work(tiny, tmp_path, monkeypatch, capsys, name, opt):
    _no_model_load(monkeypatch)
    kw = dict(manifest=str(tiny/'m.jsonl'), model='m', base_url=f'http://127.0.0.1:{_free_port()}/v1') if name == 'augment' else \
         dict(checkpoint=str(tiny/'ckpt'), manifest=str(tiny/'prep/manifest.jsonl'), preset='tiny')
    assert _cli(name, **kw, out=str(tmp_path/'o'), **opt) == 2
    assert f'--{next(iter(opt))}' in _one_line(capsys.readouterr().err, f'mu2llm_{name}')
    assert not (tmp_path/'o').exists() and not (tmp_path/'o.store.jsonl').exists()


def test_a_pairs_file_with_a_cut_last_line_is_refused(tmp_path):
    from mu2llm.train.dpo import PairDataset
    vols = [dict(id='a', pixel_values=None), dict(id='b', pixel_values=None)]
    pairs = [dict(id=k, chosen='good report', rejected='bad report', question=None) for k in 'ab']
    p = tmp_path/'pairs.jsonl'; text = ''.join(json.dumps(x) + '\n' for x in pairs)
    p.write_text(text); assert len(PairDataset(p, vols)) == 2
    p.write_text(text[:-15])
    with pytest.raises(FileError) as e: PairDataset(p, vols)
    assert 'line 2' in e.value.reason


# ---------------------------------------------------------------- 6. shared use
@pytest.mark.parametrize('umask,mode', [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_honours_the_umask(tmp_path, umask, mode):
    from mu2llm.core.files import write_text_atomic
    old = os.umask(umask)
    try: write_text_atomic(tmp_path/'a.txt', 'x')
    finally: os.umask(old)
    assert (tmp_path/'a.txt').stat().st_mode & 0o777 == mode


KILLED_WRITER = '''
import os, sys
from mu2llm.core.files import atomic_write
cm = atomic_write(sys.argv[1]); f = cm.__enter__(); f.write(b'half'); f.flush()
os._exit(9)                                                          # killed inside the block: the temp file stays
'''


def test_orphan_temp_files_are_cleaned_on_the_next_run(tiny, tmp_path):
    from mu2llm.core.files import write_text_atomic
    from mu2llm.data.cache import prep_manifest
    target = tmp_path/'x.json'
    subprocess.run([sys.executable, '-c', KILLED_WRITER, str(target)], env=cli_env(), timeout=120)
    orphans = lambda d, n='x.json': [p for p in d.iterdir() if p.name.startswith(f'.{n}.') and p.name.endswith('.tmp')]
    assert len(orphans(tmp_path)) == 1 and not target.exists()
    write_text_atomic(target, '{}')                                   # the next write of that file removes the orphan
    assert orphans(tmp_path) == [] and target.read_text() == '{}'
    c = tmp_path/'c'; (c/'entries').mkdir(parents=True)
    subprocess.run([sys.executable, '-c', KILLED_WRITER, str(c/'entries'/'k.npy')], env=cli_env(), timeout=120)
    assert len(orphans(c/'entries', 'k.npy')) == 1
    prep_manifest(tiny/'m.jsonl', c, config='tiny', workers=0)          # a run sweeps the cache folder
    assert orphans(c/'entries', 'k.npy') == []


# ---------------------------------------------------------------- 7. secrets and paths
def test_no_credential_is_stored(tiny, tmp_path, monkeypatch):
    from mu2llm.augment.backends import LoopbackChatServer, Reply
    from mu2llm.augment.runner import run_augment
    monkeypatch.setenv('MU2_TEST_KEY', 'sk-envsecret123')
    echo = lambda body, n: Reply(status=401, body='{"error": "invalid key sk-envsecret123 (user alice:hunter2, api-key=qsecret)"}')
    with LoopbackChatServer(echo) as srv:
        url = srv.url.replace('http://', 'http://alice:hunter2@') + '?api-key=qsecret'
        d = run_augment(tiny/'m.jsonl', tmp_path/'a.jsonl', model='m', base_url=url, api_key_env='MU2_TEST_KEY', max_retries=0)
        assert srv.n_requests == 1                                          # the URL with a query still reaches the server
    stored = (tmp_path/'a.jsonl.store.jsonl').read_text() + json.dumps(d)
    assert 'HTTP 401' in stored
    for secret in ('hunter2', 'qsecret', 'sk-envsecret123'): assert secret not in stored, secret


def test_stage_summaries_store_no_credential(tmp_path):
    from mu2llm.core.presets import Recipe
    from mu2llm.core.stages import run_stage
    rec = Recipe.load('tiny', {'augment': {'base_url': 'https://bob:hunter2@api.example/v1?api-key=qsecret', 'model': 'm'}})
    run_stage('augment', rec, out=tmp_path/'aug', inputs={'prep': {'manifest': 'm.jsonl'}}, fn=lambda ctx: {})
    s = (tmp_path/'aug'/'summary.json').read_text()
    assert 'api.example' in s and 'hunter2' not in s and 'qsecret' not in s


def test_cache_key_must_be_a_plain_name(tiny, tmp_path):
    from mu2llm.data.dataset import CTReportDataset
    cache = tmp_path/'c'; shutil.copytree(tiny/'prep', cache)
    rows = [json.loads(l) for l in (cache/'manifest.jsonl').read_text().splitlines()]
    key = rows[0]['meta']['cache_key']
    for ext in ('npy', 'json'): shutil.copy(cache/'entries'/f'{key}.{ext}', tmp_path/f'outside.{ext}')   # readable outside
    rows[0]['meta']['cache_key'] = '../../outside'
    (cache/'manifest.jsonl').write_text(json.dumps(rows[0]) + '\n')
    with pytest.raises(Mu2LLMError) as e: CTReportDataset(cache/'manifest.jsonl', cache)
    assert 'not a plain name' in str(e.value) and '../../outside' in str(e.value)


# ---------------------------------------------------------------- 8. first run offline; options spelt as the CLI does
def test_default_evaluation_works_without_any_bertscore_model(tmp_path, monkeypatch):
    import mu2llm.score.metrics as sm
    from mu2llm.eval.evaluate import evaluate
    monkeypatch.setattr(sm, 'minilm_path', lambda: None); monkeypatch.setattr(sm, '_local_hub_snapshot', lambda name: None)
    p = tmp_path/'p.jsonl'; p.write_text(''.join(json.dumps({'id': str(i), 'report': REPORT}) + '\n' for i in range(2)))
    s = evaluate(p, p, tmp_path/'ev', n_boot=0)
    assert s['means']['bleu1'] == pytest.approx(1.0) and 'bertscore' in s['skipped'], s.get('skipped')
    assert '--bertscore_model' in s['skipped']['bertscore']
    with pytest.raises(ConfigError) as e: evaluate(p, p, tmp_path/'ev2', metrics='bleu,bertscore', n_boot=0)
    assert '--bertscore_model' in str(e.value) and not (tmp_path/'ev2'/'summary.json').exists()


def test_messages_name_options_as_the_cli_spells_them():
    from fastcore.script import anno_parser
    from mu2llm.cli import commands
    known = {'--help', '--no-deps'}                                   # argparse's own, pip's
    for c in commands.COMMANDS:
        known |= {o for a in anno_parser(getattr(commands, f'mu2llm_{c}').__wrapped__)._actions for o in a.option_strings}
    bad, pkg = [], Path(commands.__file__).resolve().parents[1]      # the package that is imported
    for p in sorted(pkg.rglob('*.py')):
        for n in ast.walk(ast.parse(p.read_text(encoding='utf-8'))):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                bad += [f'{p.relative_to(pkg.parent)}:{n.lineno} {o}' for o in re.findall(r'(?<![\w-])--[a-zA-Z][\w-]*', n.value)
                        if o not in known]
    assert not bad, bad


# ---------------------------------------------------------------- 9. smaller points
def test_zero_spacing_is_refused_by_name_on_write_and_read(tmp_path, caplog):
    import struct
    from mu2llm.data.ct_io import read_ct, write_nifti
    from mu2llm.testing import tiny_hu
    with pytest.raises(ConfigError, match='spacing'): write_nifti(tmp_path/'z.nii', tiny_hu((8, 8, 8)), spacing=(1., 1., 0.))
    write_nifti(tmp_path/'g.nii', tiny_hu((8, 8, 8)), spacing=(0.7, 0.7, 2.5))
    raw = bytearray((tmp_path/'g.nii').read_bytes())
    z = bytearray(raw); z[88:92] = struct.pack('<f', 0.0); (tmp_path/'z.nii').write_bytes(bytes(z))   # pixdim[3] = 0
    with pytest.raises(CTReadError, match='voxel spacing'): read_ct(tmp_path/'z.nii')
    q = bytearray(raw); q[76:80] = struct.pack('<f', 0.0); q[254:256] = struct.pack('<h', 0)          # qfac 0, qform only
    (tmp_path/'q.nii').write_bytes(bytes(q))
    v = read_ct(tmp_path/'q.nii')
    np.testing.assert_allclose(v.spacing, (0.7, 0.7, 2.5), rtol=1e-6)
    assert any('q.nii' in r.getMessage() and 'qfac' in r.getMessage() for r in caplog.records)


def test_a_folder_of_subfolders_is_not_called_empty(tmp_path):
    from mu2llm.data.ct_io import read_ct
    (tmp_path/'series_a').mkdir(); (tmp_path/'series_b').mkdir()
    with pytest.raises(CTReadError) as e: read_ct(tmp_path)
    assert 'empty' not in e.value.reason and '2 subfolder' in e.value.reason
    (tmp_path/'series_a').rmdir(); (tmp_path/'series_b').rmdir()
    with pytest.raises(CTReadError, match='empty'): read_ct(tmp_path)


def test_p_normal_outside_0_1_is_refused(tmp_path, capsys):
    from mu2llm.data.phantoms import generate_phantoms
    assert _cli('phantoms', out=str(tmp_path/'ph'), n_cases=1, size='tiny', p_normal=2.0) == 2
    assert '--p_normal' in _one_line(capsys.readouterr().err, 'mu2llm_phantoms')
    with pytest.raises(ConfigError, match='p_normal'): generate_phantoms(tmp_path/'ph2', 1, size='tiny', p_normal=2.0)
    assert not (tmp_path/'ph2').exists()
