"""Shared pytest fixtures: where the real shared data lives, and quiet progress bars."""
import os
from pathlib import Path

import pytest

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('MU2LLM_SHARED_DATA', ROOT.parent/'shared'/'data'))


@pytest.fixture
def shared_data():
    "The folder of real CT scans and reports beside the checkout; skips the test when it is absent."
    if not SHARED_DATA.is_dir(): pytest.skip(f'shared test data not found at {SHARED_DATA}')
    return SHARED_DATA
