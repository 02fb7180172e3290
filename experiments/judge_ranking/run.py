"""Check the rule judge's ranking (self > one finding removed > normal) on the shared CT-RATE reports and add the run to results.json.

    python experiments/judge_ranking/run.py   # seconds; needs the shared data

The same call as tests/test_judges.py::test_rule_judge_ranks_real_reports (which asserts rate >= 0.95), with its figures kept.
"""
import argparse, csv, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, recorded_now


def measure() -> dict:
    from mu2llm.core.base import CTRATE_LABELS, shared_data_dir
    from mu2llm.score.judges import RuleJudge, rank_agreement
    d = shared_data_dir()
    p = d/'reports'/'ctrate_manual_labels'/'train.csv' if d else None
    if p is None or not p.is_file(): raise SystemExit('shared data not found: set MU2LLM_SHARED_DATA')
    rows = list(csv.DictReader(open(p, encoding='utf-8')))
    normals = [r['report_text'] for r in rows if all(r[l] == '0' for l in CTRATE_LABELS)]
    pos = [(r['report_text'], [l for l in CTRATE_LABELS if r[l] == '1']) for r in rows]
    res = rank_agreement(RuleJudge(), [x for x in pos if x[1]], normals[0])
    return dict(n_reports=res['n'], rate=round(res['rate'], 4), correct=res['correct'], skipped=res['skipped'])


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    fig = measure()
    print(fig)
    rec = recorded_now('experiments/judge_ranking/run.py')
    add_row('judge_ranking', 'runs', dict(id=f"all-{rec['date']}", recorded=rec, command='python experiments/judge_ranking/run.py', **fig))


if __name__ == '__main__':
    main()
