"""Agreement of woundtrack's areas with a reference (``woundtrack.analysis.agreement`` and
``woundtrack agreement``): ICC(2,1) and the Bland–Altman bias and limits of agreement.

References are built from the measurements themselves, so the answer is known:

- a constant offset of +0.3 cm² gives a bias of exactly -0.3 (woundtrack − reference), no spread,
  and an absolute-agreement ICC below 1 whose value follows from the two-way ANOVA by hand:
  with differences all equal to c, MSE = 0 and ICC(A,1) = s² / (s² + c² / 2), s² the variance of
  the areas;
- the same areas plus small independent noise: ICC near 1, bias near 0, and limits that are
  bias ± 1.96 SD of the very differences added (checked with numpy).

Pairing (by patient and day, and lesion when the reference has a lesion column), the notes for
what cannot be paired, and the errors are checked too, and the command line end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from woundtrack.analysis.agreement import LOA_SD, agreement
from woundtrack.analysis.cohort import CohortError
from woundtrack.cli import main
from woundtrack.synthetic.cohort import synthetic_cohort

JSON_KEYS = {"icc_2_1", "icc_ci", "bias_cm2", "loa_low_cm2", "loa_high_cm2", "n_pairs"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def measured() -> pd.DataFrame:
    """Open wounds (area ≥ 0.5 cm², what a ruler measures) of a 30-patient synthetic cohort;
    some patients have two lesions seen on the same days."""
    measurements, _, _ = synthetic_cohort(n_patients=30, seed=5)
    return measurements[measurements["wound_area_cm2"] >= 0.5].reset_index(drop=True)


def as_reference(measurements: pd.DataFrame, areas) -> pd.DataFrame:
    """A reference sheet for the same visits with these areas; its times are later in the day
    than the photos' (pairs match on the day)."""
    return pd.DataFrame(
        {
            "patient": measurements["patient"],
            "lesion": measurements["lesion"],
            "taken_at": measurements["taken_at"] + "T15:30:00",
            "area_cm2": np.asarray(areas, dtype=float),
        }
    )


@pytest.fixture(scope="module")
def noise(measured) -> np.ndarray:
    return np.random.default_rng(7).normal(0.0, 0.05, len(measured))


def test_a_constant_offset_is_all_bias_and_no_spread(measured):
    area = measured["wound_area_cm2"].to_numpy()
    result = agreement(measured, as_reference(measured, area + 0.3))
    assert result.n_pairs == len(measured)
    assert result.bias_cm2 == pytest.approx(-0.3, abs=1e-12)
    assert result.sd_diff_cm2 == pytest.approx(0.0, abs=1e-12)
    assert result.loa_low_cm2 == pytest.approx(-0.3, abs=1e-12)
    assert result.loa_high_cm2 == pytest.approx(-0.3, abs=1e-12)
    # Absolute agreement penalises the offset: below 1, exactly s² / (s² + c²/2).
    s2 = np.var(area, ddof=1)
    assert result.icc < 1
    assert result.icc == pytest.approx(s2 / (s2 + 0.3**2 / 2), rel=1e-9)
    assert result.notes == ()


def test_small_independent_noise_agrees_closely(measured, noise):
    area = measured["wound_area_cm2"].to_numpy()
    result = agreement(measured, as_reference(measured, area + noise))
    assert result.n_pairs == len(measured)
    assert result.icc > 0.95
    low, high = result.icc_ci
    assert 0.95 < low <= high <= 1.0
    # woundtrack − reference is minus the noise added, pair by pair.
    diff = -noise
    assert result.bias_cm2 == pytest.approx(diff.mean(), abs=1e-12)
    assert result.sd_diff_cm2 == pytest.approx(diff.std(ddof=1), rel=1e-9)
    assert abs(result.bias_cm2) < 0.01
    assert result.sd_diff_cm2 == pytest.approx(0.05, rel=0.15)
    assert LOA_SD == 1.96
    assert result.loa_low_cm2 == pytest.approx(diff.mean() - 1.96 * diff.std(ddof=1), abs=1e-12)
    assert result.loa_high_cm2 == pytest.approx(diff.mean() + 1.96 * diff.std(ddof=1), abs=1e-12)
    assert result.loa_high_cm2 - result.bias_cm2 == pytest.approx(
        result.bias_cm2 - result.loa_low_cm2
    )
    # The pairs table holds what the Bland–Altman plot draws.
    pairs = result.pairs
    assert np.allclose(pairs["diff_cm2"], pairs["wound_area_cm2"] - pairs["reference_cm2"])
    assert np.allclose(pairs["mean_cm2"], (pairs["wound_area_cm2"] + pairs["reference_cm2"]) / 2)


def test_pairs_are_matched_by_lesion_not_by_row_order(measured, noise):
    area = measured["wound_area_cm2"].to_numpy()
    reference = as_reference(measured, area + noise).sample(frac=1.0, random_state=3)
    result = agreement(measured, reference)
    assert result.n_pairs == len(measured)
    # Exact pairing: each pair's difference is one of the noises added, none crossed over.
    assert sorted(result.pairs["diff_cm2"]) == pytest.approx(sorted(-noise))
    # Two lesions of one patient on one day stay apart: swapping their labels changes the pairs.
    two = measured.groupby(["patient", "taken_at"])["lesion"].transform("nunique") > 1
    assert two.any()
    swapped = reference.assign(
        lesion=reference["lesion"].map({"L1": "L2", "L2": "L1"}).where(two, reference["lesion"])
    )
    assert agreement(measured, swapped).sd_diff_cm2 > 10 * result.sd_diff_cm2


def test_without_a_lesion_column_days_with_two_lesions_are_left_out(measured, noise):
    area = measured["wound_area_cm2"].to_numpy()
    reference = as_reference(measured, area + noise).drop(columns="lesion")
    per_day = measured.groupby(["patient", "taken_at"])["lesion"].nunique()
    several = int((per_day > 1).sum())
    assert several > 0
    result = agreement(measured, reference, reference_name="ruler.csv")
    assert result.n_pairs == int((per_day == 1).sum())
    assert (
        f"ruler.csv: {several} patient-days have several lesions in the measurements and no "
        "lesion column in the reference; they are left out (add a lesion column to pair them)"
    ) in result.notes


def test_a_reference_row_without_a_measurement_is_noted(measured, noise):
    area = measured["wound_area_cm2"].to_numpy()
    reference = as_reference(measured, area + noise)
    extra = reference.iloc[[0]].assign(taken_at="2030-01-01")
    result = agreement(measured, pd.concat([reference, extra]), reference_name="ruler.csv")
    assert result.n_pairs == len(measured)
    assert (
        "ruler.csv: 1 reference rows have no woundtrack measurement on the same patient and day; "
        "left out"
    ) in result.notes


def test_fewer_than_three_pairs_is_an_error(measured):
    reference = as_reference(measured, measured["wound_area_cm2"]).iloc[:2]
    with pytest.raises(
        CohortError,
        match=r"ruler\.csv: 2 pairs match the measurements \(patient and day\); agreement needs "
        r"at least 3",
    ):
        agreement(measured, reference, reference_name="ruler.csv")


def test_a_reference_without_its_area_column_is_named(measured):
    reference = as_reference(measured, measured["wound_area_cm2"]).drop(columns="area_cm2")
    with pytest.raises(CohortError, match=r"ruler\.csv: no column area_cm2 \(found patient"):
        agreement(measured, reference, reference_name="ruler.csv")


@pytest.mark.filterwarnings("ignore:.*encountered in scalar divide:RuntimeWarning")
def test_json_is_strict_even_when_the_areas_are_identical(measured):
    result = agreement(measured, as_reference(measured, measured["wound_area_cm2"]))
    assert result.icc == pytest.approx(1.0) and result.bias_cm2 == 0.0
    assert result.icc_ci == (None, None)  # undefined, said so, never NaN in the JSON
    assert any("undefined" in note for note in result.notes)
    json.dumps(result.to_json(), allow_nan=False)


def test_a_bad_reference_area_is_named_as_the_reference_s(measured):
    areas = measured["wound_area_cm2"].astype(float).copy()
    areas.iloc[0], areas.iloc[1] = None, -0.02
    result = agreement(measured, as_reference(measured, areas), reference_name="ruler.csv")
    assert result.n_pairs == len(measured) - 2
    assert "ruler.csv: 2 rows without an area_cm2 (empty, not a number or negative)" in " ".join(
        result.notes
    )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, measured, noise):
    folder = tmp_path_factory.mktemp("agreement")
    measured.to_csv(folder / "M.csv", index=False)
    area = measured["wound_area_cm2"].to_numpy()
    as_reference(measured, area + noise).to_csv(folder / "ruler.csv", index=False)
    return folder


def test_cli_agreement_json(capsys, files, measured, noise):
    status, out, err = run(
        capsys,
        "agreement",
        "--measurements",
        str(files / "M.csv"),
        "--reference",
        str(files / "ruler.csv"),
        "--json",
    )
    assert status == 0, err
    info = json.loads(out)
    assert JSON_KEYS <= set(info)
    assert info["n_pairs"] == len(measured)
    assert info["icc_2_1"] > 0.95
    assert info["bias_cm2"] == pytest.approx(-noise.mean(), abs=1e-6)
    assert info["loa_high_cm2"] - info["loa_low_cm2"] == pytest.approx(
        2 * 1.96 * noise.std(ddof=1), rel=1e-4
    )


def test_cli_agreement_html_and_text(capsys, files, tmp_path):
    plot = tmp_path / "ba.html"
    status, out, err = run(
        capsys,
        "agreement",
        "--measurements",
        str(files / "M.csv"),
        "--reference",
        str(files / "ruler.csv"),
        "--html",
        str(plot),
    )
    assert status == 0, err
    assert "Bland" in plot.read_text(encoding="utf-8")
    assert out.startswith(f"{len(pd.read_csv(files / 'M.csv'))} pairs: ICC(2,1) = ")
    assert f"wrote {plot}" in err


def test_cli_agreement_missing_reference_file(capsys, files):
    status, out, err = run(
        capsys,
        "agreement",
        "--measurements",
        str(files / "M.csv"),
        "--reference",
        str(files / "nowhere.csv"),
    )
    assert status == 1 and out == ""
    assert err.strip() == "woundtrack: nowhere.csv: no such file; give the reference file's path"
