"""Run the preference study (`mu2llm_prefstudy`, issue 16) and add it to results.json.

    python experiments/pref_study/run.py                        # the default study (demo preset): about 1 h 50 min on 2 cores
    python experiments/pref_study/run.py --quick                # the CI-size study (minutes; not a result)
    python experiments/pref_study/run.py --out DIR -- prefstudy.seeds=[0,1]   # keep the run folder; overrides

The study folder (phantoms, cache, warmed encoder, SFT model, one folder per row and seed) goes to a temporary folder
unless `--out` is given; an interrupted study resumes when rerun with the same `--out`.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now, run_logged

STAGES = ('phantoms', 'prep', 'warmup', 'align', 'sft', 'prefstudy')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='the tiny study (mu2llm_prefstudy --quick)')
    ap.add_argument('--out', help='the study folder (default: a temporary folder, removed afterwards)')
    ap.add_argument('overrides', nargs='*', help='recipe overrides passed to mu2llm_prefstudy (section.key=value)')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.out or Path(tmp)/'study')
        cmd = [sys.executable, '-m', 'mu2llm.cli', 'prefstudy', '--out', out, *(['--quick'] if a.quick else []), *a.overrides]
        t0 = time.perf_counter()
        run_logged(cmd)
        minutes = round((time.perf_counter() - t0) / 60, 1)
        res = json.loads((out/'prefstudy'/'results.json').read_text(encoding='utf-8'))
        stages = {s: json.loads((out/s/'summary.json').read_text())['seconds'] for s in STAGES}
    rec = recorded_now('experiments/pref_study/run.py')
    shown = ' '.join(['mu2llm_prefstudy', *(['--quick'] if a.quick else []), *a.overrides])
    row = dict(id=f"{'quick' if a.quick else 'study'}-{rec['date']}", recorded=rec, command=shown, machine=machine(),
               minutes=minutes, stage_seconds=stages, **res)
    add_row('pref_study', 'runs', row)


if __name__ == '__main__':
    main()
