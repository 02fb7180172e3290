#!/usr/bin/env bash
# Runs the whole test suite: every notebook (as nbdev_test does) and every test in tests/, on 2 workers.
# Ends with pytest's closing line "N passed, N failed ..." and a plain copy of it.
set -uo pipefail
cd "$(dirname "$0")/.."
export MU2LLM_NO_PROGRESS=1 PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false
workers=${MU2LLM_TEST_WORKERS:-2}
log=$(mktemp)
python -m pytest tests -n "$workers" --dist loadfile -p no:cacheprovider -q --durations=15 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
python - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8', errors='replace').read()
lines = [l for l in text.splitlines() if re.search(r'\b(passed|failed|error|errors|skipped|no tests ran)\b.* in [\d.]+s', l)]
last = lines[-1] if lines else ''
get = lambda w: sum(int(n) for n in re.findall(rf'(\d+) {w}\b', last))
print(f"{get('passed')} passed, {get('failed') + get('errors?')} failed, {get('skipped')} skipped")
PY
rm -f "$log"
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
exit $rc
