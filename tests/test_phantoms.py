"""Synthetic phantoms: CLI run, determinism, truth agrees with voxels and reports, orientation, DICOM output."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from mu2llm.data.anatomy import LABELS, ORGANS, lobe_of
from mu2llm.data.findings import PREVALENCE, sample_findings
from mu2llm.data.phantoms import generate_phantoms, make_case, make_counterfactual, write_case, _case_seed
from mu2llm.data.wording import phantom_report

nib = pytest.importorskip('nibabel')
ALL = {k: 1. for k in PREVALENCE}


def _erode(m):
    "Voxels of `m` whose 6 neighbours are all in `m`."
    e = m.copy()
    for ax in range(3):
        for s in (1, -1): e &= np.roll(m, s, axis=ax)
    return e


def test_cli_writes_what_it_says(tmp_path):
    out = tmp_path/'ph'
    env = {**os.environ, 'MU2LLM_NO_PROGRESS': '1'}
    exe = Path(sys.executable).parent/'mu2llm_phantoms'
    if not exe.exists(): pytest.skip('console script mu2llm_phantoms not installed (pip install -e .)')
    r = subprocess.run([str(exe), '--out', str(out), '--n_cases', '6', '--seed', '1', '--counterfactuals', '2'],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'wrote 8 cases (2 counterfactual)' in r.stdout
    rows = [json.loads(l) for l in (out/'manifest.jsonl').read_text().splitlines()]
    assert len(rows) == 8 and len({r['id'] for r in rows}) == 8
    for row in rows:
        assert row['dataset'] == 'phantom' and row['task'] == 'report' and row['report'].startswith('Findings:')
        assert (out/row['volume']).is_file() and (out/row['meta']['labels']).is_file()
        truth = json.loads((out/row['meta']['truth']).read_text())
        assert truth['id'] == row['id']
        assert {d['name']: d['present'] for d in truth['findings']} == row['meta']['findings']
        img = nib.load(out/row['volume'])
        assert img.shape == tuple(truth['shape']) and np.allclose(img.affine, truth['affine'])
    assert not list((out/'cases').glob('.*'))  # no temporary folders left
    from mu2llm.data.manifest import read_manifest
    assert len(read_manifest(out/'manifest.jsonl', check_files=True)) == 8


def test_cli_installed_script_help():
    exe = Path(sys.executable).parent/'mu2llm_phantoms'
    if not exe.exists(): pytest.skip('console script not installed')
    r = subprocess.run([str(exe), '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--counterfactuals' in r.stdout and 'number of cases' in r.stdout


def test_deterministic(tmp_path):
    r1 = generate_phantoms(tmp_path/'a', 3, seed=4, counterfactuals=1)
    r2 = generate_phantoms(tmp_path/'b', 3, seed=4, counterfactuals=1)
    assert [r['report'] for r in r1] == [r['report'] for r in r2]
    for a, b in zip(r1, r2):
        va, vb = nib.load(tmp_path/'a'/a['volume']), nib.load(tmp_path/'b'/b['volume'])
        assert np.asanyarray(va.dataobj).tobytes() == np.asanyarray(vb.dataobj).tobytes()
        assert (tmp_path/'a'/a['meta']['truth']).read_text() == (tmp_path/'b'/b['meta']['truth']).read_text()
    assert generate_phantoms(tmp_path/'c', 3, seed=5)[0]['report'] != r1[0]['report']


@pytest.mark.parametrize('seed', [11, 12, 13, 14])
def test_truth_agrees_with_voxels(seed):
    c = make_case(seed, prevalence=ALL, p_normal=0)
    t = {d['name']: d for d in c.truth()['findings']}
    vox = float(np.prod(c.spacing)); aff = c.affine
    mm = lambda ijk: (aff @ [*ijk, 1])[:3]
    for name, d in t.items():
        if d['present']: assert d['n_voxels'] > 0 and (c.labels == d['label']).sum() == d['n_voxels'], name
    for name in ('lung_nodule', 'liver_lesion', 'lymphadenopathy'):
        d = t[name]
        if not d['present']: continue
        m = c.labels == d['label']
        d_eq = (6 * m.sum() * vox / np.pi) ** (1 / 3)
        assert abs(d_eq - d['size_mm']) <= max(0.15 * d['size_mm'], 0.6 * max(c.spacing)), (name, d_eq, d['size_mm'])
        x, y, z = mm(d['centre_vox_ras'])
        np.testing.assert_allclose([x, y, z], d['centre_mm'], atol=0.05)
        if d['side'] in ('right', 'left'): assert (x > 0) == (d['side'] == 'right'), name
        if name == 'lung_nodule':
            assert str(lobe_of(c.anatomy, x, y, z)) == d['lobe']
            ring = _dilate(m) & ~m
            assert (c.organs[ring] == ORGANS['lung']).mean() > 0.9  # surrounded by aerated lung
        if name == 'liver_lesion':
            ring = _dilate(m) & ~m
            assert (c.organs[ring] == ORGANS['liver']).all()  # inside the liver
    d = t['pleural_effusion']
    if d['present']:
        ijk = np.nonzero(c.labels == d['label'])
        xs = c.affine[0, 0] * ijk[0] + c.affine[0, 3]
        sides = {'right'} if (xs > 0).all() else {'left'} if (xs < 0).all() else {'right', 'left'}
        assert sides == ({'right', 'left'} if d['side'] == 'bilateral' else {d['side']})
        assert np.median(c.hu[ijk]) < 40 and np.median(c.hu[ijk]) > -20
    # HU per structure on eroded masks (away from partial-volume edges)
    org = {k: _erode(c.organs == v) for k, v in ORGANS.items()}
    med = {k: float(np.median(c.hu[m])) for k, m in org.items() if m.sum() > 20}
    assert -1010 < med['air'] < -985 and -130 < med['subcutaneous_fat'] < -70 and 30 < med['muscle'] < 70
    assert -900 < med['lung'] < -700 and 25 < med['heart'] < 55 and med['vertebra'] > 200
    assert med['liver'] < med['spleen'] - 10  # steatosis (forced present)
    assert -25 < med['liver'] < 35
    hc = _erode(c.organs == ORGANS['heart'])
    width = np.ptp(np.nonzero(c.organs == ORGANS['heart'])[0]) * c.spacing[0]
    assert width / (2 * c.anatomy['Ac']) == pytest.approx(t['cardiomegaly']['params']['ctr'], abs=0.04)
    assert hc.any()


def _dilate(m):
    d = m.copy()
    for ax in range(3):
        for s in (1, -1): d |= np.roll(m, s, axis=ax)
    return d


def test_normal_case_hu():
    c = make_case(3, prevalence={k: 0. for k in PREVALENCE})
    assert not c.labels.any() and 'Impression: ' in c.report
    med = {k: float(np.median(c.hu[_erode(c.organs == v)])) for k, v in ORGANS.items() if _erode(c.organs == v).sum() > 20}
    assert 50 < med['liver'] < 70 and med['liver'] > med['spleen']
    width = np.ptp(np.nonzero(c.organs == ORGANS['heart'])[0]) * c.spacing[0]
    assert width / (2 * c.anatomy['Ac']) < 0.52


def test_reports_parse_with_the_labeller():
    lab = pytest.importorskip('mu2llm.score.labeller')
    bad = []
    for i in range(200):
        s = _case_seed(9, i); f = sample_findings(s)
        for rs in (s, s + 1):
            got = lab.extract_findings(phantom_report(f, rs))
            for name, v in f.items():
                g = got[name]
                want = (v['present'], v['side'] if v['present'] else None, v['size_mm'] if v['present'] else None)
                have = (g['present'], g['side'] if v['side'] or not v['present'] else None, g['size_mm'])
                if name in ('lung_nodule', 'consolidation') and v['present']: want, have = want + (v['lobe'],), have + (g['lobe'],)
                if want != have: bad.append((i, rs, name, want, have))
    assert not bad, bad[:5]


def test_orientation_lps_equals_ras(tmp_path):
    ras, lps = make_case(21, orientation='RAS', case_id='ras'), make_case(21, orientation='LPS', case_id='lps')
    assert np.array_equal(ras.hu, lps.hu)
    r1, r2 = write_case(ras, tmp_path), write_case(lps, tmp_path)
    i1, i2 = nib.load(tmp_path/r1['volume']), nib.load(tmp_path/r2['volume'])
    assert nib.aff2axcodes(i1.affine) == ('R', 'A', 'S') and nib.aff2axcodes(i2.affine) == ('L', 'P', 'S')
    assert not np.array_equal(np.asarray(i1.dataobj), np.asarray(i2.dataobj))  # stored differently
    c1, c2 = nib.as_closest_canonical(i1), nib.as_closest_canonical(i2)
    assert np.array_equal(np.asarray(c1.dataobj), np.asarray(c2.dataobj))
    np.testing.assert_allclose(c1.affine, c2.affine, atol=1e-4)
    l2 = nib.as_closest_canonical(nib.load(tmp_path/r2['meta']['labels']))
    assert np.array_equal(np.asarray(l2.dataobj), ras.labels)
    t2 = json.loads((tmp_path/r2['meta']['truth']).read_text())
    for d in t2['findings']:  # the stored-order centre points at the same world point
        if d['present']: np.testing.assert_allclose((i2.affine @ [*d['centre_vox'], 1])[:3], d['centre_mm'], atol=0.05)


def test_dicom_series(tmp_path):
    pydicom = pytest.importorskip('pydicom')
    c = make_case(8, orientation='LPS')
    row = write_case(c, tmp_path, dicom=True)
    files = sorted((tmp_path/row['volume']).glob('*.dcm'))
    assert len(files) == c.hu.shape[2]
    ds = [pydicom.dcmread(f) for f in files]
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    assert all(d.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian for d in ds)
    raw = np.stack([d.pixel_array for d in ds], -1)  # (rows, cols, slices)
    hu = raw.astype(np.int32) * int(ds[0].RescaleSlope) + int(ds[0].RescaleIntercept)
    assert raw.min() >= 0 and not np.array_equal(raw, hu)  # stored values are not HU
    canon = hu.transpose(1, 0, 2)[::-1, ::-1]  # (cols=left-ward, rows=posterior-ward) -> RAS (x, y)
    assert np.array_equal(canon, c.hu)
    z = [float(d.ImagePositionPatient[2]) for d in ds]
    np.testing.assert_allclose(np.diff(z), c.spacing[2], atol=1e-4)
    p0 = np.array(ds[0].ImagePositionPatient, float)
    np.testing.assert_allclose([-p0[0], -p0[1], p0[2]], (c.affine @ [c.hu.shape[0] - 1, c.hu.shape[1] - 1, 0, 1])[:3], atol=1e-3)
    np.testing.assert_allclose([float(v) for v in ds[0].PixelSpacing], [c.spacing[1], c.spacing[0]])
    try: from mu2llm.data.ct_io import read_ct
    except ImportError: return
    vol = read_ct(tmp_path/row['volume'])
    assert np.array_equal(vol.hu, c.hu) and np.allclose(vol.spacing, c.spacing, atol=1e-4)


@pytest.mark.parametrize('k', [0, 1, 2])
def test_counterfactual_changes_one_finding(k):
    c = make_case(31, p_normal=0)
    cf = make_counterfactual(c, k)
    ch = cf.meta['change']
    assert cf.meta['counterfactual_of'] == c.id and ch['before'] != ch['after']
    for name, v in LABELS.items():
        same = np.array_equal(cf.labels == v, c.labels == v)
        assert same == (name != ch['finding']) or ch['kind'] == 'flip_side' and name == ch['finding'] and not same
    assert c.anatomy == cf.anatomy
    changed = (cf.labels != c.labels) | (cf.organs != c.organs)
    near = changed.copy()
    for ax in range(3):  # the blur reaches 2 voxels along each axis
        near = near | np.roll(near, 1, ax) | np.roll(near, -1, ax) | np.roll(near, 2, ax) | np.roll(near, -2, ax)
    assert changed.any() and np.abs(cf.hu.astype(int) - c.hu)[~near].max() == 0  # same noise and anatomy elsewhere
