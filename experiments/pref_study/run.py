"""Run the preference study (`mu2llm_prefstudy`, issue 16) and add it to results.json.

    python experiments/pref_study/run.py                        # the default study (demo preset): about 1 h 50 min on 2 cores
    python experiments/pref_study/run.py --quick                # the CI-size study (minutes; not a result)
    python experiments/pref_study/run.py --out DIR -- prefstudy.seeds=[0,1]   # keep the run folder; overrides

The study folder (phantoms, cache, warmed encoder, SFT model, one folder per row and seed) goes to a temporary folder
unless `--out` is given; an interrupted study resumes when rerun with the same `--out`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import run_study_script

if __name__ == '__main__':
    run_study_script(__doc__, 'pref_study', 'prefstudy', ('phantoms', 'prep', 'warmup', 'align', 'sft', 'prefstudy'), 'experiments/pref_study/run.py')
