"""Render README.md's measured figures from the experiments' results files, so each figure is typed in one place only.

    python tools/readme_tables.py           # rewrite every block between <!-- table:NAME --> and <!-- /table:NAME -->
    python tools/readme_tables.py --check   # exit 1 (and show the difference) when README.md is not what the files give

Blocks: `demo` (the demo's held-out table and what it says, from experiments/demo_runs) and `benchmarks` (the
"Measured on 2 CPU cores" table, one row per experiment). Each block shows the row its results file names in
`shown`; to change a figure, add a row to the results file (its experiment's run script does) and point `shown` at it.
"""
import argparse, difflib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXP = ROOT/'experiments'
README = ROOT/'README.md'


def load(name) -> dict: return json.loads((EXP/name/'results.json').read_text(encoding='utf-8'))


def rows(data:dict, table:str='runs') -> dict: return {r['id']: r for r in data['tables'][table]}


def shown(name, table='runs') -> dict:
    "The row experiment `name` shows in the README (`shown` in its results file)."
    d = load(name)
    return rows(d, table)[d['shown']]


MINUS = lambda s: s.replace('-', '−')
signed = lambda v, n=3: MINUS(f'{v:+.{n}f}')                       # +0.004, −0.019
plain = lambda v, n=3: MINUS(f'{v:.{n}f}')                         # 0.034, −0.019
pct = lambda v: f'{100 * v:.1f}'.removesuffix('.0')                # 0.095 -> 9.5, 0.5 -> 50
f1s = lambda v: '100' if v == 100 else '0' if v == 0 else f'{v:.1f}'   # per-finding F1 as prose
NUMBER = {1: 'one', 2: 'two', 3: 'three', 4: 'four', 5: 'five', 6: 'six'}
LINK = lambda name: f'[`{name}`](experiments/{name}/README.md)'


def minsec(s) -> str: return f'{int(s) // 60} min {int(s) % 60} s'


# ---------------------------------------------------------------- the demo block
def demo_block() -> str:
    d = load('demo_runs'); runs = rows(d); r = runs[d['shown']]; m = r['models']
    row = lambda label, k, bold=False: (f"| {label} | {'**' if bold else ''}{m[k]['f1']:.1f}{'**' if bold else ''} | "
                                        f"{m[k]['green']:.3f} [{m[k]['green_ci'][0]:.3f}, {m[k]['green_ci'][1]:.3f}] |")
    controls = [(k, label) for k, label in (('blank', 'all-zero volume (control)'), ('blank_mean', 'mean training volume (control)')) if k in m]
    sft = r['per_finding_f1']['sft']
    ranked = sorted(((v, k) for k, v in sft.items() if v is not None), reverse=True)
    named = ', '.join(f"{k.replace('_', ' ')} {f1s(v)}" for v, k in ranked[:4])
    missed = [k.replace('_', ' ') for v, k in ranked if v < 10]
    gains = ' and '.join(f"{signed(m['sft']['f1'] - m[k]['f1'], 1)} points over the {label.split(' (')[0]}" for k, label in controls)
    reads = all(m['sft']['f1'] - m[k]['f1'] >= 10 for k, _ in controls)
    in_mean = [n.replace('_', ' ') for n, v in (r['per_finding_f1'].get('blank_mean') or {}).items() if v]
    mean_note = (f" Given the mean volume it names {', '.join(in_mean)}: findings frequent enough in the training set to leave a "
                 "trace in the average body." if in_mean else '')
    g = r.get('green_gain')
    lines = [f"It ran in {minsec(r['seconds'])} on {r['settings'].get('cpu_cores', 2)} CPU cores and ends with one table for the "
             f"{r['settings']['n_test']} held-out phantoms (finding F1 in points against the phantom truth):", '',
             '| model | finding F1 | rule-judge GREEN [95 % CI] |', '|---|---:|---|',
             *[row(label, k) for k, label in controls], row('SFT', 'sft', bold=True)]
    pairing = r['settings'].get('pairing', 'mean_split')
    if 'dpo' in m: lines.append(row(f'SFT+DPO ({pairing} pairs, RPO)' if 'paper_dpo' in m else 'SFT+DPO', 'dpo'))
    if 'paper_dpo' in m: lines.append(row("SFT+the paper's DPO (best vs worst, sigmoid loss)", 'paper_dpo'))
    blanks = [(label, k) for label, k in (('SFT', 'blank'), (f'SFT+DPO ({pairing})', 'dpo_blank'), ("SFT+the paper's DPO", 'paper_dpo_blank'))
              if 'paper_dpo' in m and k in m]
    lines += ['', f"- SFT's finding F1 is {gains}" + ('.' if reads or in_mean else ': the model barely reads the scan.') + mean_note + f" It names the large findings best ({named})"
              + (f"; it misses the small ones ({', '.join(missed)}), which the demo's 2 × 16 × 48 × 48 volumes barely show." if missed else '.')]
    pg = r.get('paper_green_gain')
    if g and pg:
        lines.append(f"- DPO on `{pairing}` pairs (the preference study's best, see below) changes GREEN by {signed(g['mean'])}, paired 95 % CI "
                     f"[{plain(g['ci'][0])}, {plain(g['ci'][1])}]; the paper's DPO by {signed(pg['mean'])} [{plain(pg['ci'][0])}, {plain(pg['ci'][1])}]. "
                     f"Finding F1 on all-zero volumes: " + ', '.join(f"{label} {m[k]['f1']:.1f}" for label, k in blanks) + '. '
                     f"With {r['settings']['n_test']} held-out cases these CIs are wider than the effects the study measured on 1,000 (the demo chapter computes it).")
        pb, b = m.get('paper_dpo_blank'), m['blank']
        if pb and pb['rouge1'] < b['rouge1'] / 2:
            lines.append(f"- Given an all-zero volume, the paper's DPO (no RPO term) writes degenerate text: ROUGE-1 {pb['rouge1']:.1f} against "
                         f"SFT's {b['rouge1']:.1f}. It names no finding, so the rule judge scores it like the all-normal report: "
                         "finding-based scores cannot see broken text, ROUGE can.")
    elif g: lines.append(f"- DPO changes GREEN by {signed(g['mean'])}, paired 95 % CI [{plain(g['ci'][0])}, {plain(g['ci'][1])}] "
                         f"(how to make preference training help reliably is an open question; see `experiments/dpo_settings`).")
    return '\n'.join(lines)


# ---------------------------------------------------------------- the ablation block
def ablation_block() -> str:
    d = load('tokenizer_ablation')
    if not d.get('shown'): return '(not run yet)'
    r = rows(d)[d['shown']]
    ci = lambda x, sc=100, n=1: f"{x['mean'] * sc:.{n}f} [{x['ci'][0] * sc:.{n}f}, {x['ci'][1] * sc:.{n}f}]"
    dif = lambda x, sc=100, n=1: '–' if x is None else MINUS(f"{x['mean'] * sc:+.{n}f} [{x['ci'][0] * sc:+.{n}f}, {x['ci'][1] * sc:+.{n}f}]")
    lines = ['| row | finding F1 | Δ F1 | GREEN (rule) | Δ GREEN | probe F1, LLM image tokens / ViT |', '|---|---:|---:|---:|---:|---:|']
    for x in r['rows'].values():
        vs = x['vs_baseline'] or {}
        pr = '–' if x['probe_ratio'] is None else f"{x['probe_ratio']:.2f}"
        lines.append(f"| {x['label']} | {ci(x['stats']['f1'])} | {dif(vs.get('f1'))} | {ci(x['stats']['green'], 1, 3)} | "
                     f"{dif(vs.get('green'), 1, 3)} | {pr} |")
    lines += ['', f"{r['n_cases']} held-out phantoms, seeds {', '.join(map(str, r['seeds']))}, {r['minutes']} min on {r['machine'].split(',')[0]} "
              f"(`{r['command']}`, {r['recorded']['commit']}); every row, ROUGE-L and BLEU-4 too, in "
              f"[`tokenizer_ablation`](experiments/tokenizer_ablation/README.md) and `nbs/05_eval/03_ablate`."]
    later = [x for x in d['tables']['runs'] if x['id'].split('-')[0] == 'followup']
    if later: lines += ['', 'Follow-ups on fresh held-out phantoms from the same warmed encoder (declared in the experiment README before they ran):', '']
    for x in later:
        for k, v in x['rows'].items():
            if k == x['baseline']: continue
            lines.append(f"- `{x['id']}`, {x['n_cases']} phantoms, {v['label']}: Δ F1 vs baseline {dif(v['vs_baseline']['f1'])} (seeds pooled); "
                         f"F1 per seed {', '.join(f'{100 * f:.1f}' for f in v['f1_per_seed'])} "
                         f"(baseline {', '.join(f'{100 * f:.1f}' for f in x['rows'][x['baseline']]['f1_per_seed'])}).")
        c = x.get('compare')
        if c: lines.append(f"- `{x['id']}`, {c['b']} minus {c['a']} on the same cases: finding F1 {dif(c['pooled']['f1'])} pooled; per seed "
                           + ', '.join(MINUS(f"{100 * p['f1']['mean']:+.1f}") for p in c['per_seed']) + '.')
    return '\n'.join(lines)


# ---------------------------------------------------------------- the preference-study block
def prefstudy_block() -> str:
    d = load('pref_study')
    if not d.get('shown'): return '(not run yet)'
    r = rows(d)[d['shown']]
    ci = lambda x, sc=1, n=3: MINUS(f"{x['mean'] * sc:.{n}f} [{x['ci'][0] * sc:.{n}f}, {x['ci'][1] * sc:.{n}f}]")
    dif = lambda x, sc=1, n=3: '–' if x is None else MINUS(f"{x['mean'] * sc:+.{n}f} [{x['ci'][0] * sc:+.{n}f}, {x['ci'][1] * sc:+.{n}f}]")
    lines = ['| row | GREEN (rule) | Δ GREEN vs SFT, seeds pooled | seeds with Δ CI > 0 | Δ GREEN, CI over seeds | finding F1 | F1 on blank volumes |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for x in r['rows'].values():
        vs = x['vs_baseline'] or {}
        k = '–' if x['seeds_above_zero'] is None else f"{x['seeds_above_zero']} of {len(x['per_seed'])}"
        fb = '–' if x['f1_blank'] is None else f"{100 * x['f1_blank']:.1f}"
        lines.append(f"| {x['label']} | {ci(x['stats']['green'])} | {dif(vs.get('green'))} | {k} | {dif(x.get('over_seeds'))} | "
                     f"{100 * x['stats']['f1']['mean']:.1f} | {fb} |")
    b = r['rows'].get(r.get('best')) or {}
    lines += ['', f"{r['n_cases']} held-out phantoms, seeds {', '.join(map(str, r['seeds']))}, {r['minutes']} min on {r['machine'].split(',')[0]} "
              f"(`{r['command']}`, {r['recorded']['commit']}). Best preference method: {b.get('label', '–')}; it "
              f"{'meets' if b.get('meets') else 'does not meet'} the bar (a CI above 0 in every seed, blank-volume F1 not above SFT's). "
              "CI over seeds: a 95 % Student-t interval over the per-seed differences (the training's own variation). "
              f"Per-seed CIs, ROUGE-L and BLEU-4 in {LINK('pref_study')} and `nbs/05_eval/04_prefstudy`."]
    later = [x for x in d['tables']['runs'] if x['id'].split('-')[0] in ('followup', 'confirm', 'round2')]
    if later: lines += ['', 'Follow-ups on fresh held-out phantoms from the same SFT model (declared in the experiment README before they ran):', '']
    for x in later:
        for k, v in x['rows'].items():
            if k == x['baseline']: continue
            seeds = ', '.join(signed(p['green']['mean']) for p in v['per_seed'])
            lines.append(f"- `{x['id']}`, {x['n_cases']} phantoms, {v['label']}: Δ GREEN {dif(v['vs_baseline']['green'])} pooled, "
                         f"{dif(v['over_seeds'])} over seeds; per seed {seeds}, {v['seeds_above_zero']} of {len(v['per_seed'])} with a CI above 0; "
                         f"F1 on blank volumes {100 * v['f1_blank']:.1f} (SFT {100 * x['rows'][x['baseline']]['f1_blank']:.1f})"
                         + (' (the comparator: declared beforehand not to be a test of its own bar).' if k in x.get('comparators', ()) else '.'))
        c = x.get('compare')
        if c: lines.append(f"- `{x['id']}`, {c['b']} minus {c['a']} on the same cases: Δ GREEN {dif(c['pooled']['green'])} pooled; per seed "
                           + ', '.join(dif(p['green']) for p in c['per_seed']) + '.')
    for c in [x for x in d['tables'].get('checks', []) if x['id'].startswith('pooled-sets')][-1:]:
        lines.append(f"- Every held-out set together ({c['n_sets']} sets, {c['n_cases']:,} phantoms, none scored twice; computed after the sets were "
                     f"seen, a description rather than a declared test): `{c['row']}` minus SFT {dif(c['pooled']['green'])} pooled; per seed "
                     + ', '.join(dif(p['green']) for p in c['per_seed']) + '.')
    return '\n'.join(lines)


# ---------------------------------------------------------------- the benchmarks table
def bench_rows() -> list:
    out = []
    r = shown('preprocess_vs_monai')
    out.append((f"preprocessing vs an equivalent MONAI dictionary pipeline (with spacing resampling), {'×'.join(map(str, r['shape']))} `.nii.gz`",
                f"{r['ours_s']:.2f} vs {r['monai_s'][0]:.2f}–{r['monai_s'][1]:.2f} s/volume, **{r['speedup']:.1f}×**",
                'preprocess_vs_monai', 'benchmarks/bench_preprocess.py'))
    r = shown('cache_load')
    out.append((f"cached load vs raw load (`{r['config']}` config)", f"{r['cached_s']:.3f} vs {r['raw_s']:.3f} s/volume, **{r['ratio']:.0f}×**",
                'cache_load', 'benchmarks/bench_cache.py'))
    d = load('tokenizer_cost'); r = rows(d)[d['shown']]
    earlier = ''.join(f"; {pct(x['ours_over_llm'])} % in {x['readme_label']}" for x in d['tables']['runs'] if x.get('readme_label'))
    out.append(("μ² Tokenizer forward at the paper's token counts, `paper_lite` (width 768), vs one forward of a 1B Llama over 512 tokens",
                f"{r['configs']['ours']['fwd_s']:.2f} vs {r['configs']['llm']['fwd_s']:.2f} s, **{pct(r['ours_over_llm'])} %** "
                f"(`paper`, the official layout at width 2048: {pct(r['official_over_llm'])} %){earlier}", 'tokenizer_cost', 'benchmarks/bench_tokenizer.py'))
    r = shown('labeller_f1')
    out.append((f"findings labeller, macro-F1 on {r['heldout']['n_reports']} held-out hand-labelled CT-RATE reports",
                f"**{r['heldout']['macro_f1']:.3f}**", 'labeller_f1', 'nbs/03_score/00_labeller.ipynb'))
    r = shown('judge_ranking')
    out.append((f"rule judge ranking (self > one finding removed > normal) on {r['n_reports']} real reports", f"**{100 * r['rate']:.0f} %**",
                'judge_ranking', 'tests/test_judges.py'))
    r = shown('judge_speed')
    out.append((f"rule judge speed, {r['n_pairs']:,} real report pairs, one core", f"{r['cold_pairs_per_s']:.0f} pairs/s (cold)",
                'judge_speed', 'benchmarks/bench_judges.py'))
    r = shown('augment_throughput'); p = r['pipeline']['16']
    out.append((f"`mu2llm_augment` against a loopback server with {1000 * r['latency_s']:.0f} ms latency, concurrency 16",
                f"{p['req_per_s']:.1f} req/s ({100 * p['fraction_of_ideal']:.0f} % of 16 ÷ {r['latency_s']:g} s)",
                'augment_throughput', 'benchmarks/bench_augment.py'))
    d = load('dpo_ref_modes'); rr = [rows(d)[i] for i in d['shown']]
    both = lambda xs: f'{xs[0]:.2f}×' if len(set(xs)) == 1 else ' and '.join(f'{x:.2f}×' for x in xs)
    rounds = [x for r in rr for x in r['time_ratio']['rounds']]
    s = rr[0]['settings']
    out.append((f"DPO step, precomputed reference log-probs vs a frozen reference copy, {s['pairs_per_step']} pairs, ViT frozen as in the demo",
                f"step time **{both([r['time_ratio']['median'] for r in rr])}** (medians of {s['rounds']} alternating rounds; rounds "
                f"{min(rounds):.2f}–{max(rounds):.2f}); peak RSS {both([r['peak_rss_ratio'] for r in rr])}, RSS growth "
                f"{both([r['rss_growth_ratio'] for r in rr])} (memory target 0.7×: not met; full fine-tuning with Adam cannot reach it, see `32_dpo`)",
                'dpo_ref_modes', 'benchmarks/dpo_ref_modes.py'))
    r = shown('prefs_batching'); g = r['groups']
    out.append(("preference sampling, 8 drafts per case, demo SFT checkpoint",
                f"{g['1']['s_per_case']:.3f} → {g['8']['s_per_case']:.3f} s per case with 8 cases per `generate` call (**{g['8']['ratio']:.2f}×**)",
                'prefs_batching', 'benchmarks/bench_prefs_batching.py'))
    r = shown('demo_runs'); m, gg = r['models'], r['green_gain']
    out.append(("the full demo (phantoms → encoder warm-up → align → SFT → drafts → DPO and the paper's DPO → evaluation)",
                f"{minsec(r['seconds'])}; SFT finding F1 {m['sft']['f1']:.1f} vs {m['blank']['f1']:.1f} for the blank-volume control"
                + (f" and {m['blank_mean']['f1']:.1f} for the mean-volume one" if 'blank_mean' in m else '') + "; "
                f"DPO − SFT GREEN {signed(gg['mean'])} [{plain(gg['ci'][0])}, {plain(gg['ci'][1])}]"
                + (f"; the paper's DPO {signed(r['paper_green_gain']['mean'])} [{plain(r['paper_green_gain']['ci'][0])}, {plain(r['paper_green_gain']['ci'][1])}]"
                   if r.get('paper_green_gain') else ''), 'demo_runs', 'mu2llm_demo'))
    return out


def benchmarks_block() -> str:
    lines = ['| what | figure | experiment (script) |', '|---|---|---|']
    lines += [f'| {what} | {fig} | {LINK(name)} (`{script}`) |' for what, fig, name, script in bench_rows()]
    return '\n'.join(lines)


BLOCKS = dict(demo=demo_block, ablation=ablation_block, prefstudy=prefstudy_block, benchmarks=benchmarks_block)


def render(text:str) -> str:
    "README text with every marked block re-rendered from the results files."
    for name, fn in BLOCKS.items():
        pat = re.compile(rf'(<!-- table:{name} -->\n)(?:.*?\n)?(<!-- /table:{name} -->)', re.S)
        if not pat.search(text): raise SystemExit(f'README.md has no <!-- table:{name} --> ... <!-- /table:{name} --> block')
        text = pat.sub(lambda mo: mo.group(1) + fn() + '\n' + mo.group(2), text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only compare; exit 1 if README.md is out of date')
    a = ap.parse_args()
    old = README.read_text(encoding='utf-8')
    new = render(old)
    if a.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), 'README.md', 'rendered from experiments/'))
            print('\nREADME.md is not up to date with experiments/*/results.json: run python tools/readme_tables.py')
            sys.exit(1)
        print('README.md is up to date with experiments/*/results.json')
        return
    if new != old: README.write_text(new, encoding='utf-8'); print('README.md: tables rewritten')
    else: print('README.md: already up to date')


if __name__ == '__main__':
    main()
