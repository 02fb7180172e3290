"""Throughput of each text metric on 1,000 real CT-RATE report pairs (each report paired with another real report),
measured side by side in one run; also the BLEU-1 shift caused by the reference-nesting mistake.

    python benchmarks/bench_metrics.py [N]
"""
import csv, os, sys, time

import numpy as np

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')
from mu2llm.core.base import shared_data_dir
from mu2llm.score.metrics import (compute_metrics, u2_bleu, u2_bleu1_mistaken, tokenize, ensure_wordnet)

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
sd = shared_data_dir()
if sd is None: sys.exit('shared data not found')
with open(sd/'reports/ctrate_manual_labels/train.csv', newline='', encoding='utf-8') as f:
    txt = [r['report_text'] for r in csv.DictReader(f)]
refs = [txt[i % len(txt)] for i in range(n)]
hyps = [txt[(i * 7 + 3) % len(txt)] for i in range(n)]  # a different real report
print(f'{n} pairs, mean {np.mean([len(t.split()) for t in refs]):.0f} words per report')
ensure_wordnet(); from nltk.corpus import wordnet; wordnet.synsets('warm')  # load WordNet outside the timings
res = {}
for group in ('bleu', 'rouge', 'meteor', 'bertscore'):
    if group == 'bertscore': compute_metrics(hyps[:2], refs[:2], (group,))  # model load outside the timing
    for proto in (('u2', 'corpus') if group == 'bleu' else ('u2',)):
        t = time.perf_counter(); rep = compute_metrics(hyps, refs, (group,), protocol=proto); dt = time.perf_counter() - t
        res[(group, proto)] = dt
        print(f'{group:10s} {proto:7s} {n/dt:9.1f} reports/s   means: ' + ', '.join(f'{k}={v*100:.2f}' for k, v in rep.means.items()))
t = time.perf_counter(); rep = compute_metrics(hyps, refs, ('bleu', 'rouge', 'meteor', 'bertscore')); dt = time.perf_counter() - t
print(f'all (u2)   {n/dt:9.1f} reports/s ({rep.keys[-1]})')
m = min(n, 300)
t = time.perf_counter(); wrong = np.mean([u2_bleu1_mistaken(h, r) for h, r in zip(hyps[:m], refs[:m])]); dtw = time.perf_counter() - t
right = np.mean([u2_bleu(tokenize(h), tokenize(r)) for h, r in zip(hyps[:m], refs[:m])])
same = np.mean([u2_bleu1_mistaken(r, r) for r in refs[:100]])
print(f'BLEU-1 x100 on {m} pairs: corrected {right*100:.2f}, mistaken nesting {wrong*100:.2f} '
      f'(ratio {right/max(wrong,1e-9):.1f}x, mistaken form runs at {m/dtw:.0f} reports/s); a report vs itself under '
      f'the mistaken form: {same*100:.2f} (corrected: 100)')
