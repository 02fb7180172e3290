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


LLAMA3_CHAT_TEMPLATE = ("{{- bos_token }}{%- for m in messages %}"
                        "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}"
                        "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")


def save_tiny_llm_folder(folder, seed:int=0):
    """A tiny LLM folder in the format of a downloaded Llama-3.2-1B-Instruct: `config.json` with Llama-3 rope scaling,
    safetensors weights, and a fast tokenizer with Llama-3's special tokens and a chat template, but no `<image>` and no
    padding token (Llama-3 has neither)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from mu2llm.model.llm import CORPUS
    special = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>']
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer, raw.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    raw.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=special, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token='<|begin_of_text|>', eos_token='<|eot_id|>', model_max_length=131072)
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=131072,
                      rope_scaling=dict(rope_type='llama3', factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                        original_max_position_embeddings=8192),
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    return Path(folder)


def save_m3d_style_vit(path, vision:dict, seed:int=0, cls_token:bool=True):
    """A ViT weights file in M3D-CLIP's key layout (MONAI 1.3's ViT with a perceptron patch embedding; no classification
    head and no `norm_cross_attn`), for the ViT that `vision` (a preset's vision section) describes; returns (path, MONAI ViT)."""
    import torch
    from monai.networks.nets import ViT
    torch.manual_seed(seed)
    vit = ViT(in_channels=vision.get('in_channels', 1), img_size=tuple(vision['slab_size']), patch_size=tuple(vision['patch_size']),
              hidden_size=vision['hidden_size'], mlp_dim=vision['mlp_dim'], num_layers=vision['num_layers'],
              num_heads=vision['num_heads'], proj_type='perceptron', classification=cls_token).eval()
    sd = {k: v for k, v in vit.state_dict().items() if not k.startswith('classification_head') and 'norm_cross_attn' not in k}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return Path(path), vit
