"""The test run's memories (``tests/conftest.py``) serve the code paths the tests take: a
memory that the pipeline bypasses costs the suite minutes and says nothing (the labels' memory
sat on ``LearnedSegmenter.__call__`` while the pipeline called ``segment_with_doubt``)."""

from __future__ import annotations

import onnxruntime

from woundtrack.image.pipeline import analyze_image, make_segmenter
from woundtrack.models import PhotoInfo
from woundtrack.synthetic.phantom import PhantomSpec


def test_a_photo_segmented_again_in_the_pipeline_runs_no_network(phantom, monkeypatch) -> None:
    image = phantom(PhantomSpec(seed=31, width_px=640, height_px=480)).image
    info = PhotoInfo(file="memory.png", sha256="0" * 64, format="PNG", width_px=640, height_px=480)
    segmenter = make_segmenter()
    first = analyze_image(image, info, segmenter=segmenter)
    runs = []
    run = onnxruntime.InferenceSession.run
    monkeypatch.setattr(
        onnxruntime.InferenceSession,
        "run",
        lambda self, *a, **k: runs.append(1) or run(self, *a, **k),
    )
    again = analyze_image(image, info, segmenter=segmenter)
    assert runs == []  # served from the run's memory, by the path analyze_image takes
    assert (again.labels == first.labels).all() and again.labels is not first.labels
