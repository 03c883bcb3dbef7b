"""How fast the shipped wound-bed network runs on this machine's CPU (onnxruntime).

    python benchmarks/segment_speed.py [REPEATS] [MODEL.onnx]

Prints milliseconds per 512x512 image for the network alone, then for the whole learned segmenter
(two passes, full-resolution border, tissues, erythema) beside the classical one, on a 512x512
crop and on a 12 MP (4000x3000) phantom photo. Medians of REPEATS runs after a warm-up. The whole
``woundtrack measure`` of a photo (decode, calibration, segmentation, measurement) is timed by
``benchmarks/measure_speed.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from woundtrack.image import learned
from woundtrack.image.calibration import calibrate
from woundtrack.image.segmentation import ClassicalSegmenter
from woundtrack.synthetic.phantom import PhantomSpec, render_phantom


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main(repeats: int = 10, model_path: str | None = None) -> None:
    model_path = model_path or str(learned.default_model_path())
    session = learned.load_model(model_path)
    print(
        f"model {os.path.basename(model_path)} v{learned.model_version(session)}, "
        f"{os.cpu_count()} CPU cores, median of {repeats}"
    )
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 512, 512)).astype(np.float32)
    name = session.get_inputs()[0].name
    ms = _median_ms(lambda: session.run(None, {name: x}), repeats)
    print(f"{'network alone, 512x512:':35s}{ms:7.1f} ms")
    own = learned.params_for_model(session).network_long_side_px
    if own != 512:  # a model trained at a smaller scale runs its first pass at that size
        x = x[:, :, :own, :own].copy()
        ms = _median_ms(lambda: session.run(None, {name: x}), repeats)
        print(f"{f'network alone, {own}x{own} (its own):':35s}{ms:7.1f} ms")

    big = render_phantom(PhantomSpec(width_px=4000, height_px=3000, seed=3)).image
    crop = np.ascontiguousarray(big[1244:1756, 1744:2256])
    for seg in (learned.LearnedSegmenter(model_path=model_path), ClassicalSegmenter()):
        for label, image in (("512x512", crop), ("12 MP", big)):
            calibration, _ = calibrate(image)
            ms = _median_ms(lambda s=seg, i=image, c=calibration: s(i, c), repeats)
            print(f"{seg.name + ' segmenter, ' + label + ':':35s}{ms:7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, sys.argv[2] if len(sys.argv) > 2 else None)
