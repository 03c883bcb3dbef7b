"""DICOM for the PACS: a visit's photo as a VL Photographic Image, its label map as a Segmentation.

``photo_dataset`` makes the photo a VL Photographic Image (uncompressed RGB, modality XC) under the
patient's pseudonymous code, with the woundtrack calibration in a private block
(``calibration_of`` reads it back); ``segmentation_dataset`` makes the label map a binary DICOM
Segmentation (highdicom) that references the photo, one segment per tissue, and
``labels_from_segmentation`` turns it back into a label map. Study, series and instance UIDs come
from ``stable_uid``, so that sending the same visit again gives the same UIDs and the PACS replaces
rather than duplicates. Values in, datasets out; ``write_dataset`` is the one writer.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from datetime import datetime
from pathlib import Path

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import UID, ExplicitVRLittleEndian

from woundtrack.body_sites import code_site
from woundtrack.errors import ImageError
from woundtrack.models import (
    ERYTHEMA,
    ESCHAR,
    GRANULATION,
    LABEL_NAMES,
    SLOUGH,
    Calibration,
    to_jsonable,
)

VL_PHOTOGRAPHIC_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
#: Private creator of woundtrack's block in group 0011 (PS3.5 7.8.1).
PRIVATE_CREATOR = "WOUNDTRACK 1.0"
PRIVATE_GROUP = 0x0011
# Elements of the private block (offsets within it): the calibration as JSON, the stored photo's
# sha256 and the name of the file it came from.
_CALIBRATION_ELEMENT = 0x01
_PHOTO_SHA256_ELEMENT = 0x02
_FILE_NAME_ELEMENT = 0x03
MANUFACTURER = "woundtrack"
# Name-based UIDs (ITU-T X.667 / ISO 9834-8: a UUID written under the 2.25 root): a version-5 UUID
# of the parts, in this namespace, so that no other program's name-based UUIDs can collide.
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:woundtrack:dicom-uid")

# Lossy Image Compression (0028,2110) and Method (0028,2114, PS3.3 C.7.6.1.1.5) of a photo, by the
# format it arrived in: a phone's JPEG or HEIC was compressed with loss before woundtrack saw it.
_LOSSY_METHODS = {"JPEG": "ISO_10918_1", "HEIF": "ISO_23008_2", "WEBP": ""}
_LOSSLESS_FORMATS = frozenset({"PNG", "BMP"})


def stable_uid(*parts: str) -> str:
    """A DICOM UID that is always the same for the same parts (``2.25.`` + a name-based UUID).

    The parts are joined unambiguously (as a JSON list), so ``("ab", "c")`` and ``("a", "bc")``
    give different UIDs.

    Examples
    --------
    >>> stable_uid("study", "CUA-007", "visit-3") == stable_uid("study", "CUA-007", "visit-3")
    True
    >>> stable_uid("study", "CUA-007", "visit-3").startswith("2.25.")
    True
    """
    if not all(isinstance(part, str) for part in parts):
        raise TypeError(f"stable_uid takes strings, got {[type(p).__name__ for p in parts]}")
    name = json.dumps(list(parts), ensure_ascii=False)
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


# --------------------------------------------------------------------------------------------
# The photo


def photo_dataset(
    image: np.ndarray,
    *,
    patient: str,
    visit_key: str,
    taken_at: datetime | None,
    calibration: Calibration,
    photo_sha256: str,
    file_name: str,
    body_site: str = "",
    woundtrack_version: str,
    source_format: str | None = None,
) -> Dataset:
    """A visit's photo as a DICOM VL Photographic Image, ready to write or send.

    The image is stored uncompressed (Explicit VR Little Endian, RGB, PlanarConfiguration 0,
    modality XC). The patient is named only by the pseudonymous ``patient`` code (PatientID and
    PatientName); birth date and sex are left empty. Study, series and instance UIDs come from
    :func:`stable_uid` of the patient, ``visit_key`` and the photo's sha256, so the same visit
    always gets the same UIDs.

    The calibration goes into a private block (creator ``"WOUNDTRACK 1.0"``, group 0011) as JSON,
    whole: method, the 3x3 homography from image pixels to millimetres on the skin plane, the
    marker size, quality. PixelSpacing is not used: it states one spacing for the whole image,
    which a photo taken at a slant does not have (the scale changes across the image), and a PACS
    viewer would show lengths measured with it as if they were right. The stored photo's sha256
    and the file name go into the same block.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8, RGB, as displayed
    patient : str
        Pseudonymous patient code (e.g. ``"CUA-007"``), the only patient identifier written.
    visit_key : str
        What identifies the visit for this patient (e.g. the visit id); part of the UIDs.
    taken_at : datetime or None
        Capture time: AcquisitionDateTime, ContentDate/Time and StudyDate/Time. When ``None``,
        StudyDate/Time are empty (Type 2) and the others absent; a timezone-aware time also sets
        TimezoneOffsetFromUTC.
    calibration : Calibration
    photo_sha256 : str
        sha256 of the stored photo file (64 hex digits).
    file_name : str
        Name of the file the photo came from.
    body_site : str
        Where the wound is, as a person wrote it. Always kept as ImageComments; when it names one
        region (``woundtrack.body_sites``: ``"foot"``, ``"L calf"``) it is also coded in the
        Anatomic Region Sequence (SNOMED CT, with Left/Right as a modifier and as Laterality).
    woundtrack_version : str
        Written as SoftwareVersions.
    source_format : str, optional
        The format the photo arrived in (``PhotoInfo.format``): ``"JPEG"``, ``"HEIF"`` or
        ``"WEBP"`` mark the image as lossy compressed (LossyImageCompression ``01``), ``"PNG"``
        or ``"BMP"`` as not (``00``); otherwise, or when ``None``, it is left empty (unknown).

    Returns
    -------
    pydicom.dataset.Dataset
        With ``file_meta``; write it with :func:`write_dataset`.

    Raises
    ------
    ValueError
        ``image`` is not ``(H, W, 3)`` uint8, ``patient`` or ``visit_key`` is empty, or
        ``photo_sha256`` is not 64 hex digits.

    Examples
    --------
    >>> ds = photo_dataset(image, patient="CUA-007", visit_key="12", taken_at=None,
    ...                    calibration=cal, photo_sha256=sha, file_name="IMG_0412.jpg",
    ...                    woundtrack_version="0.1.0")  # doctest: +SKIP
    """
    _check_photo_arguments(image, patient, visit_key, photo_sha256)
    ds = Dataset()
    _add_patient_and_study(ds, patient, visit_key, taken_at)
    ds.SeriesInstanceUID = stable_uid("series-photo", patient, visit_key)
    ds.SOPInstanceUID = stable_uid("photo", patient, visit_key, photo_sha256)
    ds.SOPClassUID = VL_PHOTOGRAPHIC_IMAGE_STORAGE
    ds.Modality = "XC"
    ds.SeriesNumber = 1
    ds.SeriesDescription = "Wound photo"
    ds.Laterality = ""  # General Series, Type 2C: unknown unless the body site names a side
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = woundtrack_version
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"
    ds.AcquisitionContextSequence = Sequence()
    _add_lossy_compression(ds, source_format)
    _add_body_site(ds, body_site)
    _add_rgb_pixels(ds, np.ascontiguousarray(image))
    _add_private_block(ds, calibration, photo_sha256, file_name)
    ds.file_meta = _file_meta(ds)
    return ds


def calibration_of(ds: Dataset) -> Calibration | None:
    """The calibration :func:`photo_dataset` put into a photo, or ``None`` if it has none.

    Raises
    ------
    ImageError
        The private block is there but its calibration cannot be read (not JSON, or not a valid
        calibration).
    """
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return None
    if block.get_tag(_CALIBRATION_ELEMENT) not in ds:
        return None
    text = str(block[_CALIBRATION_ELEMENT].value)
    try:
        fields = json.loads(text)
        method = fields.pop("method")
        return Calibration.from_record({"calibration_method": method, "calibration": fields})
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ImageError(
            f"DICOM {ds.get('SOPInstanceUID', 'instance')}: the woundtrack calibration in its "
            f"private block cannot be read ({exc}); send the photo from woundtrack again"
        ) from None


def _check_photo_arguments(image: np.ndarray, patient: str, visit_key: str, sha: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image must be a (H, W, 3) uint8 RGB array, got shape {image.shape} and dtype "
            f"{image.dtype}"
        )
    if not patient.strip() or not visit_key.strip():
        raise ValueError("photo_dataset needs a patient code and a visit key, both non-empty")
    if len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha):
        raise ValueError(f"photo_sha256 must be 64 hex digits, got {sha!r}")


def _add_patient_and_study(
    ds: Dataset, patient: str, visit_key: str, taken_at: datetime | None
) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: codes and body sites may not be ASCII
    # The code as the family name: a trailing caret marks a one-component name (PS3.5 6.2.1.2),
    # which the retired ACR-NEMA form without one would not.
    ds.PatientName = f"{patient}^"
    ds.PatientID = patient
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = stable_uid("study", patient, visit_key)
    ds.StudyID = visit_key if len(visit_key) <= 16 else ""  # SH: 16 characters at most
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Wound photography"
    day, time = _da_tm(taken_at)
    ds.StudyDate = day  # Type 2: empty when unknown
    ds.StudyTime = time
    if taken_at is not None:  # Content Date and Time (VL Image: Type 1C) only when known
        ds.ContentDate = day
        ds.ContentTime = time
        ds.AcquisitionDateTime = _dt(taken_at)
        offset = taken_at.strftime("%z")
        if offset:
            ds.TimezoneOffsetFromUTC = offset


def _da_tm(when: datetime | None) -> tuple[str, str]:
    if when is None:
        return "", ""
    time = when.strftime("%H%M%S") + (f".{when.microsecond:06d}" if when.microsecond else "")
    return when.strftime("%Y%m%d"), time


def _dt(when: datetime) -> str:
    day, time = _da_tm(when)
    return day + time + when.strftime("%z")


def _add_lossy_compression(ds: Dataset, source_format: str | None) -> None:
    fmt = (source_format or "").upper()
    if fmt in _LOSSY_METHODS:
        ds.LossyImageCompression = "01"
        if _LOSSY_METHODS[fmt]:
            ds.LossyImageCompressionMethod = _LOSSY_METHODS[fmt]
    elif fmt in _LOSSLESS_FORMATS:
        ds.LossyImageCompression = "00"
    else:
        ds.LossyImageCompression = ""


def _add_body_site(ds: Dataset, body_site: str) -> None:
    text = " ".join(body_site.split())
    if not text:
        return
    ds.ImageComments = f"Body site: {text}"
    coded = code_site(text)
    if not coded.snomed:
        return
    item = CodedConcept(coded.snomed, "SCT", coded.meaning)
    if coded.side:
        side = codes.cid2.Left if coded.side == "left" else codes.cid2.Right
        item.AnatomicRegionModifierSequence = [
            CodedConcept(side.value, side.scheme_designator, side.meaning)
        ]
    if not coded.paired:  # Type 2C: only for a paired structure (the side stays a modifier)
        del ds.Laterality
    elif coded.side:
        ds.Laterality = "L" if coded.side == "left" else "R"
    ds.AnatomicRegionSequence = [item]


def _add_rgb_pixels(ds: Dataset, image: np.ndarray) -> None:
    ds.Rows, ds.Columns = int(image.shape[0]), int(image.shape[1])
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = image.tobytes()


def _add_private_block(ds: Dataset, calibration: Calibration, sha: str, file_name: str) -> None:
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    text = json.dumps(to_jsonable(calibration), sort_keys=True, allow_nan=False)
    block.add_new(_CALIBRATION_ELEMENT, "LT", text)
    block.add_new(_PHOTO_SHA256_ELEMENT, "LO", sha.lower())
    block.add_new(_FILE_NAME_ELEMENT, "LT", file_name)


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


# --------------------------------------------------------------------------------------------
# The label map


# Segmented property types (SNOMED CT), checked against the HL7 FHIR "Lower Extremity Skin Wound
# Assessment" IG's WoundBedAppearance value set (SNOMED CT US edition, 2022-09) for granulation,
# slough and eschar, and against DICOM CID 4406/6055 (pydicom's tables) for erythema.
_TISSUE_CODES: dict[int, Code] = {
    GRANULATION: Code("225541009", "SCT", "Granulation of tissue"),
    SLOUGH: Code("449746002", "SCT", "Wound slough"),
    ESCHAR: Code("421306004", "SCT", "Necrotic eschar"),
    ERYTHEMA: codes.SCT.Erythema,  # 247441003
}
# DICOM CID 7150 (Segmentation Property Categories): 49755003.
_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure


def segmentation_dataset(
    photo: Dataset,
    labels: np.ndarray,
    *,
    segmenter: str,
    model_version: str,
    woundtrack_version: str,
    visit_key: str,
    patient: str,
    corrected: bool = False,
) -> hd.seg.Segmentation:
    """A label map as a binary DICOM Segmentation of the photo it was made from.

    Four segments, always, whose segment numbers are the label values: 1 granulation, 2 slough,
    3 eschar, 4 erythema. A tissue that was not found is an empty segment (it has no frame), which
    says that it was looked for; and a healed wound (all background) still makes a valid
    Segmentation. Each segment's SegmentedPropertyTypeCode is SNOMED CT (225541009 granulation of
    tissue, 449746002 wound slough, 421306004 necrotic eschar, 247441003 erythema; category
    49755003 morphologically abnormal structure), its SegmentLabel the tissue's name, and its
    Algorithm Identification the segmenter and model version.

    Parameters
    ----------
    photo : pydicom.dataset.Dataset
        The photo as made by :func:`photo_dataset` (patient and study come from it).
    labels : (H, W) ndarray of uint8
        Label map of the photo, values of :data:`woundtrack.models.LABEL_NAMES`.
    segmenter, model_version : str
        The segmenter's name and model version.
    woundtrack_version : str
    visit_key, patient : str
        As given to :func:`photo_dataset`; with the photo, the labels, the segmenter and
        ``corrected`` they make the UIDs (the same label map sent again keeps its UID).
    corrected : bool
        Whether a person corrected the label map: algorithm type SEMIAUTOMATIC, else AUTOMATIC.

    Returns
    -------
    highdicom.seg.Segmentation

    Raises
    ------
    ValueError
        ``labels`` is not a 2-D uint8 label map of the photo's size.
    """
    labels = _checked_label_map(labels, photo)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=segmenter, family=_algorithm_family(segmenter), version=model_version
    )
    descriptions = [
        _segment_description(label, code, algorithm, corrected)
        for label, code in _TISSUE_CODES.items()
    ]
    content = hashlib.sha256(labels.tobytes() + repr(labels.shape).encode()).hexdigest()
    how = "corrected" if corrected else "automatic"
    seg = hd.seg.Segmentation(
        source_images=[photo],
        pixel_array=labels[None],  # a label map: each value is its segment's number
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=stable_uid("series-segmentation", patient, visit_key),
        series_number=2,
        sop_instance_uid=stable_uid(
            "segmentation",
            patient,
            visit_key,
            str(photo.SOPInstanceUID),
            content,
            segmenter,
            model_version,
            how,
        ),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=woundtrack_version,
        device_serial_number=f"{segmenter} {model_version}"[:64],
        content_label="WOUND_TISSUES",
        content_description=f"Wound tissues by {segmenter} {model_version}"[:64],
        series_description="Wound tissue segmentation",
        # Frames of absent tissues are left out; with no tissue at all, one per segment is kept
        # (a Segmentation needs a frame).
        omit_empty_frames=bool(labels.any()),
    )
    # General Image, Type 2C: an image without Image Orientation (Patient) states this one.
    seg.PatientOrientation = photo.get("PatientOrientation", "")
    return seg


def labels_from_segmentation(ds: Dataset) -> np.ndarray:
    """The (H, W) uint8 label map in a Segmentation made by :func:`segmentation_dataset`.

    Each segment's SegmentedPropertyTypeCode says its tissue (so the segment numbers need not be
    the label values); pixels in no segment are 0 (background).

    Raises
    ------
    ImageError
        ``ds`` is not a Segmentation of one image, or holds a segment whose type is not a
        woundtrack tissue.
    """
    where = f"DICOM {ds.get('SOPInstanceUID', 'instance')}"
    try:
        seg = hd.seg.Segmentation.from_dataset(ds)
        [source] = seg.get_source_image_uids()
        numbers = seg.get_pixels_by_source_instance(
            [source[2]], combine_segments=True, relabel=False
        )[0]
    except (ValueError, AttributeError, KeyError) as exc:
        raise ImageError(
            f"{where}: not a Segmentation of one photo that woundtrack can read ({exc}); "
            "export the Segmentation woundtrack wrote"
        ) from None
    lookup = np.zeros(int(numbers.max()) + 1, dtype=np.uint8)  # numbers absent from it: 0
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        if number < lookup.size:
            lookup[number] = _tissue_of(item, where)
    return lookup[numbers]


def _checked_label_map(labels: np.ndarray, photo: Dataset) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(
            f"labels must be a (H, W) uint8 label map, got shape {labels.shape} {labels.dtype}"
        )
    if labels.shape != (photo.Rows, photo.Columns):
        raise ValueError(
            f"labels is {labels.shape[1]}x{labels.shape[0]} but the photo is "
            f"{photo.Columns}x{photo.Rows}; pass the label map of this photo"
        )
    unknown = sorted(set(np.unique(labels).tolist()) - set(LABEL_NAMES))
    if unknown:
        raise ValueError(f"labels holds values {unknown[:5]} that are not tissue labels")
    return labels


def _segment_description(
    label: int, code: Code, algorithm: hd.AlgorithmIdentificationSequence, corrected: bool
) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=label,
        segment_label=LABEL_NAMES[label],
        segmented_property_category=_CATEGORY,
        segmented_property_type=code,
        algorithm_type=(
            hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
            if corrected
            else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        ),
        algorithm_identification=algorithm,
    )


def _algorithm_family(segmenter: str) -> Code:
    """CID 7162: the classical segmenter judges each pixel's CIELAB colour (several channels at
    once); every other segmenter woundtrack has is a network."""
    if segmenter.startswith("classical"):
        return codes.cid7162.MultispectralProcessing
    return codes.cid7162.ArtificialIntelligence


def _tissue_of(item: Dataset, where: str) -> int:
    kind = item.SegmentedPropertyTypeCodeSequence[0]
    for label, code in _TISSUE_CODES.items():
        if (kind.CodeValue, kind.CodingSchemeDesignator) == (code.value, code.scheme_designator):
            return label
    raise ImageError(
        f"{where}: segment {item.SegmentNumber} ({item.get('SegmentLabel', '')!r}) is "
        f"{kind.CodeMeaning!r} ({kind.CodingSchemeDesignator} {kind.CodeValue}), not a woundtrack "
        "tissue; only Segmentations made by woundtrack can be read back"
    )


# --------------------------------------------------------------------------------------------
# Writing


def write_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write a dataset as a DICOM file (PS3.10, with preamble and file meta) at a new path.

    Raises
    ------
    ImageError
        A file of that name is already there (nothing is written over), or it cannot be written.
    """
    path = Path(path)
    encoded = io.BytesIO()
    ds.save_as(encoded, enforce_file_format=True)
    try:
        with path.open("xb") as out:
            out.write(encoded.getvalue())
    except FileExistsError:
        raise ImageError(
            f"{path.name}: a file of that name is already there and is never written over; "
            "move it away or choose another folder"
        ) from None
    except OSError as exc:
        raise ImageError(
            f"{path.name}: the DICOM file cannot be written ({exc.strerror or exc}); check that "
            "the folder exists and that you may write to it"
        ) from None
