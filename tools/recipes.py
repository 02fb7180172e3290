"""Write configs/recipes/<preset>.yaml from the one preset table (mu2llm.core.presets), or check that they are up to date.

    python tools/recipes.py           # (re)write every recipe file
    python tools/recipes.py --check   # exit 1 when a file differs from the table (run by tests/test_train.py)
"""
import sys
from pathlib import Path

from mu2llm.core.presets import PRESETS, Recipe

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT/'configs'/'recipes'
HEADERS = {
    'tiny': 'Unit-test scale: seconds on a CPU.\n  mu2llm_demo --preset tiny --out runs/tiny',
    'demo': 'The CPU demo on phantoms (mu2llm_demo): a small random-initialised model, fp32, minutes on 2 cores.\n'
            '  mu2llm_demo --recipe configs/recipes/demo.yaml --out runs/demo',
    'paper': 'μ²LLM as published (see nbs/00_core/03_presets.ipynb and the README\'s "Train on CT-RATE"): on GPUs, with your\n'
             'data and the pretrained parts by path, e.g.\n'
             '  mu2llm_train --stage sft --recipe configs/recipes/paper.yaml --manifest cache/manifest.jsonl --out runs/sft \\\n'
             '      llm=/models/Llama-3.2-1B-Instruct vision_weights=/models/M3D-CLIP/pretrained_ViT.bin\n'
             'and prefs.judge=hf:/models/GREEN-RadLlama2-7b for the preference drafts.',
    'paper_lite': 'The paper with the μ² Tokenizer at the ViT width (768) instead of the LLM width: 54 M tokenizer parameters\n'
                  'instead of 355 M (our lighter variant; everything else as paper.yaml).',
}


def render(name: str) -> str:
    head = (f'Generated from mu2llm.core.presets.PRESETS[{name!r}] by tools/recipes.py: edit the table, not this file\n'
            f'(copy it to make your own recipe; `preset: {name}` is the base your sections override).\n' + HEADERS.get(name, ''))
    return Recipe(name).to_yaml(head)


def main(check: bool = False) -> int:
    bad = []
    for name in PRESETS:
        p, text = OUT/f'{name}.yaml', render(name)
        if check:
            if not p.exists() or p.read_text(encoding='utf-8') != text: bad.append(p.name)
        else:
            OUT.mkdir(parents=True, exist_ok=True); p.write_text(text, encoding='utf-8')
    extra = sorted(p.name for p in OUT.glob('*.yaml') if p.stem not in PRESETS)
    if check and (bad or extra):
        print(f'configs/recipes out of date: {bad or ""} {("not in the table: " + str(extra)) if extra else ""}; run python tools/recipes.py')
        return 1
    if not check:
        for n in extra: (OUT/n).unlink()
    return 0


if __name__ == '__main__': sys.exit(main('--check' in sys.argv[1:]))
