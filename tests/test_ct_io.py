"""`read_ct` on bad inputs generated in tmp_path, on DICOM series edge cases, and on the real scans in shared/data."""
import gzip

import nibabel as nib
import numpy as np
import pytest

import mu2llm.data.ct_io as ct_io
from mu2llm.core.errors import CTReadError
from mu2llm.data.ct_io import read_ct, write_dicom_series
from mu2llm.testing import tiny_hu
from mu2llm.data.ct_io import write_nifti


def _fails(path, contains, **kw):
    with pytest.raises(CTReadError) as e: read_ct(path, **kw)
    assert str(path) in str(e.value), e.value
    assert contains in e.value.reason, e.value.reason
    return e.value


@pytest.fixture
def good(tmp_path):
    return write_nifti(tmp_path/'good.nii.gz', tiny_hu((12, 10, 8)), spacing=(0.7, 0.7, 2.5))


def test_good_nifti_roundtrip(good):
    v = read_ct(good)
    assert v.shape == (12, 10, 8) and v.hu.dtype == np.int16
    np.testing.assert_array_equal(v.hu, tiny_hu((12, 10, 8)))
    np.testing.assert_allclose(v.spacing, (0.7, 0.7, 2.5), rtol=1e-6)


def test_zero_byte_and_missing(tmp_path):
    (tmp_path/'z.nii.gz').write_bytes(b'')
    _fails(tmp_path/'z.nii.gz', 'empty (0 bytes)')
    (tmp_path/'z.nii').write_bytes(b'')
    _fails(tmp_path/'z.nii', 'empty (0 bytes)')
    _fails(tmp_path/'absent.nii.gz', 'not found')


def test_truncated(tmp_path, good):
    raw = good.read_bytes()
    (tmp_path/'t.nii.gz').write_bytes(raw[:len(raw)//2])
    _fails(tmp_path/'t.nii.gz', 'truncated or corrupt gzip')
    plain = gzip.decompress(raw)
    (tmp_path/'t.nii').write_bytes(plain[:len(plain) - 100])
    _fails(tmp_path/'t.nii', 'truncated: data section')


def test_zlib_fallback_matches_isal(monkeypatch, tmp_path, good):
    ref = read_ct(good).hu
    monkeypatch.setattr(ct_io, '_igzip', None)
    assert ct_io.gzip_backend() == 'zlib'
    np.testing.assert_array_equal(read_ct(good).hu, ref)
    raw = good.read_bytes()
    (tmp_path/'t.nii.gz').write_bytes(raw[:len(raw)//2])
    _fails(tmp_path/'t.nii.gz', 'truncated or corrupt gzip')


def test_wrong_magic(tmp_path):
    (tmp_path/'x.nii').write_bytes(b'hello world, not an image' * 40)
    _fails(tmp_path/'x.nii', 'wrong magic')
    (tmp_path/'y.nii.gz').write_bytes(gzip.compress(b'\0' * 600))
    _fails(tmp_path/'y.nii.gz', 'wrong magic')
    (tmp_path/'w.nii.gz').write_bytes(b'plain bytes pretending to be gzip' * 20)
    _fails(tmp_path/'w.nii.gz', 'not gzip-compressed')
    (tmp_path/'scan.png').write_bytes(b'\x89PNG....')
    _fails(tmp_path/'scan.png', 'unsupported file type')


def test_2d_and_4d(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((16, 16), np.int16), np.eye(4)), str(tmp_path/'a.nii.gz'))
    _fails(tmp_path/'a.nii.gz', '2-D image')
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 1), np.int16), np.eye(4)), str(tmp_path/'b.nii.gz'))
    _fails(tmp_path/'b.nii.gz', '2-D image')
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 3), np.int16), np.eye(4)), str(tmp_path/'c.nii.gz'))
    _fails(tmp_path/'c.nii.gz', '4-D image')
    hu = tiny_hu((8, 6, 4))
    nib.save(nib.Nifti1Image(hu[..., None], np.eye(4)), str(tmp_path/'d.nii.gz'))  # 4th dim of size 1: squeezed
    v = read_ct(tmp_path/'d.nii.gz')
    assert v.shape == (8, 6, 4) and v.meta['orig_shape'] == (8, 6, 4, 1)
    np.testing.assert_array_equal(v.hu, hu)


def test_nan_inf(tmp_path):
    a = tiny_hu((8, 8, 8)).astype(np.float32); a[2, 3, 4] = np.nan; a[1, 1, 1] = np.inf
    nib.save(nib.Nifti1Image(a, np.eye(4)), str(tmp_path/'n.nii.gz'))
    e = _fails(tmp_path/'n.nii.gz', 'NaN or Inf')
    assert e.reason.startswith('2 of 512')


def test_bad_spacing_and_affine(tmp_path):
    img = nib.Nifti1Image(tiny_hu((8, 8, 8)), np.diag([1., 1., 1., 1.]))
    img.header['pixdim'][3] = 0.0
    nib.save(img, str(tmp_path/'s.nii.gz'))
    _fails(tmp_path/'s.nii.gz', 'zero, negative or non-finite voxel spacing')
    img = nib.Nifti1Image(tiny_hu((8, 8, 8)), np.diag([1., 1., 1., 1.]))
    img.header['pixdim'][2] = -1.0
    nib.save(img, str(tmp_path/'neg.nii.gz'))
    _fails(tmp_path/'neg.nii.gz', 'zero, negative')
    sing = np.eye(4); sing[:3, 2] = [1., 0., 0.]  # z column parallel to x: singular
    img = nib.Nifti1Image(tiny_hu((8, 8, 8)), sing)
    img.set_qform(None, code=0); img.set_sform(sing, code=1)
    img.header['pixdim'][1:4] = 1.0
    nib.save(img, str(tmp_path/'aff.nii.gz'))
    _fails(tmp_path/'aff.nii.gz', 'affine is not invertible')


def test_scl_slope_applied_once(tmp_path):
    stored = (tiny_hu((8, 8, 8)).astype(np.int32) + 1024).astype(np.int16)
    img = nib.Nifti1Image(stored, np.eye(4)); img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, str(tmp_path/'r.nii.gz'))
    v = read_ct(tmp_path/'r.nii.gz')
    np.testing.assert_array_equal(v.hu, tiny_hu((8, 8, 8)))
    assert 'applied once' in v.meta['rescale'] and v.hu.dtype == np.int16


def test_dicom_roundtrip_ignores_file_order(tmp_path):
    hu = tiny_hu((16, 12, 9))
    d = write_dicom_series(tmp_path/'s', hu, spacing=(0.6, 0.7, 2.0), seed=3)
    (d/'notes.txt').write_text('not a dicom file')
    v = read_ct(d)
    np.testing.assert_array_equal(v.hu, hu)
    np.testing.assert_allclose(v.spacing, (0.6, 0.7, 2.0), rtol=1e-6)
    assert v.axcodes == ('R', 'A', 'S') and v.meta['format'] == 'dicom' and 'applied once' in v.meta['rescale']


def test_dicom_missing_slice(tmp_path):
    d = write_dicom_series(tmp_path/'s', tiny_hu((8, 8, 10)), spacing=(1., 1., 2.))
    import pydicom
    mid = next(f for f in d.iterdir() if float(pydicom.dcmread(f).ImagePositionPatient[2]) == 8.0)
    mid.unlink()
    e = _fails(d, 'missing slice')
    assert '4.000 mm' in e.reason and '2.000 mm' in e.reason


def test_dicom_mixed_series(tmp_path):
    d = tmp_path/'mixed'
    write_dicom_series(d, tiny_hu((8, 8, 4)), series_uid='1.2.3.1', description='soft tissue')
    for f in d.iterdir(): f.rename(d/('a_' + f.name))
    write_dicom_series(d, tiny_hu((8, 8, 5), seed=1), series_uid='1.2.3.2', description='lung')
    e = _fails(d, '2 series in one folder')
    assert '1.2.3.1 (soft tissue, 4 slices)' in e.reason and '1.2.3.2 (lung, 5 slices)' in e.reason
    assert read_ct(d, series_uid='1.2.3.2').shape == (8, 8, 5)
    assert read_ct(d/'a_slice_0000.dcm').shape == (8, 8, 4)  # one file: its own series
    _fails(d, "no series '9.9'", series_uid='9.9')


def test_dicom_inconsistent_spacing_and_size(tmp_path):
    import pydicom
    d = write_dicom_series(tmp_path/'s', tiny_hu((8, 8, 6)))
    f = sorted(d.iterdir())[2]; ds = pydicom.dcmread(f); ds.PixelSpacing = [0.5, 0.5]; ds.save_as(f)
    _fails(d, 'inconsistent PixelSpacing')
    d = write_dicom_series(tmp_path/'o', tiny_hu((8, 8, 6)))
    f = sorted(d.iterdir())[1]; ds = pydicom.dcmread(f); ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]; ds.save_as(f)
    _fails(d, 'inconsistent ImageOrientationPatient')


def test_dicom_empty_and_no_dicom(tmp_path):
    (tmp_path/'empty').mkdir()
    _fails(tmp_path/'empty', 'folder is empty')
    (tmp_path/'txt').mkdir(); (tmp_path/'txt'/'a.txt').write_text('hello'); (tmp_path/'txt'/'b.bin').write_bytes(b'\0' * 300)
    _fails(tmp_path/'txt', 'no DICOM image slices among its 2 files')


def test_dicom_codec_missing(monkeypatch, shared_data):
    monkeypatch.setattr(ct_io, '_decoder_available', lambda ts: False)
    e = _fails(shared_data/'ct'/'totalsegmentator'/'example_ct_dicom', 'JPEG 2000')
    assert '1.2.840.10008.1.2.4.90' in e.reason and 'pip install pylibjpeg pylibjpeg-openjpeg' in e.reason and 'python-gdcm' in e.reason


def test_dicom_codec_missing_synthetic(monkeypatch, tmp_path):
    "Without the shared data: a series marked JPEG-2000 is refused before any decoding when no decoder is available."
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless
    d = write_dicom_series(tmp_path/'s', tiny_hu((8, 8, 3)))
    for f in d.iterdir():
        ds = pydicom.dcmread(f); ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.PixelData = encapsulate([ds.PixelData]); ds['PixelData'].VR = 'OB'  # fake J2K frames, never decoded
        ds.save_as(f, enforce_file_format=True, little_endian=True, implicit_vr=False)
    monkeypatch.setattr(ct_io, '_decoder_available', lambda ts: False)
    _fails(d, 'no installed decoder handles it')


REAL = {  # relative path: (canonical shape, spacing, HU min, HU max, original axis codes)
    'ct/totalsegmentator/example_ct.nii.gz': ((122, 101, 112), (3., 3., 3.), -1207, 3382, 'RAS'),
    'ct/totalsegmentator/aorta_report_ct_cropped.nii.gz': ((120, 126, 164), (1.5, 1.5, 1.5), -1078, 3343, 'LPS'),
    'ct/totalsegmentator/example_ct_dicom': ((512, 512, 20), (0.9765625, 0.9765625, 2.0), -1024, 1839, 'LPS'),
    'ct/invesalius_cranium/invesalius_cranium_ct.nii.gz': ((256, 256, 108), (0.957, 0.957, 1.5), -1024, 2986, 'LAS'),
}


@pytest.mark.parametrize('rel', sorted(REAL))
def test_real_scans(shared_data, rel):
    shape, sp, lo, hi, codes = REAL[rel]
    v = read_ct(shared_data/rel)
    assert v.shape == shape and ''.join(v.meta['orig_axcodes']) == codes and v.axcodes == ('R', 'A', 'S')
    assert (int(v.hu.min()), int(v.hu.max())) == (lo, hi)
    np.testing.assert_allclose(v.spacing, sp, atol=1e-3)


def test_real_lps_matches_nibabel_canonical(shared_data):
    "Our canonical array and affine equal nibabel's as_closest_canonical on the LPS scan."
    p = shared_data/'ct/totalsegmentator/aorta_report_ct_cropped.nii.gz'
    ref = nib.as_closest_canonical(nib.load(str(p)))
    v = read_ct(p)
    np.testing.assert_array_equal(v.hu, np.asanyarray(ref.dataobj))
    np.testing.assert_allclose(v.affine, ref.affine, atol=1e-5)


def test_real_dicom_one_file_and_slice_step(shared_data):
    d = shared_data/'ct/totalsegmentator/example_ct_dicom'
    v = read_ct(sorted(d.iterdir())[7])
    assert v.shape == (512, 512, 20) and v.meta['slice_step'] == pytest.approx(2.0) and v.meta['slice_thickness'] == pytest.approx(3.0)
    assert v.affine[2, 3] == pytest.approx(-804.5)  # lowest slice position, README
