"""Record a demo run's DPO result, by pairing, in results.json (table `pairing_pilot`).

    mu2llm_demo --out DIR --force prefs.pairing=counterfactual      # reuses DIR's stages up to SFT, redoes prefs/dpo/generate/eval
    python experiments/dpo_settings/pairing_pilot.py DIR [--note TEXT]

One row per run: the pairing, how many pairs, the DPO reward margins, held-out finding F1 of SFT and SFT+DPO (and of
SFT+DPO given blank volumes), and the paired per-case GREEN difference DPO - SFT with its 95 % bootstrap CI, all read
from the run's own stage summaries and `eval/results.json`. A pilot: one seed, the demo's 160 held-out phantoms, so
it can show a large effect or its absence, not a small one (the issue asks for >= 1,000 phantoms and 3 seeds).
"""
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, recorded_now


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('run', help='the demo folder (mu2llm_demo --out DIR)')
    ap.add_argument('--note', default=None, help='a sentence kept with the row')
    a = ap.parse_args()
    d = Path(a.run)
    summ = lambda s: json.loads((d/s/'summary.json').read_text(encoding='utf-8'))
    prefs, dpo, res = summ('prefs'), summ('dpo'), json.loads((d/'eval'/'results.json').read_text(encoding='utf-8'))
    f1 = lambda k: round(100 * res[k]['findings']['overall']['f1'], 1)
    g = res['green_gain']
    settings = prefs['recipe']['prefs']
    seed, dpo_seed = settings.get('seed', 0), dpo['recipe']['dpo'].get('seed', 0)      # a recipe's summary names the values it set
    row = dict(id=f"{settings['pairing']}-demo-seed{seed}", recorded=recorded_now('experiments/dpo_settings/pairing_pilot.py'),
               pairing=settings['pairing'], seed=seed, dpo_seed=dpo_seed, n_pairs=dpo['figures']['n_pairs'], dpo_steps=dpo['figures']['steps'],
               rpo_alpha=dpo['recipe']['dpo']['rpo_alpha'], reward_margin=dpo['figures']['margins'], n_cases=res['n_cases'],
               f1_sft=f1('sft'), f1_dpo=f1('dpo'), f1_dpo_blank=f1('dpo_blank'), f1_blank=f1('blank'),
               green_sft=round(res['sft']['text']['green'], 4), green_dpo=round(res['dpo']['text']['green'], 4),
               gain=round(g['mean'], 4), gain_ci=[round(x, 4) for x in g['ci']], note=a.note)
    add_row('dpo_settings', 'pairing_pilot', row)
    print(json.dumps(row, indent=1))


if __name__ == '__main__':
    main()
