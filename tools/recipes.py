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
    'paper': 'μ²LLM as published (see nbs/00_core/03_presets.ipynb): train it on GPUs with your data, e.g.\n'
             '  mu2llm_train --stage sft --recipe configs/recipes/paper.yaml --manifest cache/manifest.jsonl --out runs/sft llm=PATH',
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
