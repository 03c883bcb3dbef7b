"""What a clinician should know before reading a tissue share: how well the tissue network that
measured it agreed with wound specialists, from its model card.

The figures are those of ``python benchmarks/tissue_split.py --data DATA/fuseg-train`` for each
tissue network woundtrack has shipped (the whole segmenter, pixels pooled over the held-out
photos that specialists labelled). A network this version does not know (a newer one, or a
clinic's own) gets a sentence that says so instead of figures that are not its own.
"""

from __future__ import annotations

from typing import NamedTuple

#: how ``LearnedSegmenter.version`` names the tissue network: "<wound bed>+tissue-<tissue>"
TISSUE_VERSION_MARK = "+tissue-"


class TissueFigures(NamedTuple):
    """One tissue network's agreement with the specialists' labels (model card)."""

    photos: int  # held-out photos with specialists' slough / granulation labels
    slough_recall: float  # of the specialists' slough, the share called slough
    slough_dice: float
    slough_called_granulation: float  # of the specialists' slough, the share called granulation
    granulation_dice: float


#: tissue network version -> its figures (``woundtrack/weights/MODEL_CARD.md``, tissue.onnx), in
#: the segmenter of this woundtrack version (its colour checks on eschar included)
KNOWN: dict[str, TissueFigures] = {
    "2026-12-06a": TissueFigures(
        photos=22,
        slough_recall=0.499,
        slough_dice=0.594,
        slough_called_granulation=0.333,
        granulation_dice=0.815,
    ),
}


def tissue_version(model_version: str) -> str | None:
    """The tissue network's version inside a measurement's ``model_version``; None when the bed
    was split by colour (no tissue network)."""
    if TISSUE_VERSION_MARK not in model_version:
        return None
    return model_version.split(TISSUE_VERSION_MARK, 1)[1]


def tissue_note(model_version: str) -> str | None:
    """One paragraph on the tissue split of measurements made by ``model_version``, or None
    when no tissue network made them (the colour rules of the classical segmenter)."""
    version = tissue_version(model_version)
    if version is None:
        return None
    eschar = (
        "Eschar was learned from eschar painted onto photos: no public photo with labelled "
        "necrosis was available to check it."
    )
    figures = KNOWN.get(version)
    if figures is None:
        return (
            f"Tissue shares come from tissue network {version}, for which this version of "
            f"woundtrack holds no accuracy figures: see that network's own card. {eschar}"
        )
    f = figures
    return (
        f"Tissue shares come from tissue network {version}. On {f.photos} foot-ulcer photos "
        f"that wound specialists labelled, it found {f.slough_recall:.0%} of their slough and "
        f"called {f.slough_called_granulation:.0%} of it granulation, so slough reads low and "
        f"granulation high (Dice: slough {f.slough_dice:.2f}, granulation "
        f"{f.granulation_dice:.2f}). {eschar}"
    )


def tissue_notes(model_versions) -> list[str]:
    """``tissue_note`` of each tissue network among ``model_versions``, once each, in order."""
    notes: dict[str | None, str] = {}
    for model_version in model_versions:
        version = tissue_version(model_version)
        if version not in notes:
            note = tissue_note(model_version)
            if note is not None:
                notes[version] = note
    return list(notes.values())
