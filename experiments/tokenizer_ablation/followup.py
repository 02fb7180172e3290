"""A follow-up of the tokenizer ablation on fresh held-out phantoms, from the study's own warmed encoder; adds a row to results.json.

    python experiments/tokenizer_ablation/followup.py --study STUDY_DIR --out DIR     # about 30 min on 2 cores

STUDY_DIR is a finished `mu2llm_ablate` folder (`experiments/tokenizer_ablation/run.py --out STUDY_DIR`): its warmed
encoder and its training phantoms are reused. A new held-out set of `--n_test` phantoms is drawn with another seed
offset (`--test_seed_offset`, default 200000; the study's held-out set used 100000), so that none of the study's scored
cases is scored again, and the rows of `--rows` are run for the study's seeds with the study's `ablate` settings.
`--compare A,B` adds row B minus row A, paired over the same cases. What the follow-up asks and why is in README.md.
"""
import json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, compare_rows, followup_parser, fresh_heldout, machine, recorded_now

from mu2llm.core.stages import read_summary, run_stage
from mu2llm.eval.ablate import ABLATION_ROWS, AblateSettings, ablate_recipe, ablation_table


def main():
    ap = followup_parser(__doc__, 'a finished mu2llm_ablate folder (its warmup and phantoms stages are used)', 'ablate',
                         'baseline,multiscale,mu2_gate')
    a = ap.parse_args()
    study, out, rows = Path(a.study), Path(a.out), a.rows.split(',')
    bad = [r for r in rows if r not in ABLATION_ROWS]
    if bad: sys.exit(f'--rows: unknown rows {bad}; rows: {", ".join(ABLATION_ROWS)}')
    cmp = a.compare.split(',') if a.compare else None
    if cmp and (len(cmp) != 2 or not set(cmp) <= set(rows)): sys.exit(f'--compare needs two rows of --rows ({a.rows}), not {a.compare!r}')
    warm, done, ab = (read_summary(study/s) for s in ('warmup', 'phantoms', 'ablate'))
    if warm is None or warm.get('status') != 'done': sys.exit(f'{study}/warmup has no finished warm-up: run the study first')
    if ab is None: sys.exit(f'{study}/ablate has no finished study')
    rec = ablate_recipe(done['preset']).updated({'ablate': dict(ab['recipe']['ablate'], rows=rows, baseline=rows[0], n_test=a.n_test)})
    AblateSettings.from_dict(rec['ablate']).check()                     # the study's settings, these rows
    t0 = time.perf_counter()
    rec, got = fresh_heldout(rec, study, out, a.n_test, a.test_seed_offset, 'the warmed encoder')
    s = run_stage('ablate', rec, out=out/'ablate', inputs={'prep': got['prep']['outputs'], 'warmup': warm['outputs']})
    res = json.loads(Path(s['outputs']['results']).read_text(encoding='utf-8'))
    print(ablation_table(res))
    if cmp: res['compare'] = compare_rows(out/'ablate', *cmp, res['seeds'], rec['ablate'].get('n_boot', 1000))
    same = {}                                  # a row the study also ran: the same training run gives the same training loss
    for row in rows:
        for k in res['seeds']:
            mine, theirs = out/'ablate'/row/f'seed{k}'/'run.json', study/'ablate'/row/f'seed{k}'/'run.json'
            if mine.exists() and theirs.exists():
                same[f'{row}/seed{k}'] = [json.loads(f.read_text())['train_loss'] for f in (mine, theirs)]
    if same: print('training loss, this follow-up vs the study:', ', '.join(f'{k} {v[0]:.6f} vs {v[1]:.6f}' for k, v in same.items()))
    r = recorded_now('experiments/tokenizer_ablation/followup.py')
    add_row('tokenizer_ablation', 'runs', dict(
        id=f"{a.name}-{r['date']}", recorded=r, machine=machine(),
        command=f'python experiments/tokenizer_ablation/followup.py --rows {a.rows} --n_test {a.n_test} --test_seed_offset {a.test_seed_offset}'
                + (f' --compare {a.compare}' if a.compare else ''),
        minutes=round((time.perf_counter() - t0) / 60, 1), stage_seconds={k: v['seconds'] for k, v in dict(got, ablate=s).items()},
        warmup_from=str(warm.get('fingerprint')), train_loss_vs_study=same, **res))


if __name__ == '__main__':
    main()
