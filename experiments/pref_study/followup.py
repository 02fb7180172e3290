"""The follow-up of the preference study on fresh held-out phantoms, from the study's own SFT model; adds a row to results.json.

    python experiments/pref_study/followup.py --study STUDY_DIR --out DIR     # about 45 min on 2 cores

STUDY_DIR is a finished `mu2llm_prefstudy` folder (`experiments/pref_study/run.py --out STUDY_DIR`): its SFT model
and its training phantoms are reused. A new held-out set of `--n_test` phantoms is drawn with another seed offset
(`--test_seed_offset`, default 200000; the study's held-out set used 100000), so that none of the study's scored cases
is scored again, and the rows of `--rows` are run for seeds 0, 1 and 2 from that SFT model, as the study runs them.
What the follow-up asks and why is in README.md ("A follow-up").
"""
import json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, compare_rows, followup_parser, fresh_heldout, machine, recorded_now

from mu2llm.core.stages import read_summary, run_stage
from mu2llm.eval.prefstudy import PREF_ROWS, TRAINED, prefstudy_recipe, prefstudy_table


def main():
    ap = followup_parser(__doc__, 'a finished mu2llm_prefstudy folder (its sft and phantoms stages are used)', 'prefstudy',
                         'sft,minimal_edit,rloo_lr4')
    ap.add_argument('--pairs_from', help="an earlier follow-up folder from the same study: its seeds' pairs are reused (they depend only on "
                    "the SFT model, the training phantoms and the seed), so no draft is sampled again")
    a = ap.parse_args()
    study, out = Path(a.study), Path(a.out)
    sft = read_summary(study/'sft')
    if sft is None or sft.get('status') != 'done': sys.exit(f'{study}/sft has no finished SFT stage: run the study first')
    done = read_summary(study/'phantoms')
    rows = a.rows.split(',')
    cmp = a.compare.split(',') if a.compare else None
    if cmp and (len(cmp) != 2 or not all(c in rows and PREF_ROWS[c]['kind'] in TRAINED for c in cmp)):
        sys.exit(f'--compare needs two trained rows of --rows ({a.rows}), not {a.compare!r}')
    rec = prefstudy_recipe(done['preset'], [f'prefstudy.rows={json.dumps(rows)}', 'prefstudy.n_dev=0', f'prefstudy.n_test={a.n_test}'])
    ps = read_summary(study/'prefstudy')                               # the study's own draft and DPO settings, not today's preset's
    if ps is None: sys.exit(f'{study}/prefstudy has no finished study')
    rec = rec.updated({'prefs': ps['recipe']['prefs'], 'dpo': ps['recipe']['dpo']})
    t0 = time.perf_counter()
    rec, got = fresh_heldout(rec, study, out, a.n_test, a.test_seed_offset, 'the SFT model')
    if a.pairs_from:
        for seed in rec['prefstudy']['seeds']:
            src, dst = Path(a.pairs_from)/'prefstudy'/f'seed{seed}'/'pairs.json', out/'prefstudy'/f'seed{seed}'/'pairs.json'
            have = json.loads(src.read_text()) if src.exists() else {}
            if not all(PREF_ROWS[r].get('pairs_of', r) in have for r in rows if PREF_ROWS[r]['kind'] in TRAINED):
                sys.exit(f'{src} lacks the pairs of some of the rows {rows}')
            if not dst.exists(): dst.parent.mkdir(parents=True, exist_ok=True); dst.write_text(src.read_text())
    s = run_stage('prefstudy', rec, out=out/'prefstudy', inputs={'prep': got['prep']['outputs'], 'sft': sft['outputs']})
    res = json.loads(Path(s['outputs']['results']).read_text(encoding='utf-8'))
    print(prefstudy_table(res))
    if cmp: res['compare'] = compare_rows(out/'prefstudy', *cmp, res['seeds'], rec['prefstudy'].get('n_boot', 1000))
    r = recorded_now('experiments/pref_study/followup.py')
    add_row('pref_study', 'runs', dict(id=f"{a.name}-{r['date']}", recorded=r, machine=machine(), pairs_from=a.pairs_from and 'an earlier follow-up',
                                       command=f'python experiments/pref_study/followup.py --rows {a.rows} --n_test {a.n_test} '
                                               f'--test_seed_offset {a.test_seed_offset}' + (' --pairs_from DIR' if a.pairs_from else '')
                                               + (f' --compare {a.compare}' if a.compare else ''),
                                       minutes=round((time.perf_counter() - t0) / 60, 1),
                                       stage_seconds={k: v['seconds'] for k, v in dict(got, prefstudy=s).items()},
                                       sft_from=str(sft.get('fingerprint')), **res))


if __name__ == '__main__':
    main()
