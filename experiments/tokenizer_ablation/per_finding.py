"""Per-finding F1 of a kept study folder's held-out reports, added to results.json as a `per_finding` row.

    python experiments/tokenizer_ablation/per_finding.py --study DIR [--run ID]

DIR is the `--out` folder of a study (`run.py --out DIR`); ID is the `runs` row it produced (default: the row
results.json shows). Studies run after the per-finding counts were added to `eval.ablate.case_scores` carry them
already; this script recovers them for an earlier study from the reports it kept (`ablate/ROW/seedS/preds.jsonl`)
and the phantoms' truth files. Before it writes anything it checks that its counts give exactly the micro-F1 that
the study recorded for every (row, seed), so the per-finding figures come from the same reports and truths.
"""
import argparse, json, sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, load, recorded_now

from mu2llm.core.base import PHANTOM_FINDINGS
from mu2llm.core.files import read_jsonl
from mu2llm.data.manifest import read_manifest
from mu2llm.eval.ablate import finding_hits, micro_f1
from mu2llm.eval.heldout import case_truth
from mu2llm.score.labeller import prf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--study', required=True, help='the study folder (run.py --out DIR)')
    ap.add_argument('--run', help='the runs row of results.json that folder produced (default: the shown row)')
    a = ap.parse_args()
    data = load('tokenizer_ablation')
    run_id = a.run or data['shown']
    run = next(r for r in data['tables']['runs'] if r['id'] == run_id)
    study = Path(a.study)
    rows_by_id = {r.id: r for r in read_manifest(study/'prep'/'manifest.jsonl')}
    truth = {}
    out = {}
    for key, r in run['rows'].items():
        pooled = np.zeros((len(PHANTOM_FINDINGS), 3))
        for seed, f1 in zip(r['seeds'], r['f1_per_seed']):
            folder = study/'ablate'/key/f'seed{seed}'
            ids = json.loads((folder/'run.json').read_text(encoding='utf-8'))['ids']
            got = {p['id']: p.get('report') or '' for p in read_jsonl(folder/'preds.jsonl')}
            for i in ids:
                if i not in truth: truth[i] = case_truth(rows_by_id[i])[0]
            hits = finding_hits([got.get(i, '') for i in ids], [truth[i] for i in ids])
            if abs(micro_f1(hits.sum(1)) - f1) > 1e-9:
                raise SystemExit(f'{key} seed {seed}: recomputed F1 {micro_f1(hits.sum(1)):.6f} != recorded {f1:.6f}; wrong folder?')
            pooled += hits.sum(0)
        out[key] = {n: round(prf(*pooled[j])['f1'], 6) for j, n in enumerate(PHANTOM_FINDINGS)}
        print(f"{r['label'][:50]:50s}", ' '.join(f'{100 * v:5.1f}' for v in out[key].values()))
    add_row('tokenizer_ablation', 'per_finding', dict(id=f'{run_id}-per-finding', recorded=recorded_now('experiments/tokenizer_ablation/per_finding.py'),
                                                     run=run_id, findings=list(PHANTOM_FINDINGS), rows=out))


if __name__ == '__main__':
    main()
