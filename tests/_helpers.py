"""Helpers shared by the command-line tests: how to call a console script, its environment, a tiny checkpoint."""
import os, shutil, sys
from pathlib import Path


def cli(name:str) -> list:
    "The installed `mu2llm_<name>` console script (or the same entry point through python)."
    exe = shutil.which(f'mu2llm_{name}')
    return [exe] if exe else [sys.executable, str(Path(__file__).parent/'_cli_runner.py'), name]


def cli_env() -> dict:
    "Environment for a command under test: no progress bars, one thread per process (the tests run 2 at a time)."
    return {**os.environ, 'MU2LLM_NO_PROGRESS': '1', 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false'}


def save_tiny_checkpoint(folder, seed:int=0):
    "A random-weight `tiny` μ²LLM and its processor saved in `folder`, as `mu2llm_train` would leave them."
    from mu2llm.core.base import set_seed
    from mu2llm.model.llm import offline_tokenizer
    from mu2llm.model.configuration_mu2llm import Mu2LLMConfig
    from mu2llm.model.modeling_mu2llm import Mu2LLMForConditionalGeneration
    from mu2llm.model.processing_mu2llm import Mu2LLMProcessor
    set_seed(seed)
    proc = Mu2LLMProcessor.from_tokenizer(offline_tokenizer(), 'tiny')
    cfg = Mu2LLMConfig.preset('tiny', tokenizer=proc.tokenizer)
    proc.num_image_tokens = cfg.num_image_tokens
    Mu2LLMForConditionalGeneration(cfg).save_pretrained(folder); proc.save_pretrained(folder)
    return Path(folder)
