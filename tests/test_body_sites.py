"""Body sites as typed, read as a coded region, a side and a calciphylaxis distribution."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from pydicom.sr.codedict import codes

from woundtrack.body_sites import REGIONS, CodedSite, code_site


def _all_snomed_codes() -> dict[str, set[str]]:
    """pydicom's SNOMED CT dictionary: concept id -> its meanings (some have two spellings)."""
    out: dict[str, set[str]] = {}
    for name in dir(codes.SCT):
        try:
            code = getattr(codes.SCT, name)
        except AttributeError:
            continue
        if hasattr(code, "value"):
            out.setdefault(code.value, set()).add(code.meaning)
    return out


def test_every_region_is_a_snomed_concept_under_its_own_meaning():
    known = _all_snomed_codes()
    for region in REGIONS:
        assert region.meaning in known.get(region.snomed, ()), region.name
    assert len({r.name for r in REGIONS}) == len(REGIONS)
    assert {r.distribution for r in REGIONS} == {"distal", "proximal", ""}


@pytest.mark.parametrize(
    ("text", "region", "side", "distribution"),
    [
        ("left calf", "lower leg", "left", "distal"),
        ("R shin", "lower leg", "right", "distal"),
        ("Lt. lateral malleolus", "ankle", "left", "distal"),
        ("heel of the right foot", "heel", "right", "distal"),  # the part, not its whole
        ("right 2nd toe", "toe", "right", "distal"),
        ("back of the left hand", "hand", "left", "distal"),  # not the back
        ("upper leg", "thigh", "", "proximal"),
        ("medial thighs", "thigh", "", "proximal"),
        ("abdominal pannus", "abdomen", "", "proximal"),
        ("Sacral", "sacrum", "", "proximal"),
        ("left lower extremity", "lower limb", "left", ""),  # a whole limb: no distribution
        ("left knee", "knee", "left", ""),
        ("penile", "penis", "", ""),
    ],
)
def test_a_site_names_its_region_side_and_distribution(text, region, side, distribution):
    site = code_site(text)
    assert (site.region, site.side, site.distribution) == (region, side, distribution)
    assert site.snomed == next(r.snomed for r in REGIONS if r.name == region)


@pytest.mark.parametrize(
    "text",
    ["", "behind the ear", "left thigh and right calf", "wound 2", "=cmd|' /C calc'!A0"],
)
def test_a_site_naming_no_region_or_several_is_left_uncoded(text):
    site = code_site(text)
    assert (site.region, site.snomed, site.distribution) == ("", "", "")


def test_two_sides_are_no_side():
    assert code_site("left and right legs") == CodedSite(
        region="lower limb", snomed="61685007", meaning="Lower limb", paired=True
    )


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy not installed")
@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.name)
def test_every_region_makes_a_valid_dicom_photo_with_and_without_a_side(tmp_path, region):
    """dciodvfy wants Laterality only for a paired structure (sacrum, abdomen, back, penis: the
    side, if any, stays a modifier of the region)."""
    from tests.test_dicom import photo
    from woundtrack.interop.dicom import write_dataset

    for site in (region.words[0], f"left {region.words[0]}"):
        path = tmp_path / f"{site.replace(' ', '_')}.dcm"
        ds = photo(body_site=site)
        assert ds.AnatomicRegionSequence[0].CodeValue == region.snomed
        assert ("Laterality" in ds) == region.paired
        write_dataset(ds, path)
        report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        errors = [line for line in report.stderr.splitlines() if "Error" in line]
        assert errors == [], f"{site}:\n{report.stderr}"
