"""Labeller throughput on the 800 real CT-RATE reports: reports/s for label_findings, explain_findings and
extract_findings, side by side in one run (one core). Skips when the shared data is absent."""
import time

from mu2llm.core.base import shared_data_dir
from mu2llm.score.labeller import explain_findings, extract_findings, label_findings, load_ctrate_labels


def rate(fn, texts, reps=3):
    "Best-of-`reps` reports per second of `fn` over `texts`."
    best = float('inf')
    for _ in range(reps):
        t0 = time.perf_counter()
        for t in texts: fn(t)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


if __name__ == '__main__':
    d = shared_data_dir()
    p = d / 'reports/ctrate_manual_labels/train.csv' if d else None
    if p is None or not p.is_file(): raise SystemExit('shared data not found: nothing to benchmark')
    texts = [r['text'] for r in load_ctrate_labels(p)]
    print(f'{len(texts)} reports, {sum(map(len, texts)) / len(texts):.0f} characters on average')
    rates = {f.__name__: rate(f, texts) for f in (label_findings, explain_findings, extract_findings)}
    for k, v in rates.items(): print(f'{k:18s} {v:7.0f} reports/s  ({v / rates["label_findings"]:.2f}x label_findings)')
    print(f'report pairs/s for a judge labelling both sides: {rates["label_findings"] / 2:.0f} (label only), '
          f'{1 / (1 / rates["label_findings"] + 1 / rates["extract_findings"]) / 2:.0f} (label + extract)')
