"""Cost of the μ² Tokenizer next to a 1B-class LLM, measured side by side in one run (CPU).

    python benchmarks/bench_tokenizer.py            # all cases, ~3-4 min on 2 cores
    python benchmarks/bench_tokenizer.py --reps 1   # quicker, noisier

At the paper's token counts (batch 1, T=8 slabs x 256 tokens in, 256 out, a 768-position prompt of which
`--real` are real tokens, LLM width 2048) it times

* `official`: the tokenizer at the official configuration (width 2048 everywhere: the `paper` preset's) attending to
  all 768 prompt positions, as the official code does (no key-padding mask): the baseline;
* `ours`: the `paper_lite` preset's (width 768 inside, projected to 2048 at the end; prompt masked and trimmed to its
  real tokens);
* `ours_unmasked`: our width with the full 768 prompt positions, to separate the two levers;
* `llm`: one forward pass of a random-initialised 1B-class Llama (`llm_config(preset_name='paper')`: 16 layers,
  width 2048) over 512 tokens.

Forward times use `torch.no_grad()`; forward+backward times back-propagate a linear read-out of the output
into every tokenizer parameter (the `align` training stage). Each timing: one warm-up, then the median of
`--reps` runs. Threads are fixed to `--threads` (2).

Peak memory: every case runs in a fresh subprocess. After the model and inputs are built, the kernel's peak-RSS
counter (VmHWM) is reset by writing 5 to /proc/self/clear_refs (after `malloc_trim(0)` returns freed heap pages
to the system, so memory cached from earlier runs cannot hide the peak); the figure reported is peak RSS during the
timed work minus the resting RSS just before it, i.e. activations and temporaries, not weights. (Where
clear_refs is not available, ru_maxrss is used instead and the figure is a lower bound.)
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

CASES = ('official', 'ours', 'ours_unmasked', 'llm')


def _rss_mb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field): return int(line.split()[1]) / 1024
    return float('nan')


def _reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False


def _peak_delta(fn):
    "Run fn once; return the peak RSS growth in MiB over the resting RSS."
    import ctypes, gc
    gc.collect()
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)      # hand freed heap pages back, so warm-up leftovers do not hide the peak
    except OSError: pass
    rest = _rss_mb('VmRSS')
    if _reset_peak():
        fn(); return _rss_mb('VmHWM') - rest
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fn(); return max(0., resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - max(before, rest))


def _median_time(fn, reps):
    fn()                                                   # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def run_case(case, reps, real, threads):
    import torch
    torch.set_num_threads(threads); torch.manual_seed(0)
    res = {'case': case}
    if case == 'llm':
        from transformers import AutoModelForCausalLM
        from mu2llm.model.llm import llm_config
        t0 = time.perf_counter()
        lm = AutoModelForCausalLM.from_config(llm_config(preset_name='paper')).eval()
        res['build_s'] = time.perf_counter() - t0
        res['params_M'] = sum(p.numel() for p in lm.parameters()) / 1e6
        ids = torch.randint(0, lm.config.vocab_size, (1, 512))
        def fwd():
            with torch.no_grad(): lm(input_ids=ids, use_cache=False)
        res['fwd_s'] = _median_time(fwd, reps)
        res['fwd_peak_MiB'] = _peak_delta(fwd)
        return res

    from mu2llm.model.mu2_tokenizer import Mu2Tokenizer, PAPER_TOKENIZER, LITE_TOKENIZER
    cfg = PAPER_TOKENIZER if case == "official" else LITE_TOKENIZER
    tk = Mu2Tokenizer(**cfg).train()                       # train mode: what SFT runs (soft DTS has no noise)
    res['params_M'] = sum(p.numel() for p in tk.parameters()) / 1e6
    img_tok = torch.randn(1, cfg['n_slabs'], cfg['n_tokens'], cfg['in_dim'])
    txt = torch.randn(1, 768, cfg['text_dim'])
    mask = None
    if case == 'ours':
        mask = torch.zeros(1, 768, dtype=torch.bool); mask[:, -real:] = True   # left padding, `real` real tokens
    # per-submodule forward times via hooks
    sub_t, starts = {}, {}
    def pre(name):
        def h(m, a): starts[name] = time.perf_counter()
        return h
    def post(name):
        def h(m, a, o): sub_t[name] = sub_t.get(name, 0.) + time.perf_counter() - starts[name]
        return h
    for name, m in tk.named_children():
        m.register_forward_pre_hook(pre(name)); m.register_forward_hook(post(name))
    def fwd():
        with torch.no_grad(): tk(img_tok, txt, mask)
    fwd()                                                  # warm-up
    runs = []
    for _ in range(reps):
        sub_t.clear(); t0 = time.perf_counter(); fwd(); runs.append((time.perf_counter() - t0, dict(sub_t)))
    runs.sort(key=lambda r: r[0])
    res['fwd_s'], res['sub_s'] = runs[len(runs) // 2]
    res['fwd_peak_MiB'] = _peak_delta(fwd)
    w = torch.randn(1, cfg['n_queries'], cfg['out_dim'])
    def fwd_bwd():
        tk.zero_grad(set_to_none=True)
        (tk(img_tok, txt, mask).last_hidden_state * w).sum().backward()
    res['fwd_bwd_s'] = _median_time(fwd_bwd, reps)
    tk.zero_grad(set_to_none=True)
    res['fwd_bwd_peak_MiB'] = _peak_delta(fwd_bwd)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=3, help='timed repetitions after one warm-up (median reported)')
    ap.add_argument('--real', type=int, default=60, help='real prompt tokens out of 768 (ours)')
    ap.add_argument('--threads', type=int, default=2, help='torch threads')
    ap.add_argument('--cases', default=','.join(CASES), help='comma-separated subset of ' + ','.join(CASES))
    ap.add_argument('--case', help=argparse.SUPPRESS)      # internal: run one case in this process
    ap.add_argument('--json', help='also write all results to this JSON file')
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, a.reps, a.real, a.threads))); return
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    results = {}
    for case in a.cases.split(','):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, '--case', case, '--reps', str(a.reps), '--real', str(a.real),
                            '--threads', str(a.threads)], capture_output=True, text=True, env=env)
        if p.returncode: sys.exit(f'case {case} failed:\n{p.stderr[-3000:]}')
        results[case] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f'[{case} done in {time.perf_counter() - t0:.0f}s]', file=sys.stderr)
    print(f'threads={a.threads} reps={a.reps} (median after warm-up); prompt 768 positions, {a.real} real (ours)\n')
    print(f'{"case":15s} {"params M":>9s} {"fwd s":>7s} {"fwd+bwd s":>10s} {"fwd peak MiB":>13s} {"f+b peak MiB":>13s}')
    for c, r in results.items():
        print(f'{c:15s} {r["params_M"]:9.1f} {r["fwd_s"]:7.2f} {r.get("fwd_bwd_s", float("nan")):10.2f} '
              f'{r["fwd_peak_MiB"]:13.0f} {r.get("fwd_bwd_peak_MiB", float("nan")):13.0f}')
    print('\nper-submodule forward seconds (no_grad):')
    subs = [c for c in results if 'sub_s' in results[c]]
    names = list(results[subs[0]]['sub_s']) if subs else []
    print(f'{"submodule":10s}' + ''.join(f'{c:>15s}' for c in subs))
    for n in names: print(f'{n:10s}' + ''.join(f'{results[c]["sub_s"].get(n, 0.):15.3f}' for c in subs))
    print('\nratios:')
    if 'llm' in results:
        L = results['llm']['fwd_s']
        for c in subs: print(f'  {c} forward / LLM forward = {results[c]["fwd_s"] / L:.1%}')
        for c in subs: print(f'  {c} forward+backward / LLM forward = {results[c]["fwd_bwd_s"] / L:.2f}x')
    if 'official' in results and 'ours' in results:
        o, u = results['official'], results['ours']
        print(f'  official / ours: forward {o["fwd_s"] / u["fwd_s"]:.1f}x, forward+backward {o["fwd_bwd_s"] / u["fwd_bwd_s"]:.1f}x, '
              f'params {o["params_M"] / u["params_M"]:.1f}x, fwd+bwd peak memory {o["fwd_bwd_peak_MiB"] / max(u["fwd_bwd_peak_MiB"], 1):.1f}x')
    if 'llm' in results and 'ours' in results:
        ok = results['ours']['fwd_s'] <= 0.25 * results['llm']['fwd_s']
        print(f'  target (ours forward <= 25% of LLM forward): {"met" if ok else "NOT met"}')
    if a.json:
        with open(a.json, 'w') as f: json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
