"""Body sites as typed, read as a coded region, a side and a calciphylaxis distribution."""

from __future__ import annotations

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
        region="lower limb", snomed="61685007", meaning="Lower limb"
    )
