"""Run the tokenizer ablation study (`mu2llm_ablate`, the paper's Table 2 on phantoms) and add it to results.json.

    python experiments/tokenizer_ablation/run.py                       # the default study: about 75 min on 2 cores
    python experiments/tokenizer_ablation/run.py --quick               # the CI-size study (minutes; not a result)
    python experiments/tokenizer_ablation/run.py --out DIR -- ablate.seeds=[0,1]   # keep the run folder; overrides

The study folder (phantoms, cache, warmed encoder, one folder per row and seed) goes to a temporary folder unless
`--out` is given; an interrupted study resumes when rerun with the same `--out`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import run_study_script

if __name__ == '__main__':
    run_study_script(__doc__, 'tokenizer_ablation', 'ablate', ('phantoms', 'prep', 'warmup', 'ablate'), 'experiments/tokenizer_ablation/run.py')
