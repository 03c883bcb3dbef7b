"""A patient's wound measurements and treatments as one FHIR R4 ``Bundle``, and back.

Every resource is built and validated by fhir.resources' R4B models (R4B is R4 with fixes;
the resources used here are the same in R4). Per visit and lesion one ``Observation`` holds the
figures as components:

=========================  ===========================  ==================================
figure                     code                         where the code was checked
=========================  ===========================  ==================================
wound area (cm²)           LOINC 89260-4 Area of wound  HL7 Lower Extremity Skin Wound
length (cm)                LOINC 39126-8 Length of      Assessment IG, WoundSize example
                           Wound                        (build.fhir.org/ig/HL7/fhir-skin-
width (cm)                 LOINC 39125-0 Width of       wound-ig), and the Danish eHealth
                           Wound                        LOINC supplement (same displays)
perimeter, tissue areas    ``WOUNDTRACK_CODES``         no standard code: woundtrack's own
and shares, erythema area                               code system, said so in its URI
=========================  ===========================  ==================================

LOINC 89255-4 ("Wound bed area identified by color") pairs a share with a colour in a second
observation; it is not used, because eschar, slough and granulation are tissues, not colours.
``bodySite`` carries the site as typed and, where it names one region, its SNOMED CT code
(``woundtrack.body_sites``); laterality stays in the text. Each observation is ``derivedFrom``
a ``Media`` for the photo (content type, size, SHA-1 as FHIR's ``Attachment.hash`` wants,
woundtrack's SHA-256 as an identifier) and one for the overlay (and one for the label map, with
``with_photos``); ``device`` names woundtrack, the segmenter and the model version; ``note``
says who corrected the outline. Treatments are ``MedicationStatement`` (sodium thiosulfate,
cinacalcet, antibiotics) or ``Procedure`` (everything else), with woundtrack extensions for what
FHIR has no field for (sessions, the kind as woundtrack names it), so that ``read_bundle`` gives
back exactly what was written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from woundtrack.body_sites import code_site
from woundtrack.errors import WoundtrackError
from woundtrack.models import KIND_LABELS, SeriesRow, TreatmentEvent

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
#: woundtrack's own codes, for figures that no standard code names (not a registered system).
WOUNDTRACK_CODES = "urn:woundtrack:fhir:CodeSystem:wound-measures"
TREATMENT_CODES = "urn:woundtrack:fhir:CodeSystem:treatment-kinds"
PATIENT_SYSTEM = "urn:woundtrack:patient-code"
PHOTO_SYSTEM = "urn:woundtrack:photo-sha256"
ANALYSIS_SYSTEM = "urn:woundtrack:analysis"
EXT = "urn:woundtrack:fhir:StructureDefinition:"
_NAMESPACE = uuid.UUID("6f1c2a9e-3d4b-5e6f-8a7b-9c0d1e2f3a4b")

#: (SeriesRow field, code system, code, display, UCUM unit): the order of the components.
FIGURES = (
    ("wound_area_cm2", LOINC, "89260-4", "Area of wound", "cm2"),
    ("length_cm", LOINC, "39126-8", "Length of Wound", "cm"),
    ("width_cm", LOINC, "39125-0", "Width of Wound", "cm"),
    ("perimeter_cm", WOUNDTRACK_CODES, "perimeter", "Perimeter of wound", "cm"),
    ("eschar_area_cm2", WOUNDTRACK_CODES, "eschar-area", "Area of necrotic eschar", "cm2"),
    ("slough_area_cm2", WOUNDTRACK_CODES, "slough-area", "Area of slough", "cm2"),
    ("granulation_area_cm2", WOUNDTRACK_CODES, "granulation-area", "Area of granulation", "cm2"),
    ("erythema_area_cm2", WOUNDTRACK_CODES, "erythema-area", "Area of periwound erythema", "cm2"),
    (
        "erythema_reach_cm",
        WOUNDTRACK_CODES,
        "erythema-reach",
        "Furthest reach of periwound erythema from the wound edge",
        "cm",
    ),
    ("eschar_pct", WOUNDTRACK_CODES, "eschar-share", "Eschar, share of the wound bed", "%"),
    ("slough_pct", WOUNDTRACK_CODES, "slough-share", "Slough, share of the wound bed", "%"),
    (
        "granulation_pct",
        WOUNDTRACK_CODES,
        "granulation-share",
        "Granulation, share of the wound bed",
        "%",
    ),
)
_UNIT_TEXT = {"cm2": "cm²", "cm": "cm", "%": "%"}
_LESION_CODE = "lesion-label"
_PANEL_CODE = "wound-assessment"
MEDICATION_KINDS = ("sodium_thiosulfate", "cinacalcet", "antibiotics")


class FhirError(WoundtrackError):
    """A file that is not a woundtrack-readable FHIR R4 bundle."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitMedia:
    """What a bundle says of one visit's photo, overlay and label map (bytes optional)."""

    photo_sha256: str
    file_name: str
    content_type: str
    size_bytes: int
    width_px: int | None = None
    height_px: int | None = None
    photo: bytes | None = None
    overlay_png: bytes | None = None
    labels_png: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FhirContents:
    """What ``read_bundle`` found: the patient, one dict of figures per lesion per visit
    (``SeriesRow`` field names, plus ``lesion``, ``body_site``, ``taken_at``,
    ``photo_sha256``, ``corrected``, ``corrected_by``, ``segmenter``, ``model_version``,
    ``woundtrack_version``), the visits' media by photo hash, and the treatments."""

    patient: str
    figures: tuple[dict[str, Any], ...] = ()
    media: Mapping[str, VisitMedia] = field(default_factory=dict)
    treatments: tuple[TreatmentEvent, ...] = ()


# ---------------------------------------------------------------------------- writing
def build_bundle(
    patient: str,
    rows: Sequence[SeriesRow],
    media: Mapping[str, VisitMedia],
    treatments: Sequence[TreatmentEvent],
    *,
    transaction: bool = False,
    woundtrack_version: str,
) -> dict[str, Any]:
    """One FHIR R4 ``Bundle`` (JSON-ready dict) of a patient's figures and treatments.

    ``rows`` are the patient's series (one per lesion per visit), ``media`` the visits'
    photos by SHA-256 (bytes included only where given). ``transaction=True`` makes a
    ``transaction`` bundle whose entries are idempotent ``PUT``s (ids are derived from the
    patient code and photo hashes, so sending it twice changes nothing); else a
    ``collection``. Every resource is validated by fhir.resources before it is returned.
    """
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> str:
        ref = f"urn:uuid:{resource['id']}"
        entry: dict[str, Any] = {"fullUrl": ref, "resource": _validated(resource)}
        if transaction:
            entry["request"] = {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
        entries.append(entry)
        return ref

    patient_ref = add(_patient(patient))
    devices: dict[tuple[str, str, str], str] = {}
    media_refs: dict[str, list[str]] = {}
    for r in rows:
        key = (r.segmenter, r.model_version, r.woundtrack_version)
        if key not in devices:
            devices[key] = add(_device(*key))
        if r.photo_sha256 not in media_refs:
            visit_media = media[r.photo_sha256]
            media_refs[r.photo_sha256] = [
                add(resource) for resource in _media(patient, patient_ref, r, visit_media)
            ]
        add(_observation(patient, patient_ref, r, devices[key], media_refs[r.photo_sha256]))
    for event in treatments:
        add(_treatment(patient, patient_ref, event))
    bundle = {
        "resourceType": "Bundle",
        "id": _id("bundle", patient, woundtrack_version, str(len(entries))),
        "type": "transaction" if transaction else "collection",
        "entry": entries,
    }
    return _validated(bundle)


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as fhir.resources' R4B model writes it (raises if it is not valid)."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"])
    return json.loads(model.model_validate(resource).model_dump_json(exclude_none=True))


def _patient(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": _id("patient", code),
        "identifier": [{"system": PATIENT_SYSTEM, "value": code}],
    }


def _device(segmenter: str, model_version: str, woundtrack_version: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": _id("device", segmenter, model_version, woundtrack_version),
        "deviceName": [{"name": "woundtrack", "type": "manufacturer-name"}],
        "type": {"text": f"wound photo measurement software (segmenter: {segmenter})"},
        "version": [
            {"type": {"text": "software"}, "value": woundtrack_version},
            {"type": {"text": "segmentation model"}, "value": model_version},
            {"type": {"text": "segmenter"}, "value": segmenter},
        ],
    }


def _media(patient: str, patient_ref: str, r: SeriesRow, m: VisitMedia) -> list[dict[str, Any]]:
    out = [
        _one_media(
            patient,
            patient_ref,
            r,
            "photo",
            m.content_type,
            m.photo,
            m.size_bytes,
            m.file_name,
            m,
        )
    ]
    if m.overlay_png is not None:
        out.append(
            _one_media(
                patient,
                patient_ref,
                r,
                "overlay",
                "image/png",
                m.overlay_png,
                len(m.overlay_png),
                "overlay.png",
                m,
                with_data=m.photo is not None,
            )
        )
    if m.labels_png is not None and m.photo is not None:
        out.append(
            _one_media(
                patient,
                patient_ref,
                r,
                "label-map",
                "image/png",
                m.labels_png,
                len(m.labels_png),
                "labels.png",
                m,
            )
        )
    return out


def _one_media(
    patient: str,
    patient_ref: str,
    r: SeriesRow,
    role: str,
    content_type: str,
    data: bytes | None,
    size_bytes: int,
    title: str,
    m: VisitMedia,
    *,
    with_data: bool = True,
) -> dict[str, Any]:
    attachment: dict[str, Any] = {"contentType": content_type, "size": size_bytes, "title": title}
    if data is not None:
        attachment["hash"] = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
        if with_data:
            attachment["data"] = base64.b64encode(data).decode("ascii")
    resource: dict[str, Any] = {
        "resourceType": "Media",
        "id": _id("media", role, patient, m.photo_sha256),
        "identifier": [{"system": PHOTO_SYSTEM, "value": m.photo_sha256}],
        "status": "completed",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/media-type",
                    "code": "image",
                    "display": "Image",
                }
            ]
        },
        "modality": {"text": role},
        "subject": {"reference": patient_ref},
        "content": attachment,
    }
    when = _fhir_datetime(r.taken_at)
    if when:
        resource["createdDateTime"] = when
    if role == "photo" and m.width_px and m.height_px:
        resource["width"], resource["height"] = m.width_px, m.height_px
    return resource


def _fhir_datetime(taken_at: str | None) -> str | None:
    """FHIR wants a time zone with every time: a camera's local time without one is given
    as its day (the full local time goes in the ``taken-at-local`` extension)."""
    if not taken_at:
        return None
    moment = datetime.fromisoformat(taken_at)
    return moment.isoformat() if moment.tzinfo else moment.date().isoformat()


def _observation(
    patient: str, patient_ref: str, r: SeriesRow, device_ref: str, media_refs: list[str]
) -> dict[str, Any]:
    components = [
        {
            "code": {"coding": [{"system": WOUNDTRACK_CODES, "code": _LESION_CODE}]},
            "valueString": r.lesion,
        }
    ]
    for name, system, code, display, unit in FIGURES:
        value = getattr(r, name)
        component: dict[str, Any] = {
            "code": {"coding": [{"system": system, "code": code, "display": display}]}
        }
        if value is None:
            component["dataAbsentReason"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "not-performed",
                    }
                ],
                "text": "no calibration sticker in the photo: pixels only"
                if not r.calibrated
                else "not recorded when this visit was measured (measure it again to add it)",
            }
        else:
            component["valueQuantity"] = {
                "value": value,
                "unit": _UNIT_TEXT[unit],
                "system": UCUM,
                "code": unit,
            }
        components.append(component)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id("observation", patient, r.photo_sha256, r.lesion),
        "identifier": [{"system": ANALYSIS_SYSTEM, "value": f"{r.analysis_id}/{r.lesion}"}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "exam",
                        "display": "Exam",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": WOUNDTRACK_CODES,
                    "code": _PANEL_CODE,
                    "display": "Wound assessment from a calibrated photo",
                }
            ],
            "text": f"Wound assessment, lesion {r.lesion}",
        },
        "subject": {"reference": patient_ref},
        "device": {"reference": device_ref},
        "derivedFrom": [{"reference": ref} for ref in media_refs],
        "component": components,
    }
    when = _fhir_datetime(r.taken_at)
    if when:
        resource["effectiveDateTime"] = when
    if r.taken_at and when != r.taken_at:
        resource["extension"] = [{"url": EXT + "taken-at-local", "valueString": r.taken_at}]
    if r.body_site:
        resource["bodySite"] = _body_site(r.body_site)
    notes = []
    if r.corrected:
        notes.append({"text": f"Outline corrected by {r.corrected_by or 'a person'}"})
    if not r.calibrated:
        notes.append({"text": "No calibration sticker: areas in pixels only, no cm² given"})
    if notes:
        resource["note"] = notes
    return resource


def _body_site(text: str) -> dict[str, Any]:
    site: dict[str, Any] = {"text": text}
    coded = code_site(text)
    if coded.snomed:
        site["coding"] = [{"system": SNOMED, "code": coded.snomed, "display": coded.meaning}]
    return site


def _treatment(patient: str, patient_ref: str, e: TreatmentEvent) -> dict[str, Any]:
    kind = {
        "coding": [
            {
                "system": TREATMENT_CODES,
                "code": e.kind,
                "display": KIND_LABELS.get(e.kind, e.kind),
            }
        ],
        "text": KIND_LABELS.get(e.kind, e.kind),
    }
    period: dict[str, Any] = {"start": e.start_on.isoformat()}
    if e.end_on:
        period["end"] = e.end_on.isoformat()
    ongoing = e.is_course and e.end_on is None
    extensions = []
    if e.sessions is not None:
        extensions.append({"url": EXT + "sessions", "valueInteger": e.sessions})
    rid = _id("treatment", patient, e.kind, e.start_on.isoformat(), e.dose, e.notes)
    if e.kind in MEDICATION_KINDS:
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": rid,
            "status": "active" if ongoing else "completed",
            "medicationCodeableConcept": kind,
            "subject": {"reference": patient_ref},
            "effectivePeriod": period,
        }
        dosage: dict[str, Any] = {}
        if e.dose:
            dosage["text"] = e.dose
        if e.frequency:
            dosage["timing"] = {"code": {"text": e.frequency}}
        if dosage:
            resource["dosage"] = [dosage]
    else:
        resource = {
            "resourceType": "Procedure",
            "id": rid,
            "status": "in-progress" if ongoing else "completed",
            "code": kind,
            "subject": {"reference": patient_ref},
        }
        if e.is_course:
            resource["performedPeriod"] = period
        else:
            resource["performedDateTime"] = e.start_on.isoformat()
        if e.dose:
            extensions.append({"url": EXT + "dose", "valueString": e.dose})
        if e.frequency:
            extensions.append({"url": EXT + "frequency", "valueString": e.frequency})
    if extensions:
        resource["extension"] = extensions
    if e.notes:
        resource["note"] = [{"text": e.notes}]
    return resource


# ---------------------------------------------------------------------------- reading
def read_bundle(data: bytes | str, *, name: str) -> FhirContents:
    """What a woundtrack FHIR bundle holds (``build_bundle``'s inverse).

    Raises
    ------
    FhirError
        Not JSON, not a FHIR ``Bundle`` (another resource type), not valid FHIR R4 (e.g. an
        R5 or STU3 file), or a bundle without exactly one woundtrack patient.
    """
    from fhir.resources.R4B.bundle import Bundle

    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirError(f"{name}: not a JSON file ({exc}); export the FHIR bundle as JSON") from exc
    kind = document.get("resourceType") if isinstance(document, dict) else None
    if kind != "Bundle":
        raise FhirError(
            f"{name}: a FHIR {kind or 'document without resourceType'}, not a Bundle; "
            "import the Bundle that `woundtrack export --format fhir` writes"
        )
    try:
        bundle = Bundle.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FhirError(
            f"{name}: not a valid FHIR R4 Bundle ({where}: {first['msg']}); "
            "woundtrack reads FHIR R4 (not R5 or STU3) as `woundtrack export --format fhir` "
            "writes it"
        ) from exc
    resources = [json.loads(e.resource.model_dump_json()) for e in bundle.entry or []]
    by_ref = {
        f"urn:uuid:{r['id']}": r for r in resources if r.get("id")
    }  # our fullUrls are urn:uuid:<id>
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    codes = [
        i["value"]
        for p in patients
        for i in p.get("identifier", [])
        if i.get("system") == PATIENT_SYSTEM
    ]
    if len(codes) != 1:
        raise FhirError(
            f"{name}: {len(codes)} woundtrack patients in the bundle (identifier system "
            f"{PATIENT_SYSTEM}); import one patient's bundle at a time"
        )
    figures = [
        _figures_of(r, by_ref)
        for r in resources
        if r["resourceType"] == "Observation" and _is_ours(r)
    ]
    media = {}
    for r in resources:
        if r["resourceType"] == "Media":
            sha = _identifier(r, PHOTO_SYSTEM)
            if sha:
                media[sha] = _media_of(r, media.get(sha), sha)
    treatments = [
        _event_of(r) for r in resources if r["resourceType"] in ("MedicationStatement", "Procedure")
    ]
    return FhirContents(
        patient=codes[0], figures=tuple(figures), media=media, treatments=tuple(treatments)
    )


def _is_ours(observation: dict[str, Any]) -> bool:
    return any(
        c.get("system") == WOUNDTRACK_CODES and c.get("code") == _PANEL_CODE
        for c in observation.get("code", {}).get("coding", [])
    )


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    for i in resource.get("identifier", []):
        if i.get("system") == system:
            return i.get("value")
    return None


def _coding(concept: dict[str, Any], system: str) -> str | None:
    for c in concept.get("coding", []):
        if c.get("system") == system:
            return c.get("code")
    return None


def _extension(resource: dict[str, Any], name: str) -> Any:
    for x in resource.get("extension", []):
        if x.get("url") == EXT + name:
            return next(v for k, v in x.items() if k.startswith("value"))
    return None


def _figures_of(o: dict[str, Any], by_ref: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    by_code = {(s, c): name for name, s, c, _, _ in FIGURES}
    out: dict[str, Any] = {name: None for name, *_ in FIGURES}
    for comp in o.get("component", []):
        for coding in comp["code"].get("coding", []):
            key = (coding.get("system"), coding.get("code"))
            if key == (WOUNDTRACK_CODES, _LESION_CODE):
                out["lesion"] = comp["valueString"]
            elif key in by_code and "valueQuantity" in comp:
                out[by_code[key]] = float(comp["valueQuantity"]["value"])
    notes = [n["text"] for n in o.get("note", [])]
    corrected = [t for t in notes if t.startswith("Outline corrected by ")]
    device = by_ref.get(o.get("device", {}).get("reference", ""), {})
    versions = {v["type"]["text"]: v["value"] for v in device.get("version", [])}
    photo_sha = next(
        (
            _identifier(by_ref[d["reference"]], PHOTO_SYSTEM)
            for d in o.get("derivedFrom", [])
            if d["reference"] in by_ref
        ),
        None,
    )
    out.update(
        body_site=o.get("bodySite", {}).get("text", ""),
        taken_at=_extension(o, "taken-at-local") or o.get("effectiveDateTime"),
        photo_sha256=photo_sha,
        corrected=bool(corrected),
        corrected_by=corrected[0].removeprefix("Outline corrected by ") if corrected else None,
        segmenter=versions.get("segmenter"),
        model_version=versions.get("segmentation model"),
        woundtrack_version=versions.get("software"),
    )
    return out


def _media_of(r: dict[str, Any], known: VisitMedia | None, sha: str) -> VisitMedia:
    role = r.get("modality", {}).get("text", "photo")
    content = r["content"]
    data = base64.b64decode(content["data"]) if content.get("data") else None
    base = known or VisitMedia(
        photo_sha256=sha, file_name="", content_type="application/octet-stream", size_bytes=0
    )
    fields = {f: getattr(base, f) for f in VisitMedia.__slots__}
    if role == "photo":
        fields.update(
            file_name=content.get("title", ""),
            content_type=content.get("contentType", ""),
            size_bytes=int(content.get("size", 0)),
            width_px=r.get("width"),
            height_px=r.get("height"),
            photo=data,
        )
    elif role == "overlay":
        fields["overlay_png"] = data
    elif role == "label-map":
        fields["labels_png"] = data
    return VisitMedia(**fields)


def _event_of(r: dict[str, Any]) -> TreatmentEvent:
    concept = r.get("medicationCodeableConcept") or r.get("code") or {}
    kind = _coding(concept, TREATMENT_CODES) or concept.get("text", "")
    period = r.get("effectivePeriod") or r.get("performedPeriod")
    if period:
        start, end = period["start"], period.get("end")
    else:
        start, end = r.get("performedDateTime") or r.get("effectiveDateTime"), None
    dosage = (r.get("dosage") or [{}])[0]
    return TreatmentEvent(
        kind=kind,
        start_on=date.fromisoformat(start[:10]),
        end_on=date.fromisoformat(end[:10]) if end else None,
        dose=dosage.get("text") or _extension(r, "dose") or "",
        frequency=dosage.get("timing", {}).get("code", {}).get("text")
        or _extension(r, "frequency")
        or "",
        sessions=_extension(r, "sessions"),
        notes=(r.get("note") or [{}])[0].get("text", ""),
    )
