"""mu2llm: μ²LLM, 3-D CT radiology report generation (Li et al., MICCAI 2025), as an nbdev package.

`import mu2llm` is light: it loads neither torch, transformers' model code nor MONAI. The public names below resolve
on first use (`mu2llm.read_ct` imports `mu2llm.data.ct_io` then), and the transformers Auto classes learn the μ²LLM
classes when they are first imported (`mu2llm.model.auto`), with no `trust_remote_code`.
"""
__version__ = "0.1.0"

_PUBLIC = {  # name -> module that defines it
    **dict.fromkeys(('Mu2LLMError', 'FileError', 'CTReadError', 'PreprocessError', 'ManifestError', 'ConfigError',
                     'ShapeError', 'WeightsError', 'PlaceholderMismatchError'), 'mu2llm.core.errors'),
    **dict.fromkeys(('set_seed', 'CTRATE_LABELS', 'PHANTOM_FINDINGS'), 'mu2llm.core.base'),
    **dict.fromkeys(('PRESETS', 'Recipe', 'preset'), 'mu2llm.core.presets'),
    **dict.fromkeys(('STAGES', 'register_stage', 'run_stage', 'run_pipeline', 'read_summary'), 'mu2llm.core.stages'),
    **dict.fromkeys(('CTVolume', 'read_ct', 'write_nifti', 'write_dicom_series'), 'mu2llm.data.ct_io'),
    **dict.fromkeys(('PreprocessConfig', 'preprocess_ct'), 'mu2llm.data.preprocess'),
    **dict.fromkeys(('make_case', 'generate_phantoms'), 'mu2llm.data.phantoms'),
    **dict.fromkeys(('ManifestRow', 'read_manifest', 'write_manifest', 'check_leakage', 'find_scans'), 'mu2llm.data.manifest'),
    **dict.fromkeys(('prep_manifest',), 'mu2llm.data.cache'),
    **dict.fromkeys(('CTReportDataset',), 'mu2llm.data.dataset'),
    **dict.fromkeys(('Mu2LLMConfig', 'Mu2VisionConfig', 'Mu2TokenizerConfig'), 'mu2llm.model.configuration_mu2llm'),
    **dict.fromkeys(('Mu2LLMModel', 'Mu2LLMForConditionalGeneration'), 'mu2llm.model.modeling_mu2llm'),
    **dict.fromkeys(('Mu2LLMProcessor',), 'mu2llm.model.processing_mu2llm'),
    **dict.fromkeys(('Mu2Tokenizer',), 'mu2llm.model.mu2_tokenizer'),
    **dict.fromkeys(('generate_reports', 'load_checkpoint'), 'mu2llm.model.generation'),
    **dict.fromkeys(('register_auto_classes',), 'mu2llm.model.auto'),
    **dict.fromkeys(('label_findings', 'extract_findings', 'explain_findings', 'ce_metrics'), 'mu2llm.score.labeller'),
    **dict.fromkeys(('green_prompt', 'parse_green', 'green_summary', 'GreenResult'), 'mu2llm.score.green'),
    **dict.fromkeys(('make_judge', 'RuleJudge', 'HFJudge', 'OpenAIJudge', 'CachedJudge'), 'mu2llm.score.judges'),
    **dict.fromkeys(('compute_metrics',), 'mu2llm.score.metrics'),
    **dict.fromkeys(('SFTRecipe', 'DPORecipe'), 'mu2llm.train.recipes'),
    **dict.fromkeys(('set_trainable',), 'mu2llm.train.sft'),
    **dict.fromkeys(('train', 'train_dpo', 'load_recipe'), 'mu2llm.train.launch'),
    **dict.fromkeys(('run_prefs',), 'mu2llm.train.prefs'),
    **dict.fromkeys(('evaluate',), 'mu2llm.eval.evaluate'),
    **dict.fromkeys(('run_demo',), 'mu2llm.cli.demo'),
}
__all__ = ['__version__', *_PUBLIC]


def __getattr__(name):
    "Resolve a public name on first use (PEP 562)."
    mod = _PUBLIC.get(name)
    if mod is None: raise AttributeError(f"module 'mu2llm' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__(): return sorted(set(globals()) | set(_PUBLIC))


from mu2llm.model.auto import install as _install  # noqa: E402  (after the names: the hook needs nothing above)
_install()
