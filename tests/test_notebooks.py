"""Runs every exported notebook in `nbs/` as one pytest test, exactly as `nbdev_test` does.

Cells flagged with a `tst_flags` flag (`notest slow cuda`) are skipped unless named in the environment
variable `MU2LLM_TEST_FLAGS` (e.g. `MU2LLM_TEST_FLAGS=slow`), like `nbdev_test --flags slow`.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb')
             if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts)


@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, monkeypatch):
    from nbdev.config import get_config
    from nbdev.test import test_nb
    skip = get_config(path=ROOT).tst_flags.split()
    force = os.environ.get('MU2LLM_TEST_FLAGS', '').split()
    monkeypatch.chdir(nb.parent)
    import torch
    try: ok, secs = test_nb(nb, skip_flags=skip, force_flags=force, basepath=ROOT)
    finally: torch.set_grad_enabled(True)   # a failing notebook must not leak global torch state into the next
    assert ok, f'{nb.name} failed (see the traceback above)'
