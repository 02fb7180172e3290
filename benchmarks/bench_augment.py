"""Throughput of the OpenAI-compatible augmentation backend against a loopback server with 200 ms latency.

    python benchmarks/bench_augment.py [--latency 0.2] [--requests 320]

Prints requests/s at concurrency 1 and 16 side by side, each as a fraction of the ideal concurrency / latency,
for the bare backend and for the whole `augment` pipeline (prompt rendering, gates, JSONL store appends).
Target: >= 80 % of ideal at concurrency 16.
"""
import argparse, json, os, tempfile, time
from pathlib import Path

os.environ.setdefault('MU2LLM_NO_PROGRESS', '1')
from mu2llm.augment.runner import augment
from mu2llm.augment.backends import LoopbackChatServer, OpenAIChatBackend, user_text
from mu2llm.data.manifest import ManifestRow


def rows(n):
    return [ManifestRow(id=f'c{i}', volume=f'v{i}.nii.gz', dataset='bench', split='train', patient_id=f'p{i}',
                        report=f'Case {i}. A {3 + i % 20} mm nodule in the right upper lobe. No pleural effusion.') for i in range(n)]


def answer(body, n):
    rep = user_text(body).split('Report:\n')[-1]
    return json.dumps({'rewrites': ['Findings: ' + rep.replace('No pleural', 'There is no pleural')]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--latency', type=float, default=0.2)
    ap.add_argument('--requests', type=int, default=320, help='requests at concurrency 16 (concurrency 1 gets 1/16 of them)')
    a = ap.parse_args()
    res = {}
    with LoopbackChatServer(answer, latency=a.latency) as srv, tempfile.TemporaryDirectory() as tmp:
        for c in (1, 16):
            n = max(4, a.requests * c // 16)
            be = OpenAIChatBackend(srv.url, 'bench', concurrency=c)
            prompts = [[dict(role='user', content=f'Report:\nprompt {i}')] for i in range(n)]
            t0 = time.perf_counter(); outs = be.complete(prompts); dt = time.perf_counter() - t0
            assert all(o.ok for o in outs)
            res[('backend', c)] = n / dt
            t0 = time.perf_counter()
            s = augment(rows(n), 'rewrite', be, Path(tmp)/f'store{c}.jsonl', n=1)
            dt = time.perf_counter() - t0
            assert s.kept == n, s
            res[('pipeline', c)] = n / dt
    ideal = {c: c / a.latency for c in (1, 16)}
    print(f'loopback server, latency {a.latency * 1000:.0f} ms; requests/s (fraction of concurrency/latency)')
    print(f"{'':10s} {'concurrency 1':>22s} {'concurrency 16':>22s}")
    for what in ('backend', 'pipeline'):
        cells = [f'{res[(what, c)]:7.1f} ({res[(what, c)] / ideal[c]:5.1%})' for c in (1, 16)]
        print(f'{what:10s} {cells[0]:>22s} {cells[1]:>22s}')
    print(f"speed-up 16 vs 1 (pipeline): {res[('pipeline', 16)] / res[('pipeline', 1)]:.1f}x; "
          f"target at 16: >= {0.8 * ideal[16]:.0f} req/s -> {'OK' if res[('pipeline', 16)] >= 0.8 * ideal[16] else 'MISSED'}")


if __name__ == '__main__':
    main()
