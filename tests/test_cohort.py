"""Cohort analysis (``woundtrack.analysis.cohort`` and ``woundtrack cohort``) against known answers.

Three kinds of truth:

- a synthetic cohort (``synthetic_cohort``) whose generating model fixes each group's median time
  to closure, mean ln-area slope and the hazard ratio: the estimates' 95 % intervals must hold
  them, and the direction of the effect must be right;
- tiny hand-made cohorts whose answer is known exactly (weeks to closure, censoring, the
  Kaplan–Meier median, a noiseless exp(-0.2 t) shrinkage);
- bad input: each problem gives one clear message or note and the rest is still computed.

The command line is driven through ``woundtrack.cli.main`` on files written with ``to_csv`` /
``to_parquet``.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import pandas as pd
import pytest

from woundtrack import __version__
from woundtrack.analysis.cohort import (
    CohortError,
    cohort_analysis,
    lesion_table,
    visit_table,
)
from woundtrack.cli import main
from woundtrack.present.research import comparison_sentence
from woundtrack.synthetic.cohort import late_treatment_cohort, synthetic_cohort

GROUP_KEYS = {
    "n_lesions",
    "n_healed",
    "median_weeks_to_closure",
    "median_ci",
    "log_area_slope_per_week",
    "slope_ci",
}
TOP_KEYS = {"groups", "logrank_p", "hazard_ratio", "hazard_ratio_ci", "n_patients"}
D0 = date(2025, 1, 6)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def weekly(patient: str, lesion: str, areas, start: date = D0) -> list[dict]:
    """Rows of one lesion seen weekly from ``start`` with these areas (cm²)."""
    return [
        {
            "patient": patient,
            "lesion": lesion,
            "taken_at": (start + timedelta(weeks=week)).isoformat(),
            "wound_area_cm2": area,
        }
        for week, area in enumerate(areas)
    ]


@pytest.fixture(scope="module")
def small():
    """A 40-patient synthetic cohort (enough for every figure, fast to analyse)."""
    return synthetic_cohort(n_patients=40, seed=3)


# --------------------------------------------------------------------------------------------
# Recovery of a known truth
# --------------------------------------------------------------------------------------------


# A 95 % interval holds the truth in about 95 % of cohorts by design, so a fixed seed can miss
# (with seed 8 the 'with' slope interval misses): these seeds were checked to be ordinary ones
# where all five intervals hold, not tuned estimates (over seeds 0-11, 1 of the 60 intervals
# missed). The coverage over many seeds is the benchmark's job
# (benchmarks/cohort_recovery.py: 92-98 % per figure over 50 seeds).
@pytest.mark.parametrize(
    ("seed", "by"), [(0, "sodium_thiosulfate"), (2, "STS"), (4, "sodium thiosulphate")]
)
def test_synthetic_cohort_truth_lies_in_every_interval(seed, by):
    measurements, timeline, truth = synthetic_cohort(n_patients=200, seed=seed)
    result = cohort_analysis(measurements, timeline, by=by)
    assert result.by == "sodium_thiosulfate"
    assert result.n_patients == 200
    for name in ("with", "without"):
        group = result.groups[name]
        assert group.n_patients == 100
        low, high = group.median_ci
        assert low <= truth.median_weeks[name] <= high, (name, group.median_ci)
        low, high = group.slope_ci
        assert low <= truth.log_area_slope_per_week[name] <= high, (name, group.slope_ci)
        assert low < group.log_area_slope_per_week < high
    low, high = result.hazard_ratio_ci
    assert low <= truth.hazard_ratio <= high
    # The direction of the effect: the treatment (true HR 2) heals faster.
    assert result.hazard_ratio > 1
    assert result.groups["with"].median_weeks_to_closure < (
        result.groups["without"].median_weeks_to_closure
    )
    assert result.groups["with"].log_area_slope_per_week < (
        result.groups["without"].log_area_slope_per_week
    )
    assert result.logrank_p < 0.05
    # Counts agree with the lesion table they summarise.
    lesions = result.lesions
    assert sum(g.n_lesions for g in result.groups.values()) == len(lesions)
    assert sum(g.n_healed for g in result.groups.values()) == int(lesions["healed"].sum())


def test_copies_of_a_patients_lesion_do_not_narrow_the_hazard_ratio_interval(small):
    """Lesions of one patient are not independent: the Cox model's errors are robust by patient
    (lifelines ``cluster_col``). Each lesion entered three times, as three lesions of its
    patient, leaves the hazard ratio and its interval nearly as they were; counted as
    independent, the interval would narrow by about sqrt(3) (the width of its log by 0.58)."""
    measurements, timeline, _ = small
    once = cohort_analysis(measurements, timeline, by="sodium_thiosulfate")
    thrice = pd.concat(
        [measurements.assign(lesion=measurements["lesion"] + f"-copy{k}") for k in range(3)],
        ignore_index=True,
    )
    again = cohort_analysis(thrice, timeline, by="sodium_thiosulfate")
    assert len(again.lesions) == 3 * len(once.lesions)
    # (Efron's handling of the tied closure times moves the estimate a little)
    assert again.hazard_ratio == pytest.approx(once.hazard_ratio, rel=0.05)

    def log_width(ci):
        return math.log(ci[1]) - math.log(ci[0])

    ratio = log_width(again.hazard_ratio_ci) / log_width(once.hazard_ratio_ci)
    assert 0.85 < ratio < 1.15, ratio


@pytest.fixture(scope="module")
def confounded():
    """200 patients; proximal lesions heal at 0.4 times the rate of distal ones, and 80 % of the
    treated patients' lesions are proximal against 20 % of the others': the treatment (true
    hazard ratio 2 at the same distribution) looks no better than nothing unadjusted."""
    return synthetic_cohort(
        n_patients=200, proximal_p=(0.8, 0.2), proximal_hazard_ratio=0.4, seed=6
    )


@pytest.fixture(scope="module")
def adjusted(confounded):
    measurements, timeline, _ = confounded
    return cohort_analysis(measurements, timeline, by="STS", adjust_for_distribution=True)


def test_the_hazard_ratio_adjusted_for_distribution_recovers_the_treatment_effect(adjusted):
    # Over 50 such cohorts of 200 patients the adjusted interval held the truth in 45, the
    # unadjusted one in 4, proximal's own in 47 (benchmarks/cohort_recovery.py --confounded).
    # Seed 6 is an ordinary one where all hold (with seed 0 proximal's interval, 0.18-0.38,
    # misses 0.4): checked, not tuned; coverage is the benchmark's job.
    result = adjusted
    assert result.hazard_ratio_ci[1] < 2.0  # confounded: the truth lies above its interval
    a = result.adjusted
    assert a.hazard_ratio_ci[0] <= 2.0 <= a.hazard_ratio_ci[1], a
    assert a.proximal_hazard_ratio_ci[0] <= 0.4 <= a.proximal_hazard_ratio_ci[1], a
    assert a.n_lesions == len(result.lesions)
    assert a.n_proximal == int((result.lesions["distribution"] == "proximal").sum())
    info = result.to_json()["adjusted_for_distribution"]
    assert info["hazard_ratio"] == a.hazard_ratio and len(info["hazard_ratio_ci"]) == 2
    assert "proximal against distal" in comparison_sentence(result)


def test_the_distribution_is_read_from_the_body_site_as_typed(confounded, adjusted):
    """A clinic's export has the body site as typed, not the research export's distribution:
    it is coded (thigh: proximal, calf: distal); a site naming neither is left out, said."""
    measurements, timeline, _ = confounded
    sites = {"proximal": "left thigh", "distal": "R calf"}
    typed = measurements.assign(body_site=measurements["distribution"].map(sites))
    first = typed["patient"] == typed["patient"].iloc[0]  # the first patient's: a knee
    typed = typed.assign(body_site=typed["body_site"].where(~first, "left knee"))
    less = cohort_analysis(
        typed.drop(columns="distribution"), timeline, by="STS", adjust_for_distribution=True
    )
    # every lesion has the distribution it was drawn with, but the knee's, which has none
    drawn = adjusted.lesions.set_index(["patient", "lesion"])["distribution"]
    read = less.lesions.set_index(["patient", "lesion"])["distribution"]
    knee = read.index.get_level_values("patient") == typed["patient"].iloc[0]
    assert (read[knee] == "").all() and (read[~knee] == drawn[~knee]).all()
    assert less.adjusted.n_lesions == adjusted.adjusted.n_lesions - int(knee.sum())
    assert any("without a distal or proximal body site left out" in n for n in less.notes)


def test_lesions_split_by_distribution_give_proximal_against_distal(capsys, tmp_path):
    """``by="distribution"``: proximal against distal lesions, no timeline needed. With no
    treatment effect (hazard ratio 1) the truth of the split is exactly proximal's own 0.4; a
    lesion whose site says neither is in no group, said. (The interval held 0.4 for each of
    seeds 0-9; seed 1 is the lowest estimate of them, 0.31.)"""
    measurements, _, _ = synthetic_cohort(
        n_patients=200,
        hazard_ratio=1.0,
        proximal_p=(0.5, 0.5),
        proximal_hazard_ratio=0.4,
        seed=1,
    )
    first = measurements["patient"] == "P-0001"
    measurements.loc[first, "distribution"] = ""
    result = cohort_analysis(measurements, by="Distribution")
    assert result.by == "distribution" and list(result.groups) == ["proximal", "distal"]
    low, high = result.hazard_ratio_ci
    assert low <= 0.4 <= high and high < 1, result.hazard_ratio_ci
    proximal, distal = result.groups.values()
    n_unknown = measurements.loc[first, "lesion"].nunique()
    assert proximal.n_lesions + distal.n_lesions == len(result.lesions) - n_unknown
    assert proximal.median_weeks_to_closure > distal.median_weeks_to_closure
    assert any("are in neither group" in n for n in result.notes)
    assert "proximal against distal" in comparison_sentence(result)
    few = measurements[measurements["patient"] <= "P-0030"]  # a note; the figures not needed
    again = cohort_analysis(few, by="distribution", adjust_for_distribution=True)
    assert again.adjusted is None and any("split by distribution" in n for n in again.notes)
    few.to_csv(tmp_path / "M.csv", index=False)
    status, out, _ = run(
        capsys, "cohort", "--measurements", str(tmp_path / "M.csv"), "--by", "distribution"
    )
    assert status == 0
    assert out.startswith("proximal lesions: ") and "\ndistal lesions: " in out
    assert "Between groups (distribution): " in out


def test_a_landmark_does_not_credit_a_late_treatment_with_healing_before_it(capsys, tmp_path):
    """A treatment that does nothing, started weeks after the first visit and only on a wound
    still open then: 'ever treated' holds the slow healers, so it looks harmful. Over 50 seeds
    its interval held the true hazard ratio 1 once (median 0.60); landmarked at week 12, 46
    times (median 1.04; benchmarks/cohort_recovery.py --seeds 50 --late). Seed 0 is an ordinary
    one."""
    measurements, timeline = late_treatment_cohort(seed=0)
    ever = cohort_analysis(measurements, timeline, by="HBOT")
    assert ever.hazard_ratio_ci[1] < 1.0  # the trap
    result = cohort_analysis(measurements, timeline, by="HBOT", landmark_weeks=12)
    low, high = result.hazard_ratio_ci
    assert low <= 1.0 <= high, result.hazard_ratio_ci
    assert result.landmark_weeks == 12 and result.to_json()["options"]["landmark_weeks"] == 12
    # only the lesions still open and followed at week 12, their times from the landmark
    lesions = result.lesions
    before = ever.lesions.set_index(["patient", "lesion"])
    kept = before.loc[list(zip(lesions["patient"], lesions["lesion"], strict=True))]
    assert (kept["weeks"] > 12).all() and len(lesions) < len(ever.lesions)
    assert lesions["weeks"].to_numpy() == pytest.approx(kept["weeks"].to_numpy() - 12)
    # 'with': the treatment had started by the landmark; started later: 'without'
    starts = timeline.set_index("patient")["start_on"].map(date.fromisoformat)
    by_then = [
        p in starts.index and starts[p] <= first + timedelta(weeks=12)
        for p, first in zip(lesions["patient"], kept["first_on"], strict=True)
    ]
    assert list(lesions["group"] == "with") == by_then
    assert not result.open_visits.empty and (result.open_visits["weeks"] >= 0).all()
    assert any(n.startswith("landmark at week 12: ") for n in result.notes)
    assert "landmark at week 12" in comparison_sentence(result)
    # the command line: --landmark-weeks
    measurements.to_csv(tmp_path / "M.csv", index=False)
    timeline.to_csv(tmp_path / "T.csv", index=False)
    files = ("--measurements", str(tmp_path / "M.csv"), "--timeline", str(tmp_path / "T.csv"))
    status, out, _ = run(capsys, "cohort", *files, "--by", "HBOT", "--landmark-weeks", "12")
    assert status == 0 and "(hyperbaric_oxygen, landmark at week 12)" in out
    alone = cohort_analysis(measurements, landmark_weeks=12)
    assert alone.landmark_weeks is None and any(
        "landmark needs a treatment" in n for n in alone.notes
    )


def test_no_adjusted_figure_without_sites_or_a_treatment_and_each_says_why(small):
    measurements, timeline, _ = small
    result = cohort_analysis(measurements, timeline, by="STS", adjust_for_distribution=True)
    assert result.adjusted is None and result.hazard_ratio is not None
    assert any("no hazard ratio adjusted for distribution" in n for n in result.notes)
    alone = cohort_analysis(measurements, timeline, adjust_for_distribution=True)
    assert alone.adjusted is None
    assert any("needs a treatment to compare" in n for n in alone.notes)


def test_alias_and_spelling_of_the_kind_give_the_same_figures(small):
    measurements, timeline, _ = small
    a = cohort_analysis(measurements, timeline, by="sodium_thiosulfate").to_json()
    b = cohort_analysis(measurements, timeline, by="STS").to_json()
    assert a["by"] == b["by"] == "sodium_thiosulfate"
    assert a["groups"] == b["groups"]
    assert (a["hazard_ratio"], a["logrank_p"]) == (b["hazard_ratio"], b["logrank_p"])


def test_json_has_the_keys_the_issue_lists_and_serialises(small):
    measurements, timeline, _ = small
    info = cohort_analysis(measurements, timeline, by="STS").to_json()
    assert TOP_KEYS | {"versions", "options"} <= set(info)
    assert set(info["groups"]) == {"with", "without"}
    for group in info["groups"].values():
        assert GROUP_KEYS <= set(group)
        assert len(group["median_ci"]) == 2 and len(group["slope_ci"]) == 2
    assert len(info["hazard_ratio_ci"]) == 2
    assert info["n_patients"] == 40
    assert info["versions"]["woundtrack"] == __version__
    assert {"lifelines", "statsmodels"} <= set(info["versions"])
    assert info["options"]["closed_below_cm2"] == 0.1
    assert info["options"]["by"] == "sodium_thiosulfate"
    # Strict JSON: no NaN or infinity may slip through.
    text = json.dumps(info, allow_nan=False)
    assert json.loads(text) == info


# --------------------------------------------------------------------------------------------
# Tiny cohorts with exact answers
# --------------------------------------------------------------------------------------------


def test_lesion_table_weeks_healing_and_censoring_are_exact():
    rows = (
        weekly("P1", "L1", [4, 2, 0.05, 0.0])  # closed weeks 2 and 3: healed at week 2
        + weekly("P2", "L1", [3, 1, 0.05])  # closed at its last visit only: censored, week 2
        + weekly("P3", "L1", [5, 4, 3, 2, 1])  # never closed: censored at week 4
        + weekly("P3", "L2", [2, 0.1, 0.08, 0.5])  # 0.1 is closed (at or below): healed week 1
        + weekly("P4", "L1", [2, 0.05, 1, 0.05, 0.05])  # closes, reopens, then healed at week 3
    )
    visits, notes = visit_table(pd.DataFrame(rows))
    assert notes == [] and len(visits) == len(rows)
    table = lesion_table(visits).set_index(["patient", "lesion"])
    expected = {
        ("P1", "L1"): (True, 2.0, D0 + timedelta(weeks=2)),
        ("P2", "L1"): (False, 2.0, None),
        ("P3", "L1"): (False, 4.0, None),
        ("P3", "L2"): (True, 1.0, D0 + timedelta(weeks=1)),
        ("P4", "L1"): (True, 3.0, D0 + timedelta(weeks=3)),
    }
    assert len(table) == len(expected)
    for key, (healed, weeks, healed_on) in expected.items():
        row = table.loc[key]
        assert bool(row["healed"]) is healed, key
        assert row["weeks"] == weeks, key
        assert row["healed_on"] == healed_on, key
        assert row["first_on"] == D0
    assert table.loc[("P3", "L1"), "n_visits"] == 5

    # Kaplan–Meier by hand: events at weeks 1, 2, 3 with 5, 4, 2 at risk (P2 censored at 2, after
    # the event there): S = 4/5, then 4/5 * 3/4 = 0.6, then 0.6 * 1/2 = 0.3, so the median is 3.
    result = cohort_analysis(pd.DataFrame(rows))
    group = result.groups["all"]
    assert (group.n_patients, group.n_lesions, group.n_healed) == (4, 5, 3)
    assert group.median_weeks_to_closure == 3.0
    assert result.logrank_p is None and result.hazard_ratio is None
    curve = result.survival["all"].set_index("weeks")["open"]
    assert curve.loc[1.0] == pytest.approx(0.8)
    assert curve.loc[2.0] == pytest.approx(0.6)
    assert curve.loc[3.0] == pytest.approx(0.3)


def test_noiseless_exponential_shrinkage_gives_the_exact_slope():
    rows = []
    for i, area0 in enumerate([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]):
        start = D0 + timedelta(days=3 * i)
        rows += weekly(f"Q{i}", "L1", [area0 * math.exp(-0.2 * t) for t in range(8)], start)
    result = cohort_analysis(pd.DataFrame(rows))
    group = result.groups["all"]
    assert group.log_area_slope_per_week == pytest.approx(-0.2, abs=1e-3)
    low, high = group.slope_ci
    assert low < -0.2 < high
    # The smallest lesion ends at exp(-1.4) = 0.25 cm²: every visit is open, none healed.
    assert group.n_healed == 0 and group.median_weeks_to_closure is None
    assert any("not reached" in note for note in group.notes)
    assert len(result.open_visits) == len(rows)


def test_a_different_closure_threshold_changes_which_lesions_healed():
    rows = weekly("P1", "L1", [4, 0.4, 0.3, 0.2]) + weekly("P2", "L1", [4, 2, 1, 0.5])
    default = cohort_analysis(pd.DataFrame(rows))
    loose = cohort_analysis(pd.DataFrame(rows), closed_below_cm2=0.5)
    assert default.groups["all"].n_healed == 0
    assert loose.groups["all"].n_healed == 1  # P1 closed at weeks 1 and 2; P2 only at its last
    assert loose.lesions.set_index("patient").loc["P1", "weeks"] == 1.0
    assert loose.to_json()["options"]["closed_below_cm2"] == 0.5


# --------------------------------------------------------------------------------------------
# Bad input: one clear message, the rest still computed
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["patient", "taken_at", "wound_area_cm2"])
def test_a_missing_measurement_column_is_named(small, column):
    measurements, timeline, _ = small
    with pytest.raises(CohortError, match=rf"measurements: no column {column} \(found"):
        cohort_analysis(measurements.drop(columns=column), timeline, by="STS")


def test_without_a_lesion_column_each_patient_is_one_lesion():
    rows = weekly("A", "", [2.0, 1.0, 0.0, 0.0]) + weekly("B", "", [3.0, 2.0, 1.0])
    frame = pd.DataFrame(rows).drop(columns="lesion")
    result = cohort_analysis(frame)
    assert result.groups["all"].n_lesions == 2 and result.groups["all"].n_healed == 1
    assert any("no lesion column" in note for note in result.notes)


def test_a_missing_timeline_column_or_timeline_is_named(small):
    measurements, timeline, _ = small
    with pytest.raises(CohortError, match=r"timeline: no column kind"):
        cohort_analysis(measurements, timeline.drop(columns="kind"), by="STS")
    with pytest.raises(CohortError, match=r"--by STS needs a timeline"):
        cohort_analysis(measurements, None, by="STS")


def test_no_usable_row_at_all_is_an_error(small):
    measurements, _, _ = small
    with pytest.raises(CohortError, match="no row with a date and a calibrated wound_area_cm2"):
        cohort_analysis(measurements.assign(wound_area_cm2=None))


def test_a_timeline_patient_without_measurements_is_noted_and_ignored(small):
    measurements, timeline, _ = small
    ghost = pd.DataFrame(
        [{"patient": "GHOST-9", "kind": "STS", "start_on": "2025-03-01", "end_on": None}]
    )
    plain = cohort_analysis(measurements, timeline, by="STS")
    result = cohort_analysis(measurements, pd.concat([timeline, ghost]), by="STS")
    assert [n for n in result.notes if "GHOST-9" in n] == [
        "timeline: 1 patients have treatments but no measurements (GHOST-9); their treatments "
        "are ignored. Check the patient codes match the measurements'"
    ]
    assert result.n_patients == 40
    assert result.to_json()["groups"] == plain.to_json()["groups"]
    assert result.hazard_ratio == plain.hazard_ratio is not None


def test_a_kind_nobody_had_leaves_with_empty_and_says_so(small):
    measurements, timeline, _ = small
    result = cohort_analysis(measurements, timeline, by="HBOT")
    info = result.to_json()
    assert info["by"] == "hyperbaric_oxygen"
    assert info["groups"]["with"]["n_lesions"] == 0
    assert info["groups"]["with"]["median_weeks_to_closure"] is None
    assert info["groups"]["without"]["n_lesions"] == len(result.lesions) > 40
    assert info["groups"]["without"]["median_weeks_to_closure"] is not None
    assert info["logrank_p"] is None and info["hazard_ratio"] is None
    assert info["hazard_ratio_ci"] is None
    assert any("no event of kind 'hyperbaric_oxygen'" in n for n in info["notes"])
    assert any("group 'with' is empty" in n for n in info["notes"])
    json.dumps(info, allow_nan=False)


def test_rows_without_area_or_date_are_left_out_with_a_note(small):
    measurements, timeline, _ = small
    broken = measurements.copy()
    broken.loc[[0, 5], "wound_area_cm2"] = None  # no sticker: no area in cm²
    broken.loc[7, "wound_area_cm2"] = -1.0
    broken.loc[[1, 9], "taken_at"] = ["not a date", None]
    visits, notes = visit_table(broken, name="all.csv")
    assert len(visits) == len(measurements) - 5
    assert notes == [
        "all.csv: 2 rows without a readable taken_at date left out (first: row 3); write dates "
        "as YYYY-MM-DD",
        "all.csv: 3 rows without a calibrated wound_area_cm2 left out (photos without a sticker "
        "have no area in cm²)",
    ]
    result = cohort_analysis(broken, timeline, by="STS", measurements_name="all.csv")
    assert list(result.notes[:2]) == notes
    assert result.hazard_ratio is not None and result.n_patients == 40


def test_research_export_column_names_are_read_as_their_counterparts(small):
    measurements, timeline, _ = small
    plain = cohort_analysis(measurements, timeline, by="STS").to_json()
    renamed = cohort_analysis(
        measurements.rename(columns={"patient": "subject", "taken_at": "taken_on_shifted"}),
        timeline.rename(
            columns={
                "patient": "subject",
                "start_on": "start_on_shifted",
                "end_on": "end_on_shifted",
            }
        ),
        by="STS",
    ).to_json()
    assert renamed["groups"] == plain["groups"]
    assert renamed["n_patients"] == plain["n_patients"] == 40
    assert renamed["hazard_ratio"] == plain["hazard_ratio"]


def test_column_names_are_matched_whatever_their_case_and_spaces(small):
    measurements, _, _ = small
    shouting = measurements.rename(columns={"patient": " Patient ", "taken_at": "TAKEN_AT"})
    assert (
        cohort_analysis(shouting).to_json()["groups"]
        == cohort_analysis(measurements).to_json()["groups"]
    )


def test_integer_dates_are_left_out_not_read_as_1970(small):
    # read_csv types 20250106 as an integer; pandas would read it as nanoseconds of 1970.
    measurements, _, _ = small
    compact = measurements.assign(
        taken_at=measurements["taken_at"].str.replace("-", "").astype(int)
    )
    mixed = pd.concat([measurements.iloc[:10], compact.iloc[10:12]], ignore_index=True)
    visits, notes = visit_table(mixed, name="all.csv")
    assert len(visits) == 10 and date(1970, 1, 1) not in set(visits["taken_on"])
    assert notes == [
        "all.csv: 2 rows without a readable taken_at date left out (first: row 12); write dates "
        "as YYYY-MM-DD"
    ]
    with pytest.raises(CohortError, match="no row with a date"):
        cohort_analysis(compact)


def test_day_first_dates_are_not_silently_misread(small):
    measurements, _, _ = small
    day_first = measurements.assign(
        taken_at=pd.to_datetime(measurements["taken_at"]).dt.strftime("%d/%m/%Y")
    )
    visits, notes = visit_table(day_first, name="dmy.csv")
    assert visits.empty  # 06/01/2025 is June in one country, January in another: never guessed
    assert notes and "dmy.csv" in notes[0] and "YYYY-MM-DD" in notes[0]


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory, small):
    measurements, timeline, _ = small
    folder = tmp_path_factory.mktemp("cohort")
    measurements.to_csv(folder / "M.csv", index=False)
    measurements.to_parquet(folder / "M.parquet", index=False)
    timeline.to_csv(folder / "T.csv", index=False)
    return folder


def test_cli_cohort_prints_json_and_writes_the_html_report(capsys, cohort_files, small):
    report = cohort_files / "R.html"
    status, out, err = run(
        capsys,
        "cohort",
        "--measurements",
        str(cohort_files / "M.csv"),
        "--timeline",
        str(cohort_files / "T.csv"),
        "--by",
        "sodium_thiosulfate",
        "--json",
        "--html",
        str(report),
    )
    assert status == 0, err
    info = json.loads(out)
    assert TOP_KEYS <= set(info)
    assert set(info["groups"]) == {"with", "without"}
    assert all(GROUP_KEYS <= set(g) for g in info["groups"].values())
    assert info["n_patients"] == 40
    # The same figures as the library's on the same table.
    measurements, timeline, _ = small
    direct = cohort_analysis(measurements, timeline, by="sodium_thiosulfate").to_json()
    assert info["groups"] == direct["groups"]
    assert info["hazard_ratio"] == pytest.approx(direct["hazard_ratio"])
    text = report.read_text(encoding="utf-8")
    assert "Kaplan" in text
    assert f"<td>woundtrack version</td><td>{__version__}</td>" in text
    assert "<td>M.csv</td>" in text  # the source is named in the provenance
    assert f"wrote {report}" in err
    # it opens offline: Plotly's script is inside, once, and nothing is fetched
    assert text.count("<script>/**") == 1  # plotly.js, inlined
    assert "<script src=" not in text and 'src="http' not in text


def test_cli_cohort_reads_parquet_like_csv(capsys, cohort_files):
    args = ["--timeline", str(cohort_files / "T.csv"), "--by", "STS", "--json"]
    status, from_csv, _ = run(
        capsys, "cohort", "--measurements", str(cohort_files / "M.csv"), *args
    )
    assert status == 0
    status, from_parquet, err = run(
        capsys, "cohort", "--measurements", str(cohort_files / "M.parquet"), *args
    )
    assert status == 0, err
    a, b = json.loads(from_csv), json.loads(from_parquet)
    assert a["groups"] == b["groups"] and a["n_patients"] == b["n_patients"] == 40


def test_cli_cohort_text_output_names_each_group(capsys, cohort_files):
    status, out, _ = run(
        capsys,
        "cohort",
        "--measurements",
        str(cohort_files / "M.csv"),
        "--timeline",
        str(cohort_files / "T.csv"),
        "--by",
        "STS",
    )
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("with sodium thiosulfate: ")
    assert any(line.startswith("without sodium thiosulfate: ") for line in lines)
    assert lines[-1].startswith("Between groups (sodium_thiosulfate): log-rank p ")


def test_cli_cohort_adjusts_for_distribution_when_asked(capsys, tmp_path, confounded, adjusted):
    measurements, timeline, _ = confounded
    measurements.to_csv(tmp_path / "M.csv", index=False)
    timeline.to_csv(tmp_path / "T.csv", index=False)
    files = ("--measurements", str(tmp_path / "M.csv"), "--timeline", str(tmp_path / "T.csv"))
    status, out, _ = run(
        capsys, "cohort", *files, "--by", "STS", "--adjust-for-distribution", "--json"
    )
    assert status == 0
    info = json.loads(out)
    assert info["adjusted_for_distribution"]["hazard_ratio"] == pytest.approx(
        adjusted.adjusted.hazard_ratio, rel=1e-9
    )
    assert info["hazard_ratio"] == pytest.approx(adjusted.hazard_ratio, rel=1e-9)


def test_cli_cohort_missing_file_fails_naming_it(capsys, cohort_files):
    status, out, err = run(
        capsys,
        "cohort",
        "--measurements",
        str(cohort_files / "nowhere.csv"),
        "--timeline",
        str(cohort_files / "T.csv"),
        "--by",
        "STS",
    )
    assert status == 1 and out == ""
    assert err.strip() == (
        "woundtrack: nowhere.csv: no such file; give the measurements file's path"
    )


def test_cli_cohort_missing_column_fails_with_one_line(capsys, cohort_files, small):
    measurements, _, _ = small
    path = cohort_files / "no_area.csv"
    measurements.drop(columns="wound_area_cm2").to_csv(path, index=False)
    status, _, err = run(capsys, "cohort", "--measurements", str(path))
    assert status == 1
    assert err.startswith("woundtrack: no_area.csv: no column wound_area_cm2")
    assert len(err.strip().splitlines()) == 1


def test_cli_timeline_without_measurements_is_a_usage_error(capsys, cohort_files):
    status, out, err = run(capsys, "cohort", "--timeline", str(cohort_files / "T.csv"))
    assert status == 2 and out == ""
    assert "--timeline goes with --measurements" in err
