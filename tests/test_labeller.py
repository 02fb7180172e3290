"""Findings labeller: held-out CE macro-F1 on real reports, negation edge cases, phantom-style extraction."""
import pytest

from mu2llm.core.base import CTRATE_LABELS, PHANTOM_FINDINGS
from mu2llm.core.errors import FileError
from mu2llm.score.labeller import (ce_metrics, dev_heldout_split, explain_findings, extract_findings, label_findings,
                                   load_ctrate_labels, parse_sizes_mm, split_sentences)


@pytest.fixture
def ctrate_rows(shared_data):
    return load_ctrate_labels(shared_data/'reports'/'ctrate_manual_labels'/'train.csv')


def test_heldout_macro_f1(ctrate_rows):
    dev, held = dev_heldout_split(ctrate_rows)
    assert len(dev) == len(held) == 400 and not {r['id'] for r in dev} & {r['id'] for r in held}
    m = ce_metrics([label_findings(r['text']) for r in held], [r['labels'] for r in held])
    assert m['n'] == 400 and m['macro']['f1'] >= 0.90, m['macro']
    assert min(v['f1'] for v in m['per_label'].values()) >= 0.75, m['per_label']


def test_split_is_order_independent(ctrate_rows):
    a = dev_heldout_split(ctrate_rows)[0]
    b = dev_heldout_split(list(reversed(ctrate_rows)))[0]
    assert [r['id'] for r in a] == [r['id'] for r in b]


def test_sentence_level_evidence_matches_labels(ctrate_rows):
    "Removing every sentence with a positive mention of a label turns that label off."
    for r in ctrate_rows[:50]:
        ev = explain_findings(r['text'])
        for lab in {e['label'] for e in ev if not e['negated'] and e['label'] in CTRATE_LABELS}:
            pos = {e['sentence'] for e in ev if e['label'] == lab and not e['negated']}
            rest = '. '.join(s for s in split_sentences(r['text']) if s not in pos)
            assert label_findings(rest)[lab] == 0, (r['id'], lab)


@pytest.mark.parametrize('text,label,want', [
    ('No pleural effusion.', 'Pleural effusion', 0),
    ('no pleural or pericardial effusion', 'Pericardial effusion', 0),
    ('Pleural effusion was not detected.', 'Pleural effusion', 0),
    ('Pleural effusion-thickening was not observed.', 'Pleural effusion', 0),
    ('Pericardial effusion-thickening was not detected.', 'Pericardial effusion', 0),
    ('Without pleural effusion.', 'Pleural effusion', 0),
    ('There is no pathological lymph node in the mediastinum.', 'Lymphadenopathy', 0),
    ('No mass, nodule-infiltration was detected in both lungs.', 'Lung nodule', 0),
    ('Nodule in the right lung is not observed in the current examination.', 'Lung nodule', 0),
    ('The nodule in the right lung has disappeared.', 'Lung nodule', 0),
    ('No effusion; atelectasis is seen in the right lower lobe.', 'Atelectasis', 1),
    ('No effusion, but atelectasis is seen in the right lower lobe.', 'Atelectasis', 1),
    ('Atelectasis is observed and pleural effusion was not detected.', 'Atelectasis', 1),
    ('Atelectasis is observed and pleural effusion was not detected.', 'Pleural effusion', 0),
    ('The nodule in the left lung has not changed.', 'Lung nodule', 1),
    ('No significant change in the size of the right lung nodule.', 'Lung nodule', 1),
    ('Nodular lesion in the right lung, malignancy cannot be excluded.', 'Lung nodule', 1),
    ('Hypodense nodule in the right adrenal gland.', 'Lung nodule', 0),
    ('Emphysema under the skin of the chest wall.', 'Emphysema', 0),
    ('Centrilobular emphysema in both lungs.', 'Emphysema', 1),
])
def test_negation_and_exclusions(text, label, want):
    assert label_findings(text)[label] == want


def test_uncertain_switch():
    t = 'Consolidation in the left lower lobe (pneumonia?).'
    assert label_findings(t)['Consolidation'] == 1 and label_findings(t, uncertain=False)['Consolidation'] == 0
    assert [e['uncertain'] for e in explain_findings(t) if e['label'] == 'Consolidation'] == [True]


@pytest.mark.parametrize('text,name,side,size', [
    ('A 12 mm nodule in the right upper lobe.', 'lung_nodule', 'right', 12.0),
    ('A 1.2 cm nodule in the left lower lobe.', 'lung_nodule', 'left', 12.0),
    ('Nodules of 4 mm in the right lung and 2.5 cm in the left lung.', 'lung_nodule', 'bilateral', 25.0),
    ('Lung nodule measuring 11 x 8 mm in the left upper lobe.', 'lung_nodule', 'left', 11.0),
    ('Large bilateral pleural effusions.', 'pleural_effusion', 'bilateral', None),
    ('Small pleural effusion on both sides.', 'pleural_effusion', 'bilateral', None),
    ('Moderate right pleural effusion.', 'pleural_effusion', 'right', None),
    ('Enlarged mediastinal lymph node measuring 1.6 cm.', 'lymphadenopathy', None, 16.0),
    ('Hypodense liver lesion of 23 mm in the left hepatic lobe.', 'liver_lesion', 'left', 23.0),
    ('Emphysema in the right upper lobe.', 'emphysema', 'right', None),
    ('Subsegmental atelectasis in the left lower lobe.', 'atelectasis', 'left', None),
    ('The heart is enlarged.', 'cardiomegaly', None, None),
    ('Fatty liver.', 'hepatic_steatosis', None, None),
    ('Hiatal hernia.', 'hiatal_hernia', None, None),
    ('Aortic wall calcification.', 'arterial_wall_calcification', None, None),
    ('Coronary artery calcification.', 'coronary_artery_wall_calcification', None, None),
    ('Small pericardial effusion.', 'pericardial_effusion', None, None),
    ('Consolidation in the right middle lobe.', 'consolidation', 'right', None),
])
def test_extract_findings_phantom_style(text, name, side, size):
    f = extract_findings(text)
    assert set(f) == set(PHANTOM_FINDINGS)
    assert f[name]['present'] and (f[name]['side'], f[name]['size_mm']) == (side, size), f[name]
    assert [k for k, v in f.items() if v['present']] == [name]


def test_extract_findings_negated_and_uncertain():
    f = extract_findings('No lung nodule. No pleural effusion. Possible small pericardial effusion.')
    assert not f['lung_nodule']['present'] and not f['pleural_effusion']['present']
    assert f['pericardial_effusion']['present'] and f['pericardial_effusion']['uncertain']
    assert not extract_findings('Possible small pericardial effusion.', uncertain=False)['pericardial_effusion']['present']


def test_parse_sizes():
    assert parse_sizes_mm('3 cm, 4.5 mm, 12x9x7 mm, 1,5 cm') == [30.0, 4.5, 12.0, 9.0, 7.0, 15.0]
    assert parse_sizes_mm('the 3rd rib, segment 7') == []


def test_ce_metrics_against_hand_counts():
    labs = ('Emphysema', 'Atelectasis', 'Cardiomegaly')
    ref = [dict(Emphysema=1, Atelectasis=0), dict(Emphysema=1, Atelectasis=1), dict(Emphysema=0, Atelectasis=1)]
    pred = [dict(Emphysema=1, Atelectasis=1), dict(Emphysema=0, Atelectasis=1), dict(Emphysema=0, Atelectasis=1)]
    m = ce_metrics(pred, ref, labels=labs)
    e, a, c = (m['per_label'][l] for l in labs)
    assert (e['tp'], e['fp'], e['fn'], e['precision'], e['recall']) == (1, 0, 1, 1.0, 0.5)
    assert (a['tp'], a['fp'], a['fn'], a['support']) == (2, 1, 0, 2)
    assert c == dict(precision=0.0, recall=0.0, f1=0.0, support=0, tp=0, fp=0, fn=0)  # zero_division=0
    assert m['macro']['f1'] == pytest.approx((2/3 + 0.8 + 0) / 3)
    assert m['micro']['precision'] == pytest.approx(3 / 4) and m['micro']['recall'] == pytest.approx(3 / 4)
    perfect = ce_metrics(ref, ref, labels=labs[:2])
    assert perfect['macro']['f1'] == 1.0 and perfect['micro']['f1'] == 1.0


def test_load_errors(tmp_path):
    with pytest.raises(FileError, match='not found'): load_ctrate_labels(tmp_path/'missing.csv')
    (tmp_path/'bad.csv').write_text('a,b\n1,2\n')
    with pytest.raises(FileError, match='not a CT-RATE label CSV'): load_ctrate_labels(tmp_path/'bad.csv')
