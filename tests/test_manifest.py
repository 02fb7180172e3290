"""Manifest reading on a corpus of bad inputs, adapters on fixtures in the published layouts, and leakage checks."""
import csv
import json
import random

import pytest

from mu2llm.core.errors import ManifestError
from mu2llm.data.manifest import (ManifestRow, read_manifest, write_manifest, check_leakage, ctrate_rows,
                                  amosmm_rows, atlas3_rows, m3dcap_rows, patient_split)

GOOD = dict(id='a', volume='a.nii.gz', dataset='d', split='train', patient_id='p', task='report', report='Clear.')

BAD_LINES = {
    'not json': '{"id": "x", ',
    'array': '[1, 2, 3]',
    'missing volume': json.dumps({k: v for k, v in GOOD.items() if k != 'volume'}),
    'unknown field': json.dumps({**GOOD, 'image': 'a.nii.gz'}),
    'bad split': json.dumps({**GOOD, 'split': 'validation'}),
    'bad task': json.dumps({**GOOD, 'task': 'caption'}),
    'empty report in train': json.dumps({**GOOD, 'report': '  '}),
    'vqa without question': json.dumps({**GOOD, 'task': 'vqa', 'report': None, 'answer': 'yes'}),
    'numeric id': json.dumps({**GOOD, 'id': 5}),
    'meta not object': json.dumps({**GOOD, 'meta': [1]}),
    'report not str': json.dumps({**GOOD, 'report': ['x']}),
}


@pytest.mark.parametrize('name', list(BAD_LINES))
def test_each_bad_line_is_named(tmp_path, name):
    p = tmp_path/'m.jsonl'
    p.write_text(json.dumps({**GOOD, 'id': 'ok1'}) + '\n' + BAD_LINES[name] + '\n')
    with pytest.raises(ManifestError) as e: read_manifest(p)
    assert e.value.path == str(p) and e.value.reason.startswith('line 2:'), e.value
    errs = []
    rows = read_manifest(p, errors=errs)
    assert [r.id for r in rows] == ['ok1'] and len(errs) == 1


def test_duplicate_ids_and_blank_lines(tmp_path):
    p = tmp_path/'m.jsonl'
    p.write_text('\n'.join([json.dumps(GOOD), '', json.dumps(GOOD)]) + '\n')
    errs = []
    assert len(read_manifest(p, errors=errs)) == 1
    assert 'line 3' in errs[0].reason and "duplicate id 'a' (first on line 1)" in errs[0].reason


def test_test_rows_may_lack_reports_and_answers(tmp_path):
    rows = [ManifestRow('t', 't.nii.gz', 'd', 'test', 'p'),
            ManifestRow('q', 't.nii.gz', 'd', 'test', 'p', task='vqa', question='Which side?')]
    write_manifest(tmp_path/'m.jsonl', rows)
    assert read_manifest(tmp_path/'m.jsonl') == rows


def test_relative_paths_resolve_against_manifest_folder_from_any_cwd(tmp_path, monkeypatch):
    (tmp_path/'sub').mkdir(); (tmp_path/'sub/v.nii.gz').write_bytes(b'x')
    write_manifest(tmp_path/'sub/m.jsonl', [ManifestRow(**{**GOOD, 'volume': 'v.nii.gz'})])
    monkeypatch.chdir('/')
    r, = read_manifest(tmp_path/'sub/m.jsonl', check_files=True)
    assert r.volume_path() == (tmp_path/'sub/v.nii.gz').resolve()
    assert json.loads((tmp_path/'sub/m.jsonl').read_text())['volume'] == 'v.nii.gz'  # written as given


def test_write_is_atomic_on_invalid_rows(tmp_path):
    p = tmp_path/'m.jsonl'
    write_manifest(p, [ManifestRow(**GOOD)])
    before = p.read_text()
    with pytest.raises(ManifestError): write_manifest(p, [ManifestRow(**GOOD), ManifestRow(**{**GOOD, 'split': 'x'})])
    assert p.read_text() == before and not list(tmp_path.glob('.*.tmp'))


def test_patient_split_groups_all_rows_of_a_patient():
    names = [f'train_{p}_{s}_{r}.nii.gz' for p in range(300) for s in 'ab' for r in (1, 2)]
    assign = {}
    for n in names: assign.setdefault(n.rsplit('_', 2)[0], set()).add(patient_split(n.rsplit('_', 2)[0], 0.3))
    assert all(len(v) == 1 for v in assign.values())
    frac = sum('val' in v for v in assign.values()) / len(assign)
    assert 0.2 < frac < 0.4


def _ctrate_fixture(root, names):
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    for n in names:
        parts = n.split('_'); d = root/'dataset'/('train' if parts[0] == 'train' else 'valid')/'_'.join(parts[:2])/'_'.join(parts[:3])
        d.mkdir(parents=True, exist_ok=True); write_nifti(d/f'{n}.nii.gz', tiny_hu((6, 6, 3)))
    (root/'dataset/radiology_text_reports').mkdir(parents=True, exist_ok=True)
    for split, csvname in [('train', 'train_reports.csv'), ('valid', 'validation_reports.csv')]:
        with open(root/'dataset/radiology_text_reports'/csvname, 'w', newline='') as f:
            w = csv.writer(f); w.writerow(['VolumeName', 'ClinicalInformation_EN', 'Technique_EN', 'Findings_EN', 'Impressions_EN'])
            for n in names:
                if n.startswith(split): w.writerow([f'{n}.nii.gz', '', '', f'Findings of {n[:-2]}.', 'Impression.'])
    return root/'dataset'


def test_ctrate_adapter_groups_patients_across_scans_and_reconstructions(tmp_path):
    names = ['train_10_a_1', 'train_10_a_2', 'train_10_b_1', 'train_11_a_1', 'valid_10_a_1']
    ds = _ctrate_fixture(tmp_path, names)
    tr = ctrate_rows(ds, ds/'radiology_text_reports/train_reports.csv', folder='train', val_frac=0.5)
    va = ctrate_rows(ds, ds/'radiology_text_reports/validation_reports.csv', folder='valid')
    assert [r.patient_id for r in tr] == ['train_10'] * 3 + ['train_11']
    assert len({r.split for r in tr if r.patient_id == 'train_10'}) == 1
    assert [(r.id, r.split, r.patient_id) for r in va] == [('valid_10_a_1', 'test', 'valid_10')]
    assert all(r.volume_path().is_file() for r in tr + va)
    write_manifest(tmp_path/'m.jsonl', tr + va)
    assert check_leakage(read_manifest(tmp_path/'m.jsonl', check_files=True)).patients == []


def test_ctrate_adapter_rejects_unexpected_names(tmp_path):
    ds = _ctrate_fixture(tmp_path, ['train_1_a_1'])
    with open(ds/'radiology_text_reports/train_reports.csv', 'a', newline='') as f: csv.writer(f).writerow(['scan.nii.gz', '', '', 'x', 'y'])
    with pytest.raises(ManifestError, match='not a CT-RATE volume name'): ctrate_rows(ds, ds/'radiology_text_reports/train_reports.csv')


def test_amosmm_atlas_m3d_adapters_produce_valid_manifests(tmp_path):
    from mu2llm.testing import tiny_hu
    from mu2llm.data.ct_io import write_nifti
    # AMOS-MM
    a = tmp_path/'amos'; (a/'imagesTr').mkdir(parents=True)
    write_nifti(a/'imagesTr/amos_0007.nii.gz', tiny_hu((6, 6, 3)))
    (a/'dataset.json').write_text(json.dumps({'training': [{'image': './imagesTr/amos_0007.nii.gz', 'meta': {},
        'labels': {'report': {'findings': {'chest': '', 'abdomen': '', 'pelvis': 'Bladder normal.'}},
                   'qa': [{'question': 'Q?', 'options': {'A': 'x', 'B': 'y'}, 'answer': 'B'}]}}]}))
    am = amosmm_rows(a)
    assert [(r.task, r.report or r.answer) for r in am] == [('report', 'Pelvis: Bladder normal.'), ('vqa', 'B. y')]
    assert am[1].question == 'Q? Choices: A. x B. y'
    # AbdomenAtlas 3.0
    b = tmp_path/'atlas'; (b/'BDMAP_00000009').mkdir(parents=True); write_nifti(b/'BDMAP_00000009/ct.nii.gz', tiny_hu((6, 6, 3)))
    (b/'r.csv').write_text('BDMAP ID,narrative report,structured report\nBDMAP_00000009,"Liver, normal.",LIVER: ok\nBDMAP_00000010,x,y\n')
    at = atlas3_rows(b, b/'r.csv')
    assert [(r.id, r.report) for r in at] == [('BDMAP_00000009', 'Liver, normal.')]  # 10 has no volume on disk
    assert [r.report for r in atlas3_rows(b, b/'r.csv', report_col='structured report')] == ['LIVER: ok']
    # M3D-Cap (a caption missing for a train row -> skipped)
    c = tmp_path/'m3d'; (c/'ct_case/000001').mkdir(parents=True)
    import numpy as np
    np.save(c/'ct_case/000001/Axial.npy', np.zeros((1, 2, 2, 2), np.float32)); (c/'ct_case/000001/text.txt').write_text('Caption.')
    (c/'M3D_Cap.json').write_text(json.dumps({'train': [{'image': 'ct_case/000001/Axial.npy', 'text': 'ct_case/000001/text.txt'},
                                                        {'image': 'ct_case/000002/Axial.npy', 'text': 'ct_case/000002/text.txt'}]}))
    m3 = m3dcap_rows(c)
    assert [(r.id, r.patient_id, r.report) for r in m3] == [('ct_case-000001-Axial', 'ct_case/000001', 'Caption.')]
    write_manifest(tmp_path/'all.jsonl', am + at + m3)
    assert len(read_manifest(tmp_path/'all.jsonl', check_files=True)) == 4


def test_leakage_finds_planted_leaks_among_many_rows():
    rng = random.Random(0)
    words = 'lung nodule effusion left right upper lower lobe normal heart liver lesion mm small large no the is of'.split()
    rows = [ManifestRow(f'r{i}', 'v', 'd', rng.choice(['train', 'val', 'test']), f'p{i}',
                        report=' '.join(rng.choice(words) for _ in range(60))) for i in range(3000)]
    # planted: one patient in two splits, one exact duplicate, one near duplicate (2 of 60 words changed)
    rows[10].patient_id, rows[10].split, rows[11].split = 'p11', 'train', 'test'
    rows.append(ManifestRow('dup', 'v', 'd', 'test' if rows[5].split != 'test' else 'train', 'px', report=rows[5].report.upper() + '!'))
    w = rows[7].report.split(); w[3] = 'zzz'; w[40] = 'yyy'
    rows.append(ManifestRow('near', 'v', 'd', 'test' if rows[7].split != 'test' else 'train', 'py', report=' '.join(w)))
    rep = check_leakage(rows)
    assert [p['patient_id'] for p in rep.patients] == ['p11']
    pairs = {(r['id_a'], r['id_b'], r['exact']) for r in rep.reports}
    assert pairs == {('r5', 'dup', True), ('r7', 'near', False)}, pairs
    assert not rep.truncated


def _manifest_cli(argv, capsys):
    "`python -m mu2llm.cli manifest ARGV` in this process: (exit code, stdout, stderr)."
    from mu2llm.cli.commands import main
    try: main(['manifest', *map(str, argv)]); code = 0
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_manifest_command_writes_checked_manifests(tmp_path, capsys):
    "mu2llm_manifest: CT-RATE's download layout (root or dataset/), AMOS-MM, M3D-Cap; a leaking split is refused."
    import numpy as np
    ds = _ctrate_fixture(tmp_path/'ct', ['train_10_a_1', 'train_10_a_2', 'train_11_a_1', 'valid_10_a_1'])
    for root in (tmp_path/'ct', ds):                                            # the download folder, or its dataset/
        code, out, err = _manifest_cli(['ctrate', '--root', root, '--out', tmp_path/'ct.jsonl'], capsys)
        assert code == 0, err
        rows = read_manifest(tmp_path/'ct.jsonl', check_files=True)
        assert sorted((r.id, r.split) for r in rows) == [('train_10_a_1', 'train'), ('train_10_a_2', 'train'),
                                                         ('train_11_a_1', 'train'), ('valid_10_a_1', 'test')]
        assert '4 rows of ctrate (train 3, val 0, test 1' in out and 'leakage check: 4 rows: 0 patient(s)' in out
    code, out, err = _manifest_cli(['ctrate', '--root', tmp_path/'ct', '--out', tmp_path/'f.jsonl', '--text_cols',
                                    'Findings_EN,Impressions_EN'], capsys)
    assert code == 0 and 'Impression:' in read_manifest(tmp_path/'f.jsonl')[0].report
    # M3D-Cap with one case listed in train and test: the patient leaks, the command refuses unless told
    c = tmp_path/'m3d'; (c/'ct_case/000001').mkdir(parents=True)
    np.save(c/'ct_case/000001/Axial.npy', np.zeros((1, 2, 2, 2), np.float32)); (c/'ct_case/000001/text.txt').write_text('Caption.')
    np.save(c/'ct_case/000001/Coronal.npy', np.zeros((1, 2, 2, 2), np.float32))
    (c/'M3D_Cap.json').write_text(json.dumps({'train': [{'image': 'ct_case/000001/Axial.npy', 'text': 'ct_case/000001/text.txt'}],
                                              'test': [{'image': 'ct_case/000001/Coronal.npy', 'text': 'ct_case/000001/text.txt'}]}))
    code, out, err = _manifest_cli(['m3dcap', '--root', c, '--out', tmp_path/'m3.jsonl'], capsys)
    assert code == 2 and 'ct_case/000001 in test, train' in err and '--allow_leakage' in err and not (tmp_path/'m3.jsonl').exists()
    code, out, err = _manifest_cli(['m3dcap', '--root', c, '--out', tmp_path/'m3.jsonl', '--allow_leakage'], capsys)
    assert code == 0 and len(read_manifest(tmp_path/'m3.jsonl')) == 2 and '1 patient(s) in more than one split' in out
    # errors name what is missing
    code, _, err = _manifest_cli(['ctrate', '--root', tmp_path/'m3d', '--out', tmp_path/'x.jsonl'], capsys)
    assert code == 2 and 'train_reports.csv' in err
    code, _, err = _manifest_cli(['atlas3', '--root', c, '--out', tmp_path/'x.jsonl'], capsys)
    assert code == 2 and '--reports_csv' in err
    code, _, err = _manifest_cli(['ctrat', '--root', c], capsys)
    assert code == 2 and "did you mean 'ctrate'" in err
