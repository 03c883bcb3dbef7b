"""Mutation score of the clinical core (issue 30): a benchmark, never run in CI.

Plants one small bug at a time (mutmut 3: a changed operator, constant, string, argument...)
in the five clinical modules and runs each module's own fast tests against it; a mutant the
tests do not notice "survives". Each module runs in its own copy of the project under
``.mutation/<module>/`` (git's files, ``sample_images/`` for the demo timeline) with the
``[tool.mutmut]`` settings of pyproject.toml, narrowed to that module and its test files below.

    pip install -e '.[dev]'
    python benchmarks/mutation_score.py            # all five modules (about 30-60 min, 2 cores)
    python benchmarks/mutation_score.py healing    # one module
    python benchmarks/mutation_score.py --report   # the table from the last run, running nothing
    cd .mutation/healing && mutmut show woundtrack.analysis.healing.x_<function>__mutmut_<n>

Score = (killed + timed out) / (every mutant checked, "no tests" counted as surviving).
Every run starts afresh (mutmut's own cache does not always notice a changed test file);
``--keep`` reuses each copy's ``mutants/`` and runs only the mutants not yet checked (new or
changed functions); ``--recheck`` also runs the surviving ones again (after adding tests).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORK = ROOT / ".mutation"

# module -> (dotted name, its own test files)
MODULES = {
    "healing": ("woundtrack.analysis.healing", ["tests/test_healing.py"]),
    "timeline": ("woundtrack.analysis.timeline", ["tests/test_timeline.py"]),
    "measure": ("woundtrack.image.measure", ["tests/test_measure.py"]),
    "lesion_matching": (
        "woundtrack.image.lesion_matching",
        ["tests/test_lesions_and_registration.py"],
    ),
    "calibration": ("woundtrack.image.calibration", ["tests/test_calibration.py"]),
}

# mutmut 3 "results --all true" lines:  "    woundtrack.analysis.healing.x_f__mutmut_3: killed"
_LINE = re.compile(r"^\s*(woundtrack\.[\w.]+?)\.x\S*__mutmut_\d+: (.+)$")
_KILLED = {"killed", "caught by type check"}
_TIMEOUT = {"timeout"}
_SURVIVED = {"survived", "no tests", "suspicious"}


def _mutmut(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=WORK / module, text=True, capture_output=True
    )


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def prepare(module: str) -> None:
    """Refresh ``.mutation/<module>/`` from the working tree, with that module's settings."""
    dotted, tests = MODULES[module]
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.splitlines()
    copy = WORK / module
    for name in files:
        source, target = ROOT / name, copy / name
        if not source.is_file():
            continue
        if target.exists() and target.read_bytes() == source.read_bytes():
            continue  # unchanged: mutmut's cache stays valid
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(text)["tool"]["mutmut"]
    start = text.index("[tool.mutmut]")
    end = text.find("\n[", start + 1)
    section = "\n".join(
        [
            "[tool.mutmut]",
            'source_paths = ["woundtrack"]',
            f'only_mutate = ["{dotted.replace(".", "/")}.py"]',
            f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
            f"pytest_add_cli_args = {_toml_list(base.get('pytest_add_cli_args', []))}",
            f"also_copy = {_toml_list(base.get('also_copy', []))}",
            "",
        ]
    )
    text = text[:start] + section + (text[end:] if end != -1 else "")
    target = copy / "pyproject.toml"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def _forget_survivors(module: str) -> int:
    """Mark the module's surviving mutants as not checked; returns how many."""
    path = WORK / module / "mutants" / (MODULES[module][0].replace(".", "/") + ".py.meta")
    if not path.exists():
        return 0
    meta = json.loads(path.read_text(encoding="utf-8"))
    codes = meta["exit_code_by_key"]
    survivors = [k for k, v in codes.items() if v == 0]
    for key in survivors:
        codes[key] = None
    path.write_text(json.dumps(meta), encoding="utf-8")
    return len(survivors)


def run(module: str, children: int, keep: bool, recheck: bool) -> None:
    print(f"mutmut run {module} ...", flush=True)
    prepare(module)
    if not keep and not recheck:
        shutil.rmtree(WORK / module / "mutants", ignore_errors=True)
    if recheck:
        print(f"  {_forget_survivors(module)} survivors to check again", flush=True)
    # No mutant names: mutmut then runs only the mutants without a verdict (naming them, even by
    # a pattern, runs them all again).
    done = _mutmut(module, "run", "--max-children", str(children))
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"mutmut run failed for {module} (exit {done.returncode})")


def counts(module: str) -> Counter[str]:
    """mutmut's verdicts on the module's mutants, by status (empty before the first run)."""
    found: Counter[str] = Counter()
    if not (WORK / module / "mutants").is_dir():
        return found
    done = _mutmut(module, "results", "--all", "true")
    for line in done.stdout.splitlines():
        match = _LINE.match(line)
        if match and match.group(1) == MODULES[module][0]:
            found[match.group(2).strip()] += 1
    return found


def report(modules: list[str]) -> None:
    head = f"{'module':<16} {'mutants':>8} {'killed':>7} {'survived':>9} {'timeout':>8}"
    head += f" {'score':>7}"
    print(head)
    print("-" * len(head))
    total: Counter[str] = Counter()
    for name in modules:
        c = counts(name)
        killed = sum(c[s] for s in _KILLED)
        timeout = sum(c[s] for s in _TIMEOUT)
        survived = sum(c[s] for s in _SURVIVED)
        checked = killed + timeout + survived
        other = sum(c.values()) - checked  # "not checked", "skipped": not run yet
        total.update(killed=killed, timeout=timeout, survived=survived, checked=checked)
        score = f"{100 * (killed + timeout) / checked:.1f}%" if checked else "-"
        note = f"  ({other} not run)" if other else ""
        print(f"{name:<16} {checked:>8} {killed:>7} {survived:>9} {timeout:>8} {score:>7}{note}")
    print("-" * len(head))
    if total["checked"]:
        score = 100 * (total["killed"] + total["timeout"]) / total["checked"]
        print(
            f"{'clinical core':<16} {total['checked']:>8} {total['killed']:>7} "
            f"{total['survived']:>9} {total['timeout']:>8} {score:>6.1f}%"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(MODULES)} (default all)")
    parser.add_argument("--report", action="store_true", help="print the last results only")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's verdicts")
    parser.add_argument(
        "--recheck", action="store_true", help="reuse the verdicts but run the survivors again"
    )
    parser.add_argument("--children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    if not args.report:
        for module in modules:
            run(module, args.children, args.keep, args.recheck)
    report(modules)


if __name__ == "__main__":
    main()
