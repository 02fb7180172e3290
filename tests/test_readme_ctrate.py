"""README.md's "Train on CT-RATE" walk-through, run on a CPU at tiny scale: the commands are read from the README and run
in order with the same command-line tools, on a small folder laid out as CT-RATE's download is. `TINY` lists everything
that differs from the GPU run, and nothing else does."""
import csv, re, shlex, subprocess, sys
from pathlib import Path

from _helpers import cli, cli_env, save_m3d_style_vit, save_tiny_llm_folder

ROOT = Path(__file__).resolve().parents[1]

TINY = [  # (README text, what the CPU run uses instead)
    ('--preset paper', '--preset tiny'),                                          # the tiny preset (seconds, not days)
    ('--config_file configs/accelerate/zero2_4gpu.yaml', '--cpu --num_processes 1'),  # one CPU process, no GPUs or DeepSpeed
    ('--workers 16', '--workers 0'),
    ('hf:models/GREEN-RadLlama2-7b', 'rule'),                                     # the offline judge instead of GREEN-RadLlama2-7b
    ('--max_new_tokens 768', '--max_new_tokens 12'),
    ('--bertscore_model models/roberta-large', '--metrics bleu,rouge'),           # no roberta-large (or WordNet) needed
]
DOWNLOAD = 'hf download ibrahimhamamci/CT-RATE'                     # replaced by `fake_ctrate`

FINDINGS = ['There is a 12 mm nodule in the right upper lobe.', 'Small left pleural effusion.',
            'Cardiomegaly. The heart is enlarged.', 'The lungs are clear. No pleural effusion.']
REPORT_COLS = ['VolumeName', 'ClinicalInformation_EN', 'Technique_EN', 'Findings_EN', 'Impressions_EN']


def readme_commands() -> list[str]:
    "The shell commands of the README section's bash block (continuation lines joined, comments dropped)."
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    assert '## Train on CT-RATE' in text, 'README.md has no "Train on CT-RATE" section'
    block = re.search(r'```bash\n(.*?)```', text.split('## Train on CT-RATE', 1)[1], re.S).group(1)
    cmds, cur = [], ''
    for line in block.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith('#')): continue
        if line.rstrip().endswith('\\'): cur += line.rstrip()[:-1] + ' '; continue
        cmds.append(' '.join((cur + line).split())); cur = ''
    return cmds


def fake_ctrate(root:Path, n_train:int=6, n_valid:int=3) -> Path:
    """CT-RATE's download layout at toy size: dataset/{train,valid}/<split>_<patient>/<split>_<patient>_a/
    <split>_<patient>_a_<reconstruction>.nii.gz, the report CSVs in dataset/radiology_text_reports/, and the metadata
    and label CSVs the release ships beside them (not read by the manifest)."""
    from mu2llm.data.ct_io import write_nifti
    from mu2llm.testing import tiny_hu
    ds = root/'dataset'
    for folder, split, n, csv_name in (('train', 'train', n_train, 'train'), ('valid', 'valid', n_valid, 'validation')):
        rows = []
        for p in range(1, n + 1):
            for rec in (1, 2) if p % 2 else (1,):                                # two reconstructions of some scans
                name = f'{split}_{p}_a_{rec}'
                d = ds/folder/f'{split}_{p}'/f'{split}_{p}_a'
                d.mkdir(parents=True, exist_ok=True)
                write_nifti(d/f'{name}.nii.gz', tiny_hu((40, 36, 20), seed=p * 10 + rec), spacing=(1.5, 1.5, 3.0))
                rows.append([f'{name}.nii.gz', 'Not given.', 'Non-contrast chest CT.', FINDINGS[p % 4], 'See findings.'])
        for sub, fname, header, body in (
                ('radiology_text_reports', f'{csv_name}_reports.csv', REPORT_COLS, rows),
                ('metadata', f'{csv_name}_metadata.csv', ['VolumeName', 'RescaleSlope', 'RescaleIntercept', 'XYSpacing', 'ZSpacing'],
                 [[r[0], 1, -1024, '[0.75, 0.75]', 1.5] for r in rows]),
                ('multi_abnormality_labels', f'{csv_name}_predicted_labels.csv', ['VolumeName', 'Lung nodule', 'Pleural effusion'],
                 [[r[0], int('nodule' in r[3]), int('Small left' in r[3])] for r in rows])):
            (ds/sub).mkdir(parents=True, exist_ok=True)
            with open(ds/sub/fname, 'w', newline='') as f: w = csv.writer(f); w.writerow(header); w.writerows(body)
    return root


def _argv(cmd:str) -> list[str]:
    "A README command as argv: console scripts through `_helpers.cli`, `accelerate` through this Python."
    for a, b in TINY: cmd = cmd.replace(a, b)
    argv = shlex.split(cmd)
    if argv[0].startswith('mu2llm_'): return [*cli(argv[0][len('mu2llm_'):]), *argv[1:]]
    if argv[:2] == ['accelerate', 'launch']: return [sys.executable, '-m', 'accelerate.commands.launch', *argv[2:]]
    raise AssertionError(f'unexpected command in the README section: {cmd}')


def test_readme_ctrate_commands_run_at_tiny_scale(tmp_path):
    from mu2llm.core.files import read_jsonl
    from mu2llm.core.presets import preset
    cmds = readme_commands()
    assert cmds[0].startswith(DOWNLOAD) and len(cmds) == 8, cmds
    for a, _ in TINY: assert any(a in c for c in cmds), f'TINY replaces {a!r}, which the README no longer says'
    fake_ctrate(tmp_path/'data'/'CT-RATE')                                             # step 1: the download, laid out
    save_tiny_llm_folder(tmp_path/'models'/'Llama-3.2-1B-Instruct')                    # the LLM folder, in its format
    save_m3d_style_vit(tmp_path/'models'/'M3D-CLIP'/'pretrained_ViT.bin', preset('tiny')['vision'], cls_token=False)
    for cmd in cmds[1:]:
        r = subprocess.run(_argv(cmd), cwd=tmp_path, capture_output=True, text=True, env=cli_env(), timeout=900)
        assert r.returncode == 0, f'{cmd}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}'
    man = read_jsonl(tmp_path/'data'/'ctrate.jsonl')
    assert {r['split'] for r in man} >= {'train', 'test'} and all(Path(r['volume']).exists() for r in man)
    assert len({r['patient_id'] for r in man if r['split'] == 'test'}) == 3
    runs = tmp_path/'runs'/'ctrate'
    for stage in ('sft', 'dpo'):
        assert (runs/stage/'model.safetensors').exists() and 'Llama-3.2-1B-Instruct' in (runs/stage/'README.md').read_text()
    assert len(read_jsonl(runs/'prefs'/'pairs.jsonl')) > 0
    preds = read_jsonl(runs/'preds.jsonl')
    assert len(preds) == sum(r['split'] == 'test' for r in man) and all(p['status'] == 'ok' for p in preds)
    table = (runs/'eval'/'table.md').read_text()
    assert 'mu2llm-ctrate' in table and 'GREEN' in table
