"""mu2llm: μ²LLM, 3-D CT radiology report generation (Li et al., MICCAI 2025), as an nbdev package.

`import mu2llm` registers the μ²LLM classes with the transformers Auto classes (no `trust_remote_code`).
"""
__version__ = "0.1.0"

from mu2llm.core.errors import Mu2LLMError, FileError, CTReadError, PreprocessError, ManifestError, ConfigError
from mu2llm.core.base import set_seed, CTRATE_LABELS, PHANTOM_FINDINGS
from mu2llm.data.ct_io import CTVolume, read_ct
from mu2llm.data.preprocess import PreprocessConfig, preprocess_ct
from mu2llm.data.manifest import ManifestRow, read_manifest, write_manifest, check_leakage
from mu2llm.score.labeller import label_findings, extract_findings, explain_findings, ce_metrics
from mu2llm.score.green import green_prompt, parse_green, green_summary, GreenResult
from mu2llm.score.judges import make_judge, RuleJudge, HFJudge, OpenAIJudge, CachedJudge
from mu2llm.score.metrics import compute_metrics
from mu2llm.model.configuration_mu2llm import Mu2LLMConfig, Mu2VisionConfig, Mu2TokenizerConfig
from mu2llm.model.modeling_mu2llm import Mu2LLMModel, Mu2LLMForConditionalGeneration, register_auto_classes
from mu2llm.model.processing_mu2llm import Mu2LLMProcessor, register_processor

register_auto_classes()
register_processor()
