"""present/tissue_note.py: what the clinician is told about the tissue split's accuracy."""

from woundtrack.image.learned import LearnedSegmenter
from woundtrack.present.tissue_note import KNOWN, tissue_note, tissue_notes, tissue_version


def test_the_shipped_tissue_network_has_its_figures_here():
    # shipping a new tissue.onnx without its figures would leave the old ones in front of users
    version = tissue_version(LearnedSegmenter().version)
    assert version in KNOWN


def test_a_known_network_is_given_its_own_figures():
    note = tissue_note("2026-11-26a+tissue-2026-12-06a")
    assert note.startswith("Tissue shares come from tissue network 2026-12-06a. On 22 ")
    assert "found 50% of their slough and called 33% of it granulation" in note
    assert "(Dice: slough 0.59, granulation 0.81)" in note
    assert "painted onto photos" in note  # eschar: never checked on a real labelled photo


def test_an_unknown_network_is_given_no_figures_and_the_colour_rules_no_note():
    note = tissue_note("clinic-7+tissue-2027-01-01x")
    assert "2027-01-01x" in note and "holds no accuracy figures" in note
    assert "%" not in note and "Dice" not in note
    assert tissue_note("1") is None  # the classical segmenter: no tissue network
    assert tissue_version("2026-11-26a") is None


def test_each_network_is_described_once_in_the_order_first_met():
    notes = tissue_notes(
        [
            "a+tissue-2026-12-06a",
            "1",
            "b+tissue-2027-01-01x",
            "c+tissue-2026-12-06a",  # another bed network, the same tissue network
        ]
    )
    assert len(notes) == 2
    assert "2026-12-06a" in notes[0] and "2027-01-01x" in notes[1]
