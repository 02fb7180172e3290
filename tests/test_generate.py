"""`mu2llm_generate` as a command: a tiny saved checkpoint, a folder with a broken scan, a DICOM folder, a manifest,
determinism of greedy and seeded sampling across separate processes."""
import os, subprocess

import pytest

from mu2llm.core.files import read_jsonl

from _helpers import cli, save_tiny_checkpoint

OPTIONS = ('--out', '--question', '--split', '--batch_size', '--max_new_tokens', '--do_sample', '--temperature', '--top_p',
           '--seed', '--num_return_sequences', '--blank_volume', '--device', '--dtype')


def _call(*args, **kw):
    "Run `mu2llm_generate` in this process (cheaper than a subprocess); returns the exit status."
    from mu2llm.cli.commands import mu2llm_generate
    try: mu2llm_generate(*map(str, args), **kw); return 0
    except SystemExit as e: return e.code


def _run(*args, ok=True):
    env = {**os.environ, 'MU2LLM_NO_PROGRESS': '1'}
    p = subprocess.run([*cli('generate'), *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=300)
    if ok: assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    "A tiny random-weight μ²LLM checkpoint (model + processor), and a folder of scans."
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.data.ct_io import write_dicom_series
    root = tmp_path_factory.mktemp('gen')
    save_tiny_checkpoint(root/'ckpt')
    scans = root/'scans'; scans.mkdir()
    write_nifti(scans/'case_a.nii.gz', tiny_hu(seed=1)); write_nifti(scans/'case_b.nii.gz', tiny_hu(seed=2, shape=(40, 44, 20)))
    (scans/'corrupt.nii.gz').write_bytes(b'\x1f\x8b\x08\x00garbage-truncated')
    write_dicom_series(root/'dicom'/'series_x', tiny_hu(seed=4))
    return root


def test_help_documents_every_option(ckpt):
    p = _run('--help')
    for o in OPTIONS: assert o in p.stdout, o
    assert 'checkpoint' in p.stdout and 'manifest' in p.stdout


def test_folder_with_a_corrupt_scan(ckpt):
    out = ckpt/'preds.jsonl'
    p = _run(ckpt/'ckpt', ckpt/'scans', '--out', out, '--max_new_tokens', 6, '--batch_size', 2)
    recs = read_jsonl(out)
    assert [r['id'] for r in recs] == ['case_a', 'case_b', 'corrupt']
    assert [r['status'] for r in recs] == ['ok', 'ok', 'failed']
    assert recs[2]['error_type'] == 'CTReadError' and 'corrupt.nii.gz' in recs[2]['source'] and recs[2]['reason']
    for r in recs[:2]:
        assert isinstance(r['report'], str) and r['prompt'].count('<image>') == 1
        assert r['settings']['decoding'] == 'greedy' and r['settings']['max_new_tokens'] == 6
        assert r['checkpoint'] == str((ckpt/'ckpt').resolve())
    assert '2 report(s), 1 failed' in p.stdout and 'corrupt' in p.stderr


def test_dicom_folder_and_single_file(ckpt):
    out = ckpt/'dicom.jsonl'
    _run(ckpt/'ckpt', ckpt/'dicom'/'series_x', '--out', out, '--max_new_tokens', 5)
    recs = read_jsonl(out)
    assert [(r['id'], r['status']) for r in recs] == [('series_x', 'ok')]
    _call(ckpt/'ckpt', ckpt/'dicom', out=str(out), max_new_tokens=5)                      # a folder of DICOM series
    assert [(r['id'], r['status']) for r in read_jsonl(out)] == [('series_x', 'ok')]


def test_manifest_input_keeps_references(ckpt):
    from mu2llm.data.manifest import ManifestRow, write_manifest
    rows = [ManifestRow(id=f'm{i}', volume=str(ckpt/'scans'/f'case_{c}.nii.gz'), report=f'report {c}', question=None,
                        answer=None, dataset='t', split=s, patient_id=f'p{i}', task='report', meta={})
            for i, (c, s) in enumerate([('a', 'test'), ('b', 'train')])]
    write_manifest(ckpt/'m.jsonl', rows)
    out = ckpt/'m_preds.jsonl'
    assert _call(ckpt/'ckpt', ckpt/'m.jsonl', split='test', out=str(out), max_new_tokens=4) == 0
    recs = read_jsonl(out)
    assert [(r['id'], r['reference']) for r in recs] == [('m0', 'report a')]


def test_greedy_and_seeded_sampling_are_deterministic(ckpt):
    a, b = ckpt/'g1.jsonl', ckpt/'g2.jsonl'
    for o in (a, b): _run(ckpt/'ckpt', ckpt/'scans'/'case_a.nii.gz', '--out', o, '--max_new_tokens', 10)
    assert read_jsonl(a)[0]['report'] == read_jsonl(b)[0]['report']
    samp = lambda o, seed: _run(ckpt/'ckpt', ckpt/'scans', '--out', o, '--max_new_tokens', 10, '--do_sample', '--seed', seed,
                                '--temperature', 1.5, '--num_return_sequences', 3)
    samp(a, 7); samp(b, 7)
    ra, rb = read_jsonl(a), read_jsonl(b)
    assert [r.get('reports') for r in ra] == [r.get('reports') for r in rb]
    assert len(ra[0]['reports']) == 3 and ra[0]['settings']['seed'] == 7
    samp(b, 8)                                   # another seed draws other text (random weights, T=1.5, 10 tokens)
    assert [r.get('reports') for r in read_jsonl(b)] != [r.get('reports') for r in ra]


def test_bad_checkpoint_and_input_exit_2(ckpt, capsys):
    p = _run(ckpt/'scans', ckpt/'scans', '--out', ckpt/'x.jsonl', ok=False)
    assert p.returncode == 2 and 'config.json' in p.stderr
    assert _call(ckpt/'ckpt', ckpt/'missing', out=str(ckpt/'x.jsonl')) == 2
    assert 'not found' in capsys.readouterr().err
    assert _call(ckpt/'ckpt', ckpt/'scans', num_return_sequences=2) == 2
    assert '--do_sample' in capsys.readouterr().err


def test_all_failed_exits_1(ckpt):
    bad = ckpt/'bad'; bad.mkdir(exist_ok=True); (bad/'x.nii').write_bytes(b'')
    assert _call(ckpt/'ckpt', bad, out=str(ckpt/'bad.jsonl')) == 1
    r, = read_jsonl(ckpt/'bad.jsonl')
    assert r['status'] == 'failed' and 'empty' in r['reason']
