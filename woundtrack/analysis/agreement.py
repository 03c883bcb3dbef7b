"""Agreement between woundtrack's areas and a reference measured by hand or by another device.

What a validation paper reports: the intraclass correlation ICC(2,1) (two-way random effects,
absolute agreement, single measurement; Shrout & Fleiss 1979, McGraw & Wong 1996) with its 95 %
interval, from pingouin's ``intraclass_corr`` (its ``ICC(A,1)``, called ``ICC2`` before
pingouin 0.7; the interval is given to two decimals); and the Bland–Altman bias (mean of
woundtrack minus reference) with the 95 % limits of agreement, bias ± 1.96 standard deviations of
the differences (Bland & Altman 1986).

Pairs are matched on patient and capture day, and on lesion when the reference has a ``lesion``
column. Without one, a patient-day on which woundtrack measured several lesions cannot be paired
(which lesion did the ruler measure?) and is left out with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from woundtrack.analysis.cohort import CohortError, visit_table

__all__ = ["REFERENCE_COLUMNS", "AgreementResult", "agreement"]

REFERENCE_COLUMNS = ("patient", "taken_at", "area_cm2")
#: Fewest pairs for an ICC and limits of agreement.
MIN_PAIRS = 3
#: Limits of agreement: bias ± this many standard deviations (a 95 % range of differences).
LOA_SD = 1.96


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementResult:
    """ICC(2,1) and Bland–Altman figures of woundtrack against a reference (areas in cm²)."""

    n_pairs: int
    icc: float | None  # None where undefined (a note says why)
    icc_ci: tuple[float | None, float | None]
    bias_cm2: float
    sd_diff_cm2: float
    loa_low_cm2: float
    loa_high_cm2: float
    notes: tuple[str, ...]
    pairs: pd.DataFrame = field(repr=False, compare=False)

    def to_json(self) -> dict:
        import pingouin

        from woundtrack import __version__

        return {
            "n_pairs": self.n_pairs,
            "icc_2_1": self.icc,
            "icc_ci": list(self.icc_ci),
            "bias_cm2": self.bias_cm2,
            "sd_diff_cm2": self.sd_diff_cm2,
            "loa_low_cm2": self.loa_low_cm2,
            "loa_high_cm2": self.loa_high_cm2,
            "notes": list(self.notes),
            "versions": {"woundtrack": __version__, "pingouin": pingouin.__version__},
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _reference(reference: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = reference.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise CohortError(
            f"{name}: no column {', '.join(missing)} (found {', '.join(map(str, frame.columns))});"
            " a reference needs patient, taken_at, area_cm2 (and lesion where a patient has "
            "several)"
        )
    if "lesion" not in frame.columns:
        frame = frame.assign(lesion="")
    visits, notes = visit_table(
        frame,
        name=name,
        area_column="area_cm2",
        no_area="without an area_cm2 (empty, not a number or negative) left out",
    )
    return visits.rename(columns={"wound_area_cm2": "reference_cm2"}), notes


def agreement(
    measurements: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    measurements_name: str = "measurements",
    reference_name: str = "reference",
) -> AgreementResult:
    """Pair woundtrack's wound areas with the reference's and compute ICC(2,1) and Bland–Altman.

    Raises
    ------
    CohortError
        A column is missing, or fewer than ``MIN_PAIRS`` pairs match.
    """
    import pingouin

    ours, notes = visit_table(measurements, name=measurements_name)
    theirs, ref_notes = _reference(reference, reference_name)
    notes += ref_notes
    by_lesion = "lesion" in reference.rename(columns=lambda c: str(c).strip().lower()).columns
    keys = ["patient", "taken_on", *(["lesion"] if by_lesion else [])]
    ours = ours.groupby(["patient", "lesion", "taken_on"], as_index=False)["wound_area_cm2"].mean()
    if not by_lesion:
        counts = ours.groupby(["patient", "taken_on"])["lesion"].transform("nunique")
        several = ours[counts > 1]
        if not several.empty:
            notes.append(
                f"{reference_name}: {several.groupby(['patient', 'taken_on']).ngroups} "
                "patient-days have several lesions in the measurements and no lesion column in "
                "the reference; they are left out (add a lesion column to pair them)"
            )
        ours = ours[counts == 1]
    theirs = theirs.groupby(keys, as_index=False)["reference_cm2"].mean()
    pairs = ours.merge(theirs, on=keys, how="inner")
    unmatched = len(theirs) - len(pairs)
    if unmatched:
        notes.append(
            f"{reference_name}: {unmatched} reference rows have no woundtrack measurement on the "
            "same patient and day; left out"
        )
    if len(pairs) < MIN_PAIRS:
        raise CohortError(
            f"{reference_name}: {len(pairs)} pairs match the measurements (patient and day); "
            f"agreement needs at least {MIN_PAIRS}"
        )
    pairs = pairs.reset_index(drop=True)
    pairs["pair"] = np.arange(len(pairs))
    long = pd.concat(
        [
            pd.DataFrame(
                {"pair": pairs["pair"], "method": "woundtrack", "area": pairs["wound_area_cm2"]}
            ),
            pd.DataFrame(
                {"pair": pairs["pair"], "method": "reference", "area": pairs["reference_cm2"]}
            ),
        ]
    )
    table = pingouin.intraclass_corr(
        data=long, targets="pair", raters="method", ratings="area"
    ).set_index("Type")
    row = "ICC(A,1)" if "ICC(A,1)" in table.index else "ICC2"  # pingouin >= 0.7 / older
    icc = float(table.loc[row, "ICC"])
    low, high = (float(v) for v in table.loc[row, "CI95"])  # pingouin rounds it to 0.01
    if not all(math.isfinite(v) for v in (icc, low, high)):
        notes.append(
            "the ICC or its interval is undefined for these pairs (e.g. every difference the "
            "same, or no spread between visits); read the Bland–Altman figures instead"
        )
    diff = pairs["wound_area_cm2"] - pairs["reference_cm2"]
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    pairs["mean_cm2"] = (pairs["wound_area_cm2"] + pairs["reference_cm2"]) / 2
    pairs["diff_cm2"] = diff
    return AgreementResult(
        n_pairs=len(pairs),
        icc=_finite(icc),
        icc_ci=(_finite(low), _finite(high)),
        bias_cm2=bias,
        sd_diff_cm2=sd,
        loa_low_cm2=bias - LOA_SD * sd,
        loa_high_cm2=bias + LOA_SD * sd,
        notes=tuple(notes),
        pairs=pairs,
    )
