"""DICOM in and out: photos read from DICOM files (``image.dicom_photo``), and a visit's photo and
label map written for the PACS (``interop.dicom``), on synthetic images with known pixels."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from woundtrack.errors import ImageError
from woundtrack.image.dicom_photo import dicom_to_png, is_dicom, read_dicom_photo
from woundtrack.image.io import read_photo
from woundtrack.image.location import strip_location
from woundtrack.image.pipeline import make_segmenter
from woundtrack.interop.dicom import (
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    calibration_of,
    labels_from_segmentation,
    photo_dataset,
    segmentation_dataset,
    stable_uid,
    write_dataset,
)
from woundtrack.models import ERYTHEMA, ESCHAR, GRANULATION, SLOUGH, Calibration
from woundtrack.record.ingest import import_photo, measure_again
from woundtrack.record.store import Store
from woundtrack.synthetic.phantom import PhantomSpec

SHA = "ab" * 32
TAKEN = datetime(2026, 3, 2, 9, 30, 15, tzinfo=timezone(timedelta(hours=1)))
CALIBRATION = Calibration(
    method="aruco",
    homography=((0.11, 0.01, -3.5), (-0.02, 0.12, 4.25), (1e-5, 2e-5, 1.0)),
    marker_mm=20.0,
    marker_id=7,
    marker_corners_px=((10.0, 10.0), (30.0, 10.0), (30.0, 30.0), (10.0, 30.0)),
    tilt_deg=12.5,
    quality="good",
)


def rgb_image(height: int = 120, width: int = 160) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def label_map(height: int = 120, width: int = 160) -> np.ndarray:
    labels = np.zeros((height, width), dtype=np.uint8)
    labels[20:80, 30:110] = GRANULATION
    labels[30:45, 40:70] = SLOUGH
    labels[50:70, 80:100] = ESCHAR
    labels[85:100, 20:140] = ERYTHEMA
    return labels


def photo(image: np.ndarray | None = None, **overrides: object) -> Dataset:
    arguments: dict[str, object] = dict(
        patient="CUA-007",
        visit_key="visit-3",
        taken_at=TAKEN,
        calibration=CALIBRATION,
        photo_sha256=SHA,
        file_name="IMG_0412.jpg",
        body_site="left foot",
        woundtrack_version="0.1.0",
        source_format="JPEG",
    )
    arguments.update(overrides)
    return photo_dataset(rgb_image() if image is None else image, **arguments)  # type: ignore[arg-type]


def to_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def secondary_capture(pixels: np.ndarray, **attributes: object) -> Dataset:
    """A minimal 8-bit Secondary Capture image of ``pixels`` (grey (H, W) or RGB (H, W, 3))."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "MRN-123456", "OT"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 1 if pixels.ndim == 2 else 3
    ds.PhotometricInterpretation = "MONOCHROME2" if pixels.ndim == 2 else "RGB"
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


# --------------------------------------------------------------------------------------------
# Writing: the photo


def test_stable_uid_is_the_same_for_the_same_parts_and_differs_otherwise():
    uid = stable_uid("study", "CUA-007", "visit-3")
    assert uid == stable_uid("study", "CUA-007", "visit-3")
    assert re.fullmatch(r"2\.25\.[1-9]\d*", uid) and len(uid) <= 64
    assert uid != stable_uid("study", "CUA-007", "visit-4")
    assert stable_uid("ab", "c") != stable_uid("a", "bc")
    with pytest.raises(TypeError, match="stable_uid takes strings"):
        stable_uid("photo", 3)  # type: ignore[arg-type]


def test_photo_dataset_round_trips_pixels_patient_time_and_calibration():
    image = rgb_image()
    ds = pydicom.dcmread(io.BytesIO(to_bytes(photo(image))))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4" and ds.Modality == "XC"
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (ds.PhotometricInterpretation, ds.PlanarConfiguration) == ("RGB", 0)
    assert np.array_equal(ds.pixel_array, image)
    assert ds.PatientID == "CUA-007" and ds.PatientName.family_name == "CUA-007"
    assert ds.PatientBirthDate == "" and ds.PatientSex == ""
    assert ds.AcquisitionDateTime == "20260302093015+0100"
    assert (ds.ContentDate, ds.ContentTime, ds.StudyDate) == ("20260302", "093015", "20260302")
    assert ds.TimezoneOffsetFromUTC == "+0100"
    assert calibration_of(ds) == CALIBRATION
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert block[0x02].value == SHA and block[0x03].value == "IMG_0412.jpg"
    assert "PixelSpacing" not in ds
    assert (ds.LossyImageCompression, ds.LossyImageCompressionMethod) == ("01", "ISO_10918_1")
    assert ds.BurnedInAnnotation == "NO" and len(ds.AcquisitionContextSequence) == 0
    assert ds.Manufacturer == "woundtrack" and ds.SoftwareVersions == "0.1.0"
    [region] = ds.AnatomicRegionSequence
    assert (region.CodeValue, region.CodeMeaning) == ("56459004", "Foot")
    assert region.AnatomicRegionModifierSequence[0].CodeMeaning == "Left"
    assert ds.Laterality == "L" and ds.ImageComments == "Body site: left foot"


def test_the_same_visit_always_gets_the_same_uids():
    first, again, other = photo(), photo(), photo(photo_sha256="cd" * 32)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert first[keyword].value == again[keyword].value
    assert first.StudyInstanceUID == stable_uid("study", "CUA-007", "visit-3")
    assert first.SeriesInstanceUID == stable_uid("series-photo", "CUA-007", "visit-3")
    assert other.StudyInstanceUID == first.StudyInstanceUID
    assert other.SOPInstanceUID != first.SOPInstanceUID
    assert to_bytes(first) == to_bytes(again)


def test_unknown_time_free_text_site_and_unknown_compression_are_left_empty():
    ds = photo(taken_at=None, body_site="behind the left ear", source_format=None)
    assert ds.StudyDate == "" and ds.StudyTime == "" and "ContentDate" not in ds
    assert "AcquisitionDateTime" not in ds and "TimezoneOffsetFromUTC" not in ds
    assert "AnatomicRegionSequence" not in ds and ds.Laterality == ""
    assert ds.ImageComments == "Body site: behind the left ear"
    assert ds.LossyImageCompression == ""
    naive = photo(taken_at=datetime(2026, 3, 2, 9, 30, 0, 250000), source_format="PNG")
    assert naive.AcquisitionDateTime == "20260302093000.250000"
    assert "TimezoneOffsetFromUTC" not in naive and naive.LossyImageCompression == "00"
    uncalibrated = photo(calibration=Calibration(method="none"))
    assert calibration_of(uncalibrated) == Calibration(method="none")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"image": np.zeros((4, 4), np.uint8)}, r"\(H, W, 3\) uint8"),
        ({"patient": " "}, "patient code and a visit key"),
        ({"visit_key": ""}, "patient code and a visit key"),
        ({"photo_sha256": "xyz"}, "64 hex digits"),
    ],
)
def test_photo_dataset_refuses_what_is_not_a_photo_of_a_visit(overrides, match):
    image = overrides.pop("image", None)
    with pytest.raises(ValueError, match=match):
        photo(image, **overrides)


def test_calibration_of_a_foreign_or_damaged_dataset():
    assert calibration_of(secondary_capture(np.zeros((4, 4), np.uint8))) is None
    ds = photo()
    ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x01].value = "{not json"
    with pytest.raises(ImageError, match="calibration in its private block cannot be read"):
        calibration_of(ds)


def test_write_dataset_never_writes_over_a_file(tmp_path):
    path = tmp_path / "photo.dcm"
    write_dataset(photo(), path)
    assert is_dicom(path.read_bytes())
    with pytest.raises(ImageError, match="already there and is never written over"):
        write_dataset(photo(), path)
    with pytest.raises(ImageError, match="cannot be written"):
        write_dataset(photo(), tmp_path / "missing" / "photo.dcm")


# --------------------------------------------------------------------------------------------
# Writing: the label map


def segmentation(labels: np.ndarray | None = None, **overrides: object) -> Dataset:
    arguments: dict[str, object] = dict(
        segmenter="unet-lite0",
        model_version="2024.1",
        woundtrack_version="0.1.0",
        visit_key="visit-3",
        patient="CUA-007",
    )
    arguments.update(overrides)
    seg = segmentation_dataset(photo(), label_map() if labels is None else labels, **arguments)  # type: ignore[arg-type]
    return pydicom.dcmread(io.BytesIO(to_bytes(seg)))


def test_segmentation_round_trips_the_label_map_and_names_tissues_and_model():
    labels = label_map()
    ds = segmentation(labels)
    assert np.array_equal(labels_from_segmentation(ds), labels)
    assert ds.SegmentationType == "BINARY" and ds.Modality == "SEG"
    assert ds.StudyInstanceUID == photo().StudyInstanceUID and ds.PatientID == "CUA-007"
    assert ds.SeriesInstanceUID == stable_uid("series-segmentation", "CUA-007", "visit-3")
    referenced = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == photo().SOPInstanceUID
    segments = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    assert {n: s.SegmentLabel for n, s in segments.items()} == {
        GRANULATION: "granulation",
        SLOUGH: "slough",
        ESCHAR: "eschar",
        ERYTHEMA: "erythema",
    }
    eschar = segments[ESCHAR]
    assert eschar.SegmentedPropertyTypeCodeSequence[0].CodeValue == "421306004"
    assert eschar.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert eschar.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = eschar.SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("unet-lite0", "2024.1")


def test_a_corrected_map_is_semiautomatic_and_gets_its_own_uid():
    automatic, again = segmentation(), segmentation()
    corrected = segmentation(corrected=True)
    assert automatic.SOPInstanceUID == again.SOPInstanceUID
    assert corrected.SOPInstanceUID != automatic.SOPInstanceUID
    assert {s.SegmentAlgorithmType for s in corrected.SegmentSequence} == {"SEMIAUTOMATIC"}
    edited = label_map()
    edited[0:5, 0:5] = ESCHAR
    assert segmentation(edited).SOPInstanceUID != automatic.SOPInstanceUID


@pytest.mark.parametrize("present", [(), (GRANULATION,), (ERYTHEMA,), (SLOUGH, ESCHAR)])
def test_absent_tissues_are_empty_segments_even_for_a_healed_wound(present):
    labels = np.zeros((120, 160), dtype=np.uint8)
    for index, label in enumerate(present):
        labels[10 + 30 * index : 30 + 30 * index, 20:60] = label
    ds = segmentation(labels, segmenter="classical-lab", model_version="1")
    assert len(ds.SegmentSequence) == 4
    assert np.array_equal(labels_from_segmentation(ds), labels)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros((120, 160), np.int32), r"\(H, W\) uint8 label map"),
        (np.zeros((60, 80), np.uint8), "but the photo is 160x120"),
        (np.full((120, 160), 9, np.uint8), r"values \[9\] that are not tissue labels"),
    ],
)
def test_segmentation_refuses_a_label_map_that_is_not_of_the_photo(labels, match):
    with pytest.raises(ValueError, match=match):
        segmentation_dataset(
            photo(),
            labels,
            segmenter="unet-lite0",
            model_version="1",
            woundtrack_version="0.1.0",
            visit_key="visit-3",
            patient="CUA-007",
        )


def test_labels_from_segmentation_refuses_what_woundtrack_did_not_write():
    with pytest.raises(ImageError, match="not a Segmentation of one photo"):
        labels_from_segmentation(photo())
    ds = segmentation()
    ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue = "12345678"
    with pytest.raises(ImageError, match="segment 1 .* not a woundtrack tissue"):
        labels_from_segmentation(ds)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy not installed")
def test_dciodvfy_finds_no_errors(tmp_path):
    undated = photo(taken_at=None, body_site="", source_format=None)
    healed = segmentation(np.zeros((120, 160), np.uint8), corrected=True)
    cases = {"photo.dcm": photo(), "undated.dcm": undated, "seg.dcm": segmentation()}
    for name, ds in {**cases, "healed.dcm": healed}.items():
        write_dataset(ds, tmp_path / name)
        report = subprocess.run(
            ["dciodvfy", str(tmp_path / name)], capture_output=True, text=True, check=False
        )
        errors = [line for line in report.stderr.splitlines() if "Error" in line]
        assert errors == [], f"{name}:\n{report.stderr}"


# --------------------------------------------------------------------------------------------
# Reading


def test_our_own_photo_reads_back_with_its_capture_time():
    image = rgb_image()
    data = to_bytes(photo(image))
    read, info = read_dicom_photo(data, name="C:\\export\\IM0001.dcm")
    assert np.array_equal(read, image) and read.flags.c_contiguous and read.dtype == np.uint8
    assert (info.file, info.format, info.width_px, info.height_px) == (
        "IM0001.dcm",
        "DICOM",
        160,
        120,
    )
    assert info.taken_at == TAKEN and info.warnings == ()
    assert len(info.sha256) == 64


@pytest.mark.parametrize(
    ("photometric", "expected"), [("MONOCHROME2", lambda g: g), ("MONOCHROME1", lambda g: 255 - g)]
)
def test_a_grey_secondary_capture_becomes_rgb(photometric, expected):
    grey = rgb_image(30, 40)[:, :, 0].copy()
    ds = secondary_capture(grey, StudyDate="20250704", StudyTime="1405")
    ds.PhotometricInterpretation = photometric
    image, info = read_dicom_photo(to_bytes(ds), name="sc.dcm")
    assert image.shape == (30, 40, 3)
    assert all(np.array_equal(image[:, :, c], expected(grey)) for c in range(3))
    assert info.taken_at == datetime(2025, 7, 4, 14, 5)


def test_content_time_comes_before_study_time_and_a_utc_offset_is_applied():
    ds = secondary_capture(
        np.zeros((4, 4), np.uint8),
        StudyDate="20250101",
        ContentDate="20250704",
        ContentTime="140500.5",
        TimezoneOffsetFromUTC="-0500",
    )
    _, info = read_dicom_photo(to_bytes(ds), name="sc.dcm")
    assert info.taken_at == datetime(
        2025, 7, 4, 14, 5, 0, 500000, tzinfo=timezone(-timedelta(hours=5))
    )


@pytest.mark.parametrize(
    ("attributes", "match"),
    [
        ({}, "has no acquisition, content or study date"),
        ({"AcquisitionDateTime": "2025-07-04"}, "AcquisitionDateTime '2025-07-04' is not a valid"),
        ({"ContentDate": "19700101"}, "older than any digital photo"),
    ],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR DT")  # the test's own bad value
def test_an_unknown_or_unbelievable_capture_time_is_a_warning(attributes, match):
    ds = secondary_capture(np.zeros((4, 4), np.uint8), **attributes)
    _, info = read_dicom_photo(to_bytes(ds), name="sc.dcm")
    assert info.taken_at is None
    assert len(info.warnings) == 1 and re.search(match, info.warnings[0])
    assert "enter the date the photo was taken by hand" in info.warnings[0]


def test_ybr_full_is_converted_to_rgb():
    image = rgb_image(20, 30)
    ds = secondary_capture(pydicom.pixels.convert_color_space(image, "RGB", "YBR_FULL"))
    ds.PhotometricInterpretation = "YBR_FULL"
    read, _ = read_dicom_photo(to_bytes(ds), name="ybr.dcm")
    assert np.abs(read.astype(int) - image.astype(int)).max() <= 2  # 8-bit rounding, twice


def test_a_jpeg_baseline_dicom_decodes_to_rgb():
    image = np.zeros((64, 96, 3), dtype=np.uint8)
    image[:, :48] = (200, 40, 30)
    image[:, 48:] = (30, 160, 220)
    jpeg = io.BytesIO()
    Image.fromarray(image).save(jpeg, format="JPEG", quality=95)
    ds = secondary_capture(image)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([jpeg.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    read, _ = read_dicom_photo(to_bytes(ds), name="jpeg.dcm")
    assert read.shape == image.shape
    assert np.abs(read.astype(int) - image.astype(int)).mean() < 3


def test_only_the_first_frame_of_a_multi_frame_file_is_read():
    frames = rgb_image(20, 30)[None].repeat(3, axis=0)
    frames[1:] = 0
    ds = secondary_capture(frames[0])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    image, info = read_dicom_photo(to_bytes(ds), name="cine.dcm")
    assert np.array_equal(image, frames[0])
    assert "cine.dcm: the DICOM file holds 3 frames; only the first was read" in info.warnings


def test_a_structured_report_and_a_segmentation_hold_no_photo():
    report = Dataset()
    report.file_meta = FileMetaDataset()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    report.SOPInstanceUID = generate_uid()
    message = "export the photo itself \\(VL Photographic Image\\)"
    with pytest.raises(
        ImageError, match=f"sr.dcm: is a DICOM Comprehensive SR without a photo; {message}"
    ):
        read_dicom_photo(to_bytes(report), name="sr.dcm")
    with pytest.raises(
        ImageError, match=f"seg.dcm: is a DICOM Segmentation without a photo; {message}"
    ):
        read_dicom_photo(to_bytes(segmentation()), name="seg.dcm")


def test_not_a_dicom_file():
    with pytest.raises(ImageError, match="notes.txt: expected a DICOM file .*found none; export"):
        read_dicom_photo(b"just some text", name="notes.txt")


def test_a_compression_that_cannot_be_decoded_here_is_named():
    ds = secondary_capture(np.zeros((8, 8), np.uint8))
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([b"\xff\xd8 junk \xff\xd9"])
    ds["PixelData"].VR = "OB"
    if pydicom.pixels.get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder (gdcm or pylibjpeg) is installed here")
    with pytest.raises(
        ImageError,
        match=r"lossless.dcm: the DICOM pixel data is compressed as JPEG Lossless.*cannot be "
        r"decoded here; convert it to uncompressed or JPEG baseline, e\.g\. with `gdcmconv --raw`",
    ):
        read_dicom_photo(to_bytes(ds), name="lossless.dcm")


def test_damaged_compressed_pixel_data():
    ds = secondary_capture(np.zeros((8, 8, 3), np.uint8))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8 not a jpeg at all \xff\xd9"])
    ds["PixelData"].VR = "OB"
    with pytest.raises(ImageError, match="bad.dcm: the DICOM pixel data is damaged .*export it"):
        read_dicom_photo(to_bytes(ds), name="bad.dcm")


def test_truncated_pixel_data():
    ds = secondary_capture(rgb_image(20, 30))
    ds.PixelData = ds.PixelData[:-100]
    with pytest.raises(ImageError, match="short.dcm: the DICOM pixel data is truncated"):
        read_dicom_photo(to_bytes(ds), name="short.dcm")
    cut = to_bytes(secondary_capture(rgb_image(20, 30)))[:-500]
    with pytest.raises(ImageError, match="cut.dcm: the DICOM .*(truncated|damaged)"):
        read_dicom_photo(cut, name="cut.dcm")


def test_too_many_pixels_is_refused_before_decoding():
    ds = secondary_capture(np.zeros((4, 4), np.uint8))
    ds.Rows, ds.Columns = 9000, 8000  # the pixel data is never read
    with pytest.raises(ImageError, match=r"big.dcm: 8000x9000 pixels \(72 MP\) is over the 50 MP"):
        read_dicom_photo(to_bytes(ds), name="big.dcm")


def test_a_16_bit_or_palette_image_is_not_a_photo():
    ds = secondary_capture(np.zeros((4, 4), np.uint8))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = np.zeros((4, 4), np.uint16).tobytes()
    with pytest.raises(ImageError, match="ct.dcm: the DICOM Secondary Capture Image holds 16-bit"):
        read_dicom_photo(to_bytes(ds), name="ct.dcm")
    ds = secondary_capture(np.zeros((4, 4), np.uint8), PhotometricInterpretation="PALETTE COLOR")
    with pytest.raises(ImageError, match="8-bit PALETTE COLOR pixels, not an 8-bit colour or grey"):
        read_dicom_photo(to_bytes(ds), name="palette.dcm")


def test_a_colour_space_that_is_not_converted_to_rgb_is_refused():
    ds = secondary_capture(rgb_image(4, 4), PhotometricInterpretation="YBR_ICT")
    with pytest.raises(ImageError, match="ict.dcm: the DICOM pixels decode as YBR_ICT uint8"):
        read_dicom_photo(to_bytes(ds), name="ict.dcm")


def test_a_header_without_size_or_transfer_syntax_is_refused():
    ds = secondary_capture(np.zeros((4, 4), np.uint8))
    del ds.Rows
    with pytest.raises(ImageError, match=r"rows.dcm: the DICOM file states no image size"):
        read_dicom_photo(to_bytes(ds), name="rows.dcm")
    ds = secondary_capture(np.zeros((4, 4), np.uint8))
    del ds.file_meta.TransferSyntaxUID
    ds.preamble = bytes(128)
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=True)
    with pytest.raises(ImageError, match="syntax.dcm: the DICOM file states no transfer syntax"):
        read_dicom_photo(out.getvalue(), name="syntax.dcm")


def test_read_photo_reads_dicom_and_keeps_its_message_for_other_files():
    image = rgb_image()
    read, info = read_photo(to_bytes(photo(image)), name="IM0001.dcm")
    assert np.array_equal(read, image) and info.format == "DICOM"
    with pytest.raises(ImageError, match="expected a JPEG, PNG, WebP, TIFF or HEIC photo"):
        read_photo(b"\x00" * 200, name="junk.bin")


def test_strip_location_stores_a_png_without_the_dicom_header():
    grey = rgb_image(30, 40)[:, :, 1].copy()
    data = to_bytes(secondary_capture(grey, StudyDate="20250704"))
    assert b"Doe^Jane" in data and b"MRN-123456" in data
    for cleaned in (strip_location(data, name="sc.dcm"), dicom_to_png(data, name="sc.dcm")):
        assert cleaned.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"Doe" not in cleaned and b"MRN" not in cleaned and b"2025" not in cleaned
        with Image.open(io.BytesIO(cleaned)) as img:
            assert img.mode == "RGB" and not img.info.get("exif")
            assert np.array_equal(np.asarray(img)[:, :, 0], grey)


def test_import_photo_stores_a_dicom_photo_as_png_with_its_capture_time(tmp_path, phantom):
    shot = phantom(
        PhantomSpec(
            seed=41, width_px=800, height_px=600, wound_fill_frac=0.35, wound_radius_mm=12.0
        )
    )
    ds = photo(np.array(shot.image), source_format="JPEG", body_site="heel")
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN-123456"  # as another system would send it
    data = to_bytes(ds)
    store = Store("sqlite:///" + str(tmp_path / "w.db"))
    try:
        result = import_photo(store, data, name="IM0001.dcm", patient="CUA-040")
        again = import_photo(store, data, name="IM0001.dcm", patient="CUA-040")
        assert result.status == "imported" and again.status == "duplicate"
        stored = store.photo_bytes(result.photo_sha256)
        assert stored.startswith(b"\x89PNG") and b"Doe" not in stored and b"MRN" not in stored
        with Image.open(io.BytesIO(stored)) as img:
            assert np.array_equal(np.asarray(img), shot.image)
        [visit] = store.visits("CUA-040")
        assert datetime.fromisoformat(str(visit["taken_at"])) == TAKEN
        assert visit["file_name"] == "IM0001.dcm"
        # measured again from the stored PNG (which has no dates): the record keeps the time
        first = store.current_analysis(visit["visit_id"]).record
        done = measure_again(store, "CUA-040", segmenter=make_segmenter("classical"))
        assert done.measured == (visit["visit_id"],)
        again = store.current_analysis(visit["visit_id"]).record
        assert again["provenance"]["segmenter"] != first["provenance"]["segmenter"]
        assert datetime.fromisoformat(again["taken_at"]) == TAKEN
        assert not [w for w in again["warnings"] if "capture time is unknown" in w]
    finally:
        store.close()
