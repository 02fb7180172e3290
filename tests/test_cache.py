"""`mu2llm_prep` and the cache: bad inputs recorded while others succeed, no work on a second run,
kill-and-resume never trusts a half-written entry, config changes give new keys."""
import os
import signal
import shutil
import subprocess
import time

import pytest
import torch

from mu2llm.core.files import read_jsonl
from mu2llm.data.manifest import ManifestRow, write_manifest, read_manifest
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti

pytest.importorskip('mu2llm.data.preprocess')
pytest.importorskip('mu2llm.data.ct_io')
from mu2llm.data.cache import VolumeCache, prep_manifest
from mu2llm.data.ct_io import read_ct
from mu2llm.data.preprocess import PreprocessConfig, preprocess_ct

ENV = {**os.environ, 'MU2LLM_NO_PROGRESS': '1'}


def _prep(*args, timeout=300):
    exe = shutil.which('mu2llm_prep')
    assert exe, 'mu2llm_prep is not installed: pip install -e .'
    return subprocess.run([exe, *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def _volumes(d, n, shape=(40, 36, 20)):
    rows = []
    for i in range(n):
        write_nifti(d/f'v{i}.nii.gz', tiny_hu(shape, seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'demo', 'train', f'p{i}', report=f'Report {i}.'))
    return rows


def _fresh(path, cfg, dtype=torch.float16):
    return preprocess_ct(read_ct(path), cfg).to(dtype).float()


def test_bad_inputs_are_recorded_and_the_rest_succeeds(tmp_path):
    rows = _volumes(tmp_path, 2)
    (tmp_path/'empty.nii.gz').write_bytes(b'')
    good = (tmp_path/'v0.nii.gz').read_bytes()
    (tmp_path/'trunc.nii.gz').write_bytes(good[:len(good)//2])
    (tmp_path/'notgz.nii.gz').write_bytes(b'this is not a gzip file at all' * 10)
    rows += [ManifestRow(n, f'{n}.nii.gz', 'demo', 'test', n) for n in ('empty', 'trunc', 'notgz', 'missing')]
    write_manifest(tmp_path/'m.jsonl', rows)
    with open(tmp_path/'m.jsonl', 'a') as f: f.write('{"id": "broken", "volume": 3}\n')
    r = _prep(tmp_path/'m.jsonl', '--out', tmp_path/'c', '--preset', 'tiny', '--workers', '2')
    assert r.returncode == 0, r.stderr
    assert '2 new' in r.stdout and '4 failed' in r.stdout, r.stdout
    fails = {f['id']: f for f in read_jsonl(tmp_path/'c/failures.jsonl')}
    assert set(fails) == {'empty', 'trunc', 'notgz', 'missing', None}
    assert fails[None]['error_type'] == 'ManifestError' and 'line 7' in fails[None]['reason']
    for k in ('empty', 'trunc', 'notgz', 'missing'):
        assert fails[k]['error_type'] == 'CTReadError', fails[k]  # typed errors from read_ct, not crashes
        assert fails[k]['path'].endswith(f'{k}.nii.gz') and fails[k]['reason']
    out = read_manifest(tmp_path/'c/manifest.jsonl')
    assert [o.id for o in out] == ['v0', 'v1'] and all('cache_key' in o.meta for o in out)


def test_everything_failing_exits_nonzero(tmp_path):
    write_manifest(tmp_path/'m.jsonl', [ManifestRow('x', 'missing.nii.gz', 'demo', 'test', 'p')])
    r = _prep(tmp_path/'m.jsonl', '--out', tmp_path/'c', '--preset', 'tiny')
    assert r.returncode == 1 and '1 failed' in r.stdout
    assert _prep(tmp_path/'nope.jsonl', '--out', tmp_path/'c').returncode == 2


def test_second_run_does_no_work(tmp_path, monkeypatch):
    import mu2llm.data.cache as cm
    write_manifest(tmp_path/'m.jsonl', _volumes(tmp_path, 3))
    calls, hashes = [], []
    orig_rp, orig_sha = cm._read_and_preprocess, cm.file_sha256
    monkeypatch.setattr(cm, '_read_and_preprocess', lambda *a: (calls.append(a), orig_rp(*a))[1])
    monkeypatch.setattr(cm, 'file_sha256', lambda p: (hashes.append(p), orig_sha(p))[1])
    s1 = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert (s1['new'], len(calls), len(hashes)) == (3, 3, 3)
    s2 = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert (s2['cached'], s2['new'], len(calls), len(hashes)) == (3, 0, 3, 3)  # no preprocessing, no hashing
    # a touched (but identical) file is re-hashed, found cached, not re-preprocessed
    os.utime(tmp_path/'v1.nii.gz', ns=(time.time_ns(), time.time_ns() + 10**9))
    s3 = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert (s3['cached'], len(calls), len(hashes)) == (3, 3, 4)
    # a changed file gets a new entry
    write_nifti(tmp_path/'v2.nii.gz', tiny_hu((40, 36, 20), seed=99), spacing=(1.5, 1.5, 3.0))
    s4 = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert (s4['cached'], s4['new'], len(calls)) == (2, 1, 4)


def test_second_cli_run_reports_all_cached(tmp_path):
    write_manifest(tmp_path/'m.jsonl', _volumes(tmp_path, 3))
    assert '3 new' in _prep(tmp_path/'m.jsonl', '--out', tmp_path/'c', '--preset', 'tiny', '--workers', '2').stdout
    r = _prep(tmp_path/'m.jsonl', '--out', tmp_path/'c', '--preset', 'tiny', '--workers', '2')
    assert '3 cached, 0 new' in r.stdout, r.stdout
    assert PreprocessConfig.load(tmp_path/'c/config.json') == PreprocessConfig.preset('tiny')


def test_sigkill_mid_run_then_resume(tmp_path):
    n = 10
    write_manifest(tmp_path/'m.jsonl', _volumes(tmp_path, n, shape=(96, 96, 48)))
    cmd = [shutil.which('mu2llm_prep'), str(tmp_path/'m.jsonl'),
           '--out', str(tmp_path/'c'), '--preset', 'demo', '--workers', '2']
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    edir, t0 = tmp_path/'c/entries', time.time()
    while time.time() - t0 < 120 and len(list(edir.glob('*.json'))) < 2 and p.poll() is None: time.sleep(0.02)
    assert p.poll() is None, p.stderr.read().decode()[-2000:]
    os.killpg(p.pid, signal.SIGKILL); p.wait()  # the CLI and its workers
    n_before = len(list(edir.glob('*.json')))
    assert n_before < n, 'run finished before it could be killed; make the volumes bigger'
    r = _prep(tmp_path/'m.jsonl', '--out', tmp_path/'c', '--preset', 'demo', '--workers', '2')
    assert r.returncode == 0 and f'{n} volume(s)' in r.stdout and '0 failed' in r.stdout, r.stdout + r.stderr
    assert not list(edir.glob('.*.tmp')), 'the resumed run must remove the temp files of the killed writers'
    cfg, vc = PreprocessConfig.preset('demo'), VolumeCache(tmp_path/'c')
    rows = read_manifest(tmp_path/'c/manifest.jsonl')
    assert len(rows) == n
    for row in rows:
        assert torch.equal(vc.load(row.meta['cache_key']).float(), _fresh(row.volume_path(), cfg)), row.id


def test_half_written_entry_is_redone(tmp_path):
    write_manifest(tmp_path/'m.jsonl', _volumes(tmp_path, 1))
    prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    key = read_manifest(tmp_path/'c/manifest.jsonl')[0].meta['cache_key']
    vc = VolumeCache(tmp_path/'c')
    arr_p, meta_p = vc.paths(key)
    meta_p.unlink(); arr_p.write_bytes(arr_p.read_bytes()[:200])  # as if killed between the two writes
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert s['new'] == 1
    assert torch.equal(vc.load(key).float(), _fresh(tmp_path/'v0.nii.gz', PreprocessConfig.preset('tiny')))


def test_config_change_gives_new_keys_and_float32_is_exact(tmp_path):
    write_manifest(tmp_path/'m.jsonl', _volumes(tmp_path, 2))
    prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    k1 = [r.meta['cache_key'] for r in read_manifest(tmp_path/'c/manifest.jsonl')]
    cfg_json = tmp_path/'cfg.json'; PreprocessConfig.preset('demo').save(cfg_json)
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config=str(cfg_json), workers=0, dtype='float32')
    k2 = [r.meta['cache_key'] for r in read_manifest(tmp_path/'c/manifest.jsonl')]
    assert s['new'] == 2 and set(k1).isdisjoint(k2)
    vc = VolumeCache(tmp_path/'c')
    assert all(k in vc for k in k1 + k2)
    assert torch.equal(vc.load(k2[0]).float(), preprocess_ct(read_ct(tmp_path/'v0.nii.gz'), PreprocessConfig.preset('demo')).float())


def test_dicom_folder_source(tmp_path, shared_data):
    dcm = shared_data/'ct/totalsegmentator/example_ct_dicom'
    write_manifest(tmp_path/'m.jsonl', [ManifestRow('dcm', str(dcm), 'ts', 'test', 'p')])
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert s['new'] == 1, read_jsonl(tmp_path/'c/failures.jsonl')
    s = prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    assert s['cached'] == 1
