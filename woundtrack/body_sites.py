"""A body site as typed ("L calf", "right lateral malleolus") read as a coded region, a side and
the calciphylaxis distribution of a lesion there (distal or proximal).

The text stays what the clinic typed; the coding is for what leaves the clinic: the research
export (which carries no free text, so only the coded parts), FHIR ``bodySite`` and DICOM's
Anatomic Region. Proximal calciphylaxis (thighs, buttocks, abdomen: fatty areas) has a worse
prognosis than distal (below the knees and elbows), so researchers ask for it.

Regions are SNOMED CT concepts (codes and meanings as in pydicom's code dictionary; a test
checks them). A site is coded only when its words name exactly one region (a part beats the
whole it is in: "heel of the foot" is the heel); anything else is left uncoded, never guessed.

>>> site = code_site("L lat. calf")
>>> site.region, site.snomed, site.side, site.distribution
('lower leg', '30021000', 'left', 'distal')
>>> code_site("behind the ear").region
''
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["REGIONS", "CodedSite", "Region", "code_site", "site_key"]


@dataclass(frozen=True, slots=True)
class Region:
    """One region of the vocabulary."""

    name: str  # the export's value, e.g. "lower leg"
    snomed: str  # SNOMED CT concept id
    meaning: str  # SNOMED CT display, as pydicom's code dictionary spells it
    distribution: str  # "distal" (below the knee or elbow), "proximal" (above, or the trunk), ""
    words: tuple[str, ...]  # phrases that name it (lower case, singular)
    part_of: str = ""  # the region it lies in (a part is preferred to its whole)
    paired: bool = True  # a left and a right one (DICOM's Laterality is for these only)


_D, _P = "distal", "proximal"
#: The vocabulary: calciphylaxis and chronic-wound sites. Distal = below the knee or elbow,
#: proximal = above them and the trunk (Nigwekar et al., NEJM 2018; the knee, elbow and penis
#: are neither, and a bare "leg" or "arm" does not say).
REGIONS: tuple[Region, ...] = (
    Region("toe", "29707007", "Toe", _D, ("toe", "hallux"), "foot"),
    Region("heel", "84607009", "Skin of heel", _D, ("heel",), "foot"),
    Region("foot", "56459004", "Foot", _D, ("foot", "sole", "plantar", "forefoot"), "lower limb"),
    Region("ankle", "70258002", "Ankle joint", _D, ("ankle", "malleolus"), "lower limb"),
    Region(
        "lower leg",
        "30021000",
        "Lower leg",
        _D,
        ("lower leg", "calf", "shin", "pretibial", "gaiter"),
        "lower limb",
    ),
    Region("knee", "72696002", "Knee", "", ("knee", "popliteal"), "lower limb"),
    Region("thigh", "68367000", "Thigh", _P, ("thigh", "upper leg"), "lower limb"),
    Region("lower limb", "61685007", "Lower limb", "", ("leg", "lower limb", "lower extremity")),
    Region("hip", "29836001", "Hip", _P, ("hip",)),
    Region("buttock", "46862004", "Buttock", _P, ("buttock", "gluteal")),
    Region("sacrum", "54735007", "Sacrum", _P, ("sacrum", "sacral"), paired=False),
    Region(
        "abdomen",
        "818981001",
        "Abdomen",
        _P,
        ("abdomen", "abdominal", "pannus"),
        "trunk",
        paired=False,
    ),
    Region("flank", "58602004", "Flank", _P, ("flank",), "trunk"),
    Region("breast", "76752008", "Breast", _P, ("breast",), "trunk"),
    Region("thorax", "816094009", "Thorax", _P, ("chest", "thorax"), "trunk"),
    Region("back", "77568009", "Back", _P, ("back",), "trunk", paired=False),
    Region("trunk", "22943007", "Trunk", _P, ("trunk",)),
    Region("penis", "18911002", "Penis", "", ("penis", "penile"), paired=False),
    Region("finger", "7569003", "Finger", _D, ("finger", "fingertip", "thumb"), "hand"),
    Region("hand", "85562004", "Hand", _D, ("hand", "palm"), "upper limb"),
    Region("forearm", "14975008", "Forearm", _D, ("forearm",), "upper limb"),
    Region("upper arm", "40983000", "Upper arm", _P, ("upper arm",), "upper limb"),
    Region("shoulder", "16982005", "Shoulder", _P, ("shoulder",), "upper limb"),
    Region("upper limb", "53120007", "Upper limb", "", ("arm", "upper limb", "upper extremity")),
)
_SIDES = {"left": "left", "l": "left", "lt": "left", "right": "right", "r": "right", "rt": "right"}
_PLURALS = {"feet": "foot", "toes": "toe", "heels": "heel", "buttocks": "buttock"}
_PLURALS |= {"fingers": "finger", "legs": "leg", "thighs": "thigh", "calves": "calf"}
_PLURALS |= {"malleolar": "malleolus", "malleoli": "malleolus"}
_BY_NAME = {r.name: r for r in REGIONS}
_ABBREVIATIONS = {"lat": "lateral", "med": "medial", "ant": "anterior", "post": "posterior"}
_ABBREVIATIONS |= {"prox": "proximal", "dist": "distal"}
_FILLERS = {"the", "of", "on"}


@dataclass(frozen=True, slots=True)
class CodedSite:
    """What ``code_site`` read; empty strings where the text does not say."""

    region: str = ""
    snomed: str = ""
    meaning: str = ""
    side: str = ""  # "left" or "right"
    distribution: str = ""  # "distal" or "proximal"
    paired: bool = False  # the region is one of a left and right pair (unknown: False)


def site_key(text: str) -> str:
    """A body site as two sites are compared, whatever the case, punctuation, spacing, plurals
    and usual abbreviations: "Lt. lat. calves" and "left lateral calf" are one site; "left calf"
    and "left shin" are two (the photos of each are matched against their own lesions).

    >>> site_key("Lt.  lat. Calves") == site_key("left lateral calf") == site_key("L lateral calf")
    True
    """
    words = [_SIDES.get(w, w) for w in _words(text)]
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words if w not in _FILLERS)


def _words(text: str) -> list[str]:
    return [_PLURALS.get(w, w) for w in re.split(r"[^a-z0-9]+", text.casefold()) if w]


def code_site(text: str) -> CodedSite:
    """The region, side and distribution that ``text`` names (see the module's docstring)."""
    words = _words(text)
    sides = {_SIDES[w] for w in words if w in _SIDES}
    padded = f" {' '.join(words)} "
    hits = {r.name for r in REGIONS if any(f" {p} " in padded for p in r.words)}
    if " back of " in padded:  # the back of the hand, knee or heel
        hits.discard("back")
    hits -= set().union(*(_all_wholes(name) for name in hits))  # "lower leg" holds "leg"
    side = sides.pop() if len(sides) == 1 else ""
    if len(hits) != 1:
        return CodedSite(side=side)
    region = _BY_NAME[hits.pop()]
    return CodedSite(
        region.name, region.snomed, region.meaning, side, region.distribution, region.paired
    )


def _all_wholes(name: str) -> set[str]:
    """Every region that ``name`` lies in (the foot, then the lower limb, for the heel)."""
    out: set[str] = set()
    while whole := _BY_NAME[name].part_of:
        out.add(whole)
        name = whole
    return out
