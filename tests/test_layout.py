"""The house's rooms and the one-way imports between them.

``woundtrack/image`` (read, calibrate, segment, measure, overlay, register) imports nothing from
the record, the analytics, the presentation or the faces; analytics and presentation never reach
the database; only the record speaks SQL; only the faces (``app.py``, ``app_pages/``) use
Streamlit; the store saves finished values and never decodes, analyses or registers a photo (the
ingest step does); the synthetic phantoms stay out of the runtime path. Every import statement is
read from the source (``ast``), so an import inside a function counts too.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "woundtrack"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                anchor = (package or _module_name(path)).split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def _sources() -> dict[str, set[str]]:
    """Every module's imports, read once per process when a test first asks (not at
    collection, which every pytest-xdist worker does)."""
    paths = [*PACKAGE.rglob("*.py"), ROOT / "app.py", *(ROOT / "app_pages").glob("*.py")]
    return {
        _module_name(p): _imports(p) for p in paths if "migrations" not in p.relative_to(ROOT).parts
    }


def _in(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(rule: dict) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in _sources().items()
        if _in(module, *rule["importers"]) and not _in(module, *rule.get("except", ()))
        for target in targets
        if _in(target, *rule["forbidden"]) and not _in(target, *rule.get("allowed", ()))
    )


FACES = ("woundtrack.cli", "app", "app_pages")
EVERYTHING = ("woundtrack", "app", "app_pages")
NO_RECORD_PHANTOMS_OR_FACES = (
    "woundtrack.record",
    "woundtrack.synthetic",
    *FACES,
    "sqlalchemy",
    "alembic",
    "streamlit",
)
RULES = {
    "image stages import no record, analytics, presentation, face or phantom": {
        "importers": ("woundtrack.image",),
        "forbidden": (
            "woundtrack.record",
            "woundtrack.analysis",
            "woundtrack.present",
            "woundtrack.synthetic",
            *FACES,
            "sqlalchemy",
            "alembic",
            "streamlit",
        ),
    },
    "analytics work on values: no image stages, no store": {
        "importers": ("woundtrack.analysis",),
        "forbidden": ("woundtrack.image", "woundtrack.present", "woundtrack.synthetic"),
    },
    "analytics and presentation never reach the store or SQL": {
        "importers": ("woundtrack.analysis", "woundtrack.present"),
        "forbidden": ("woundtrack.record", "sqlalchemy", "alembic", "streamlit", *FACES),
    },
    "interop turns values into documents: no record, SQL, phantoms or faces": {
        "importers": ("woundtrack.interop",),
        "forbidden": NO_RECORD_PHANTOMS_OR_FACES,
    },
    "learning reads photos and scores outlines: no record, SQL, phantoms or faces": {
        "importers": ("woundtrack.learn",),
        "forbidden": NO_RECORD_PHANTOMS_OR_FACES,
    },
    "only the fine-tune imports torch (measuring never needs it)": {
        "importers": EVERYTHING,
        "except": ("woundtrack.learn.finetune", "woundtrack.learn.onnx_net"),
        "forbidden": ("torch",),
    },
    "models, errors and body sites stand on nothing of woundtrack's": {
        "importers": ("woundtrack.models", "woundtrack.errors", "woundtrack.body_sites"),
        "forbidden": ("woundtrack",),
        "allowed": ("woundtrack.errors",),
    },
    "only the record imports SQLAlchemy and Alembic": {
        "importers": EVERYTHING,
        "except": ("woundtrack.record",),
        "forbidden": ("sqlalchemy", "alembic"),
    },
    "only the faces import Streamlit": {
        "importers": EVERYTHING,
        "except": ("app", "app_pages"),
        "forbidden": ("streamlit",),
    },
    "the store and schema never decode, analyse or register a photo": {
        "importers": ("woundtrack.record.store", "woundtrack.record.db"),
        "forbidden": ("woundtrack.image",),
        "allowed": ("woundtrack.image.lesion_matching",),  # pure geometry on stored positions
    },
    "the runtime never imports the synthetic phantoms": {
        "importers": EVERYTHING,
        "except": ("woundtrack.synthetic",),
        "forbidden": ("woundtrack.synthetic",),
    },
}


@pytest.mark.parametrize("rule", list(RULES))
def test_imports_go_one_way(rule):
    found = _violations(RULES[rule])
    assert found == [], f"{rule}:\n" + "\n".join(found)


def test_the_checker_sees_a_violation(tmp_path):
    """The walk finds plain, from-, relative and function-level imports alike."""
    bad = tmp_path / "woundtrack" / "image" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "import sqlalchemy\nfrom ..record import store\n\ndef f():\n    import streamlit as st\n",
        encoding="utf-8",
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = _imports(bad)
    finally:
        ROOT = saved
    assert {"sqlalchemy", "woundtrack.record", "woundtrack.record.store", "streamlit"} <= found


def test_every_room_has_a_docstring_that_says_what_it_holds():
    for room in ("image", "record", "analysis", "present", "synthetic", "interop", "learn"):
        init = PACKAGE / room / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"woundtrack/{room}/__init__.py needs a docstring"
