"""CTReportDataset and collate_volumes over a real cache: missing entries, mixed configs, DataLoader workers."""
import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip('mu2llm.data.preprocess')
pytest.importorskip('mu2llm.data.ct_io')
from mu2llm.data.cache import prep_manifest
from mu2llm.core.errors import ConfigError, FileError
from mu2llm.data.dataset import CTReportDataset, collate_volumes
from mu2llm.data.manifest import ManifestRow, write_manifest, read_manifest
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti


@pytest.fixture
def prepared(tmp_path):
    rows = []
    for i in range(4):
        write_nifti(tmp_path/f'v{i}.nii.gz', tiny_hu((40, 36, 20), seed=i), spacing=(1.5, 1.5, 3.0))
        rows.append(ManifestRow(f'v{i}', f'v{i}.nii.gz', 'demo', 'train', f'p{i}', report=f'Report {i}.'))
    write_manifest(tmp_path/'m.jsonl', rows)
    prep_manifest(tmp_path/'m.jsonl', tmp_path/'c', config='tiny', workers=0)
    return tmp_path


def test_items_follow_the_manifest_and_batch_through_a_worker_dataloader(prepared):
    ds = CTReportDataset(prepared/'c/manifest.jsonl', prepared/'c')
    dl = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_volumes)
    batches = list(dl)
    assert [b['id'] for b in batches] == [['v0', 'v1'], ['v2', 'v3']]
    assert batches[1]['report'] == ['Report 2.', 'Report 3.']
    assert torch.equal(batches[1]['pixel_values'][0], ds[2]['pixel_values'])
    assert not torch.equal(ds[0]['pixel_values'], ds[1]['pixel_values'])  # different volumes, different tensors
    assert 'image' not in batches[0] and 'images' not in batches[0]


def test_deleted_entry_is_a_clear_error(prepared):
    ds = CTReportDataset(prepared/'c/manifest.jsonl', prepared/'c')
    p = ds.vc.paths(ds.keys[1])[1]; p.unlink()
    with pytest.raises(FileError, match=r'1 row\(s\) have no cache entry \(v1\).*mu2llm_prep'):
        CTReportDataset(prepared/'c/manifest.jsonl', prepared/'c')
    with pytest.raises(FileError, match='mu2llm_prep'): ds.vc.load(ds.keys[1])


def test_mixed_configs_are_refused(prepared):
    tiny_rows = read_manifest(prepared/'c/manifest.jsonl')
    prep_manifest(prepared/'m.jsonl', prepared/'c', config='demo', workers=0)
    demo_rows = read_manifest(prepared/'c/manifest.jsonl')
    for r in demo_rows: r.id = r.id + '-demo'
    with pytest.raises(ConfigError, match='2 preprocessing configs'): CTReportDataset(tiny_rows + demo_rows, prepared/'c')
    # without cache_key, rows resolve against the config of the latest run (demo here)
    ds = CTReportDataset(prepared/'m.jsonl', prepared/'c')
    assert ds.keys == [r.meta['cache_key'] for r in demo_rows]
