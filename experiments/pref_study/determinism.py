"""Does retraining one seed's preference model give the same model? Train one row's DPO twice and compare the weights.

    python experiments/pref_study/determinism.py --study STUDY_DIR --followup DIR [--row minimal_edit --seed 1]   # about 3 min

Both trainings start from the study's SFT model, with the study's own `dpo` settings and the pairs that `followup.py`
built for that seed (in DIR), one torch thread each as the study's workers run. The row added to results.json (table
`checks`) says whether every saved tensor is equal and the largest absolute difference.
"""
import argparse, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import add_row, machine, recorded_now


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--study', required=True, help='a finished mu2llm_prefstudy folder')
    ap.add_argument('--followup', required=True, help='a followup.py folder from that study (its pairs and prep are used)')
    ap.add_argument('--row', default='minimal_edit'); ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from safetensors.torch import load_file
    from mu2llm.core.presets import Recipe
    from mu2llm.core.stages import read_summary
    from mu2llm.eval.prefstudy import row_dpo_recipe
    from mu2llm.train.launch import train_dpo
    ps, prep = read_summary(Path(a.study)/'prefstudy'), read_summary(Path(a.followup)/'prep')['outputs']
    rec = Recipe.load(ps['preset']).updated({'prefs': ps['recipe']['prefs'], 'dpo': ps['recipe']['dpo']})
    pairs = Path(a.followup)/'prefstudy'/f'seed{a.seed}'/'pairs'/f'{a.row}.jsonl'
    with tempfile.TemporaryDirectory() as tmp:
        w = []
        for k in ('first', 'second'):
            train_dpo(row_dpo_recipe(rec, a.row, Path(a.study)/'sft', a.seed), pairs, prep['manifest'], prep['cache'], Path(tmp)/k)
            w.append(load_file(next((Path(tmp)/k).glob('*.safetensors'))))
    same = [torch.equal(w[0][k], w[1][k]) for k in w[0]]
    diff = max((w[0][k].float() - w[1][k].float()).abs().max().item() for k in w[0])
    rec_now = recorded_now('experiments/pref_study/determinism.py')
    add_row('pref_study', 'checks', dict(id=f"determinism-{rec_now['date']}", recorded=rec_now, machine=machine(), row=a.row, seed=a.seed,
                                         tensors=len(same), equal_tensors=sum(same), max_abs_diff=diff, torch_threads=1))


if __name__ == '__main__':
    main()
