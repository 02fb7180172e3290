"""Score the rule labeller on the shared CT-RATE hand labels, development and held-out halves, and add the run to results.json.

    python experiments/labeller_f1/run.py     # seconds; needs the shared data (MU2LLM_SHARED_DATA or ../shared/data)

The same computation as the validation cell of nbs/03_score/00_labeller.ipynb, which produced the recorded figures.
"""
import argparse, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, recorded_now


def measure() -> dict:
    from mu2llm.core.base import shared_data_dir
    from mu2llm.score.labeller import ce_metrics, dev_heldout_split, label_findings, load_ctrate_labels
    d = shared_data_dir()
    p = d/'reports'/'ctrate_manual_labels'/'train.csv' if d else None
    if p is None or not p.is_file(): raise SystemExit('shared data not found: set MU2LLM_SHARED_DATA')
    dev, held = dev_heldout_split(load_ctrate_labels(p))
    res = {}
    for name, part in (('dev', dev), ('heldout', held)):
        m = ce_metrics([label_findings(r['text']) for r in part], [r['labels'] for r in part])
        res[name] = dict(n_reports=len(part), macro_f1=round(m['macro']['f1'], 3), micro_f1=round(m['micro']['f1'], 3))
    return res


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    fig = measure()
    print(fig)
    rec = recorded_now('experiments/labeller_f1/run.py')
    add_row('labeller_f1', 'runs', dict(id=f"heldout-{rec['date']}", recorded=rec, command='python experiments/labeller_f1/run.py', **fig))


if __name__ == '__main__':
    main()
