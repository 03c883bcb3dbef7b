"""The README is the user's first screen: every command and option the CLI has is documented."""

from pathlib import Path

from woundtrack.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_command_is_in_the_readme():
    for name in _subcommands():
        assert f"woundtrack {name}" in README or f"`{name} " in README, name


def test_every_option_is_in_the_readme():
    for name, sub in _subcommands().items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help",):
                    assert option in README, f"{name} {option}"


def test_the_two_setup_commands_are_there_and_ci_runs_the_test_one():
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    app = venv + "pip install -q -e . && streamlit run app.py"
    tests = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[dev]' && pytest -q"
    )
    assert app in README and tests in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci
