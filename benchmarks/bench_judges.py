"""Rule-judge throughput on 1,000 real CT-RATE report pairs, on one CPU core.

    python benchmarks/bench_judges.py

Prints pairs/s with the per-text findings cache cold (every text labelled afresh) and warm (texts seen before),
and the parse-only rate for comparison; target: >= 200 pairs/s cold.
"""
import csv, os, time

from mu2llm.core.base import shared_data_dir


def main(n=1000):
    if hasattr(os, 'sched_setaffinity'): os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    d = shared_data_dir()
    if d is None: raise SystemExit('shared data not found: set MU2LLM_SHARED_DATA')
    from mu2llm.score.judges import RuleJudge, _findings
    from mu2llm.score.green import parse_green
    rows = list(csv.DictReader(open(d/'reports'/'ctrate_manual_labels'/'train.csv', encoding='utf-8')))
    texts = [r['report_text'] for r in rows]
    pairs = [(texts[i % len(texts)], texts[(i * 7 + 1) % len(texts)]) for i in range(n)]  # 1,000 distinct pairs
    j = RuleJudge()
    _findings.cache_clear()
    t0 = time.perf_counter(); outs = j.judge(pairs); cold = time.perf_counter() - t0
    t0 = time.perf_counter(); j.judge(pairs); warm = time.perf_counter() - t0
    t0 = time.perf_counter(); [parse_green(o.response) for o in outs]; parse = time.perf_counter() - t0
    print(f'rule judge, {n} real pairs, 1 core: cold {n/cold:,.0f} pairs/s ({cold:.2f} s), '
          f'warm {n/warm:,.0f} pairs/s, parse only {n/parse:,.0f} answers/s; cold/target(200) = {n/cold/200:.1f}x')
    return n / cold


if __name__ == '__main__': main()
