"""One row of the preference study over every held-out set it was scored on, per seed; adds a row to the table `checks`.

    python experiments/pref_study/pooled.py --sets STUDY/prefstudy FU/prefstudy FU2/prefstudy R2/prefstudy   # seconds

Each set is a `prefstudy` folder (the study's, or a follow-up's) whose SFT run and `--row` runs were scored on the
same phantoms. The sets' held-out phantoms must be disjoint (checked), and each seed's model must be the same in every
set (the determinism check in README.md). The per-case GREEN differences (row minus SFT) of all sets are joined, per
seed and pooled over seeds, with 95 % bootstrap CIs over the joined cases. It uses every set the row was scored on, so
it selects none; it is computed after the sets were seen, and README.md says how to read it.
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now



def joined(runs:list) -> dict:
    "One run.json-shaped dict whose cases are the given runs' cases, in order."
    keys = runs[0]['scores'].keys()
    return dict(ids=[i for r in runs for i in r['ids']], scores={k: [v for r in runs for v in r['scores'][k]] for k in keys})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sets', nargs='+', required=True, help='prefstudy folders, each with sft/run/run.json and ROW/seed<k>/run.json')
    ap.add_argument('--row', default='minimal_edit', help='the row to pool')
    ap.add_argument('--seeds', default='0,1,2')
    ap.add_argument('--n_boot', type=int, default=2000)
    a = ap.parse_args()
    from mu2llm.eval.ablate import paired
    seeds = [int(s) for s in a.seeds.split(',')]
    read = lambda p: json.loads(Path(p).read_text(encoding='utf-8'))
    base, rows, seen = [], {k: [] for k in seeds}, set()
    for s in a.sets:
        b = read(Path(s)/'sft'/'run'/'run.json')
        if seen & set(b['ids']): sys.exit(f'{s}: its held-out phantoms overlap an earlier set\'s')
        seen |= set(b['ids'])
        base.append(b)
        for k in seeds:
            r = read(Path(s)/a.row/f'seed{k}'/'run.json')
            if r['ids'] != b['ids']: sys.exit(f'{s}: {a.row} seed {k} was not scored on the SFT run\'s cases')
            rows[k].append(r)
    B = joined(base)
    pick = lambda d: {m: d[m] for m in ('green', 'f1')}
    per_seed = [dict(seed=k, **pick(paired([joined(rows[k])], [B], a.n_boot))) for k in seeds]
    pooled = pick(paired([joined(rows[k]) for k in seeds], [B], a.n_boot))
    show = lambda d: f"{d['mean']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
    print(f"{a.row} minus SFT over {len(a.sets)} held-out sets, {len(B['ids'])} phantoms: GREEN pooled {show(pooled['green'])}; per seed "
          + ', '.join(f"{d['seed']}: {show(d['green'])}" for d in per_seed))
    rec = recorded_now('experiments/pref_study/pooled.py')
    add_row('pref_study', 'checks', dict(
        id=f"pooled-sets-{rec['date']}", recorded=rec, machine=machine(), row=a.row, n_sets=len(a.sets), n_cases=len(B['ids']),
        set_sizes=[len(b['ids']) for b in base], pooled=pooled, per_seed=per_seed,
        seeds_above_zero=sum(d['green']['ci'][0] > 0 for d in per_seed),
        how='every held-out set the row was scored on, joined; computed after the sets were seen (descriptive, not a declared test)'))


if __name__ == '__main__':
    main()
