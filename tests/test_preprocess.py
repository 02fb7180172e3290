"""`preprocess_ct`: equality with MONAI's transforms, orientation of the output, pad/crop geometry, real scans, errors."""
import numpy as np
import pytest
import torch

from mu2llm.core.errors import ConfigError, PreprocessError
from mu2llm.data.ct_io import CTVolume, read_ct, write_dicom_series
from mu2llm.data.preprocess import PreprocessConfig, preprocess_ct
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti


def _monai(path, cfg, spacing=None):
    "MONAI dict pipeline giving mu2llm's (C, D, H, W) layout for a single-window config."
    from monai.transforms import (Compose, EnsureChannelFirstd, LoadImaged, Orientationd, Resized,
                                  ScaleIntensityRanged, Spacingd)
    (lo, hi), = cfg.windows
    D, H, W = cfg.volume_shape
    ts = [LoadImaged('img', image_only=True), EnsureChannelFirstd('img'), Orientationd('img', axcodes='RAS')]
    if spacing: ts.append(Spacingd('img', pixdim=spacing, mode='bilinear'))
    ts += [ScaleIntensityRanged('img', a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True),
           Resized('img', spatial_size=(W, H, D), mode='trilinear')]
    x = torch.as_tensor(Compose(ts)({'img': str(path)})['img'])  # (C, X, Y, Z) RAS
    return x.permute(0, 3, 2, 1).flip(1, 2, 3)  # -> (C, D, H, W): superior, anterior, right first


@pytest.mark.parametrize('lps', [False, True])
def test_equals_monai_without_spacing(tmp_path, lps):
    hu = tiny_hu((60, 50, 30)); hu[5:15, 30:40, 20:28] = 1500
    aff = np.diag([0.7, 0.7, 2.5, 1.])
    if lps:
        hu = hu[::-1, ::-1].copy(); aff = np.diag([-0.7, -0.7, 2.5, 1.]); aff[:2, 3] = [59*0.7, 49*0.7]
    p = write_nifti(tmp_path/'v.nii.gz', hu, affine=aff)
    cfg = PreprocessConfig.preset('tiny').replace(layout='single', slab_shape=(12, 40, 36), n_slabs=2)
    ours = preprocess_ct(read_ct(p), cfg)[0]
    ref = _monai(p, cfg)[0]
    assert ours.shape == ref.shape == (24, 40, 36)
    assert (ours - ref).abs().max() < 1e-5


def test_close_to_monai_with_spacing(tmp_path):
    "MONAI resamples twice (spacing, then resize); we once: close on average, different at sharp edges."
    hu = tiny_hu((80, 80, 24), noise=5.0); hu[10:30, 50:72, 4:14] = 1500  # an off-centre bright block
    p = write_nifti(tmp_path/'v.nii.gz', hu, spacing=(0.7, 0.7, 2.5))
    cfg = PreprocessConfig.preset('tiny').replace(layout='single', target_spacing=(1.5, 1.5, 1.5))
    ours, ref = preprocess_ct(read_ct(p), cfg)[0], torch.as_tensor(_monai(p, cfg, spacing=(1.5, 1.5, 1.5))[0])
    d = (ours - ref).abs()
    wrong = (ours.flip(1) - ref).abs()  # anterior/posterior swapped (the spine is posterior): what a real bug looks like
    assert d.median() < 0.01 and d.mean() < 0.03 and d.mean() < wrong.mean()/3, (d.median(), d.mean(), wrong.mean())


def test_dicom_and_nifti_give_same_tensor(tmp_path):
    hu = tiny_hu((40, 32, 12))
    cfg = PreprocessConfig.preset('tiny')
    a = preprocess_ct(read_ct(write_nifti(tmp_path/'v.nii.gz', hu, spacing=(0.8, 0.8, 2.))), cfg)
    b = preprocess_ct(read_ct(write_dicom_series(tmp_path/'dcm', hu, spacing=(0.8, 0.8, 2.))), cfg)
    torch.testing.assert_close(a, b)


def test_percentile_mode_matches_definition():
    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 2000, (20, 20, 16)).astype(np.int16)
    v = CTVolume(hu, (1., 1., 1.), np.eye(4), {'path': 'r'})
    cfg = PreprocessConfig(intensity='percentile', percentiles=(5, 95), layout='single', n_slabs=1, slab_shape=(16, 20, 20))
    x = preprocess_ct(v, cfg)[0]  # same grid: no interpolation
    lo, hi = np.percentile(hu, (5, 95))
    ref = (np.clip(hu, lo, hi) - lo)/(hi - lo)
    np.testing.assert_allclose(x.numpy(), ref.transpose(2, 1, 0)[::-1, ::-1, ::-1], atol=1e-6)
    assert x.min() == 0 and x.max() == 1


def test_float_input_not_modified_and_deterministic():
    hu = tiny_hu((16, 16, 16)).astype(np.float32)
    v = CTVolume(hu, (1., 1., 1.), np.eye(4), {'path': 'f'})
    cfg = PreprocessConfig.preset('tiny').replace(windows=((-100., 100.),), layout='single', n_slabs=2, slab_shape=(8, 16, 16))
    h0 = hu.copy()
    x1, x2 = preprocess_ct(v, cfg), preprocess_ct(v, cfg)
    np.testing.assert_array_equal(hu, h0)  # clipping never writes into the caller's array
    torch.testing.assert_close(x1, x2, rtol=0, atol=0)


def test_pad_crop_crops_centre():
    hu = np.zeros((10, 10, 40), np.int16); hu[:, :, :20] = -1000; hu[:, :, 20:] = 1000  # inferior air, superior bone
    v = CTVolume(hu, (1., 1., 1.), np.eye(4), {'path': 'c'})
    cfg = PreprocessConfig(intensity='window', resize='pad_crop', layout='single', n_slabs=1, slab_shape=(20, 10, 10))
    x = preprocess_ct(v, cfg)[0]  # centre 20 of 40 slices: z 10..29, D=0 is superior (z=29)
    assert (x[:10] == 1).all() and (x[10:] == 0).all()


def test_errors():
    with pytest.raises(ConfigError): PreprocessConfig(dtype='int8')
    with pytest.raises(ConfigError): PreprocessConfig(target_spacing=(1., 0., 1.))
    with pytest.raises(ConfigError): PreprocessConfig.from_dict({'slab_shpe': [1, 2, 3]})
    v = CTVolume(np.zeros((8, 8, 8), np.int16), (1., 0., 1.), np.eye(4), {'path': 'bad.nii'})
    with pytest.raises(PreprocessError, match='bad.nii: invalid spacing'): preprocess_ct(v, PreprocessConfig.preset('tiny'))


@pytest.mark.parametrize('rel', ['ct/totalsegmentator/example_ct.nii.gz', 'ct/totalsegmentator/aorta_report_ct_cropped.nii.gz',
                                 'ct/totalsegmentator/example_ct_dicom', 'ct/invesalius_cranium/invesalius_cranium_ct.nii.gz'])
@pytest.mark.parametrize('preset', ['demo', 'paper'])
def test_real_scans(shared_data, rel, preset):
    cfg = PreprocessConfig.preset(preset)
    x = preprocess_ct(read_ct(shared_data/rel), cfg)
    assert tuple(x.shape) == cfg.output_shape and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and torch.isfinite(x).all()
    assert x.std() > 0.05  # real anatomy, not a constant


def test_real_head_superior_first(shared_data):
    "Head CT: the vertex (top) is superior, so the first D slices hold less tissue than the middle ones."
    cfg = PreprocessConfig.preset('demo').replace(layout='single')
    x = preprocess_ct(read_ct(shared_data/'ct/invesalius_cranium/invesalius_cranium_ct.nii.gz'), cfg)[0]
    body = (x > 0.45).float().mean(dim=(1, 2))  # fraction of tissue per slice (window -1000..1000: 0.45 = -100 HU)
    assert body[:4].mean() < body[24:40].mean()
