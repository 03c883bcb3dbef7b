"""The clinic's models: add a checked network to the database, and measure with the active one.

A model is checked (``image.learned.check_model``) before it is stored, so a corrupt file or a
model for another label set never becomes the active one. The database keeps each model's bytes;
to run one, it is written once to the user cache folder under its SHA-256 and read from there
(checked against the hash each time the file is taken from the cache).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from woundtrack.errors import ModelError
from woundtrack.image.learned import (
    LearnedSegmenter,
    check_model,
    default_model_path,
    file_sha256,
)
from woundtrack.record.store import SHIPPED_MODEL, ModelEntry, Store


def add_model(store: Store, data: bytes, *, name: str, file_name: str) -> ModelEntry:
    """Check ``data`` (an ONNX file called ``file_name``) and keep it as ``name`` (admins only).

    Raises ``woundtrack.errors.ModelError`` for a file that cannot measure, ``StoreError`` for a
    name in use, ``AccessError`` for a user who is not an admin; nothing is stored then."""
    info = check_model(data, name=file_name)
    return store.add_model(
        name,
        data,
        sha256=info.sha256,
        version=info.version,
        base_version=info.base_version,
        card=info.card,
    )


def model_path(store: Store, name: str) -> Path:
    """A file holding the registry's model ``name`` (the shipped model's own file for
    ``SHIPPED_MODEL``)."""
    if name == SHIPPED_MODEL:
        return default_model_path()
    entry = next((m for m in store.models() if m.name == name), None)
    if entry is None:
        raise ModelError(f"no model called {name!r} in this database; see woundtrack model list")
    folder = Path(platformdirs.user_cache_dir("woundtrack", appauthor=False)) / "models"
    path = folder / f"{entry.sha256}.onnx"
    if path.is_file() and file_sha256(str(path), path.stat().st_mtime_ns) == entry.sha256:
        return path  # the hash is read once per file version, not once per photo
    data = store.model_data(name)
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ModelError(
            f"the stored model {name!r} does not match its hash; add it again from its file"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as f:
        f.write(data)
    os.replace(f.name, path)  # whole or not at all, also with two processes at once
    return path


def segmenter_for(store: Store, name: str) -> LearnedSegmenter:
    """The learned segmenter running the registry's model ``name``."""
    if name == SHIPPED_MODEL:
        return LearnedSegmenter()
    return LearnedSegmenter(model_path=str(model_path(store, name)), model_name=name)


def active_segmenter(store: Store) -> LearnedSegmenter:
    """The segmenter that measures new photos in this database (``Store.active_model``)."""
    return segmenter_for(store, store.active_model())


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Two models' wound-bed scores on the same outlined photos (``compare_models``)."""

    photos: str  # what was scored
    names: tuple[str, str]  # (the model in use or shipped, the candidate)
    scores: tuple[dict | None, dict | None]
    per_photo: list[tuple[str, float, float]]  # (id, Dice of the first, of the second)
    problems: list[str]
    #: Each skin-tone group's scores of the two models (``evaluation.score_by_skin_tone``).
    by_skin_tone: dict[str, tuple[dict, dict]] = field(default_factory=dict)

    def text(self) -> str:
        a, b = self.names
        sa_, sb = self.scores
        if sa_ is None or sb is None:
            return f"no outlined photos to compare on ({self.photos})"
        lines = [
            f"{self.photos}: {sa_['n_images']} photo(s)",
            f"{'':<22s} {a[:20]:>20s} {b[:20]:>20s}",
        ]
        for key, label in (
            ("data_based_dice", "Dice (pixels pooled)"),
            ("mean_image_dice", "Dice (mean per photo)"),
            ("precision", "precision"),
            ("recall", "recall"),
        ):
            lines.append(f"{label:<22s} {sa_[key]:>20.3f} {sb[key]:>20.3f}")
        gain = sb["data_based_dice"] - sa_["data_based_dice"]
        better = sum(y > x for _, x, y in self.per_photo)
        lines.append(
            f"{b} {'gains' if gain >= 0 else 'loses'} {abs(gain):.3f} Dice; better on {better} "
            f"of {len(self.per_photo)} photo(s)"
        )
        if self.by_skin_tone:
            lines.append("Dice (pixels pooled) by the skin around the wound (ITA°):")
            for tone, (ta, tb) in self.by_skin_tone.items():
                label = f"  {tone} ({ta['n_images']})"
                lines.append(
                    f"{label:<22s} {ta['data_based_dice']:>20.3f} {tb['data_based_dice']:>20.3f}"
                )
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "photos": self.photos,
            "models": list(self.names),
            "scores": dict(zip(self.names, self.scores, strict=True)),
            "per_photo": [
                {"id": i, self.names[0]: x, self.names[1]: y} for i, x, y in self.per_photo
            ],
            "by_skin_tone": {
                tone: dict(zip(self.names, pair, strict=True))
                for tone, pair in self.by_skin_tone.items()
            },
        }


def compare_models(
    store: Store,
    name: str,
    *,
    against: str = SHIPPED_MODEL,
    images: Path | None = None,
    masks: Path | None = None,
) -> Comparison:
    """Score the registry's model ``name`` beside ``against`` on the outlined photos of
    ``images``/``masks``, or else on the database's accepted corrections that ``name`` was not
    tuned on (its card's ``tuned_on``)."""
    from woundtrack.image.evaluation import (
        mask_scores,
        periwound_ita_deg,
        score_by_skin_tone,
        score_dataset,
        skin_tone_group,
    )
    from woundtrack.learn.pairs import load_pairs, make_pair, score_rows
    from woundtrack.record.training_set import outlined_photos, wound_mask

    candidate = segmenter_for(store, name)
    base = segmenter_for(store, against)
    problems: list[str] = []
    if images is not None and masks is not None:
        pairs, problems = load_pairs(images, masks)
        what = f"photos of {images}"
    else:
        entry = next((m for m in store.models() if m.name == name), None)
        tuned_on = set((entry.card or {}).get("tuned_on", ())) if entry else set()
        pairs = [
            make_pair(e.id, image, wound_mask(labels))
            for e, image, labels in outlined_photos(store, accepted_only=True)
            if e.id not in tuned_on
        ]
        what = f"accepted corrections {name} was not tuned on"
    if not pairs:
        return Comparison(
            photos=what,
            names=(against, name),
            scores=(None, None),
            per_photo=[],
            problems=problems,
        )
    rows_a, rows_b = score_rows(pairs, base), score_rows(pairs, candidate)
    tones = [skin_tone_group(periwound_ita_deg(p.image, p.mask)) for p in pairs]
    tone_a = score_by_skin_tone((t, *r) for t, r in zip(tones, rows_a, strict=True))
    tone_b = score_by_skin_tone((t, *r) for t, r in zip(tones, rows_b, strict=True))

    per_photo = [
        (p.name, mask_scores(*a)["dice"], mask_scores(*b)["dice"])
        for p, a, b in zip(pairs, rows_a, rows_b, strict=True)
    ]
    return Comparison(
        photos=what,
        names=(against, name),
        scores=(score_dataset(rows_a), score_dataset(rows_b)),
        per_photo=per_photo,
        problems=problems,
        by_skin_tone={tone: (tone_a[tone], tone_b[tone]) for tone in tone_a},
    )
