"""Export trained weights to the ONNX file that ships in the package.

    python -m training.export runs/wound-bed/weights_fp16.pt woundtrack/weights/wound_bed.onnx
    python -m training.export runs/tissue/weights_fp16.pt woundtrack/weights/tissue.onnx

The graph takes ``input`` (N, 3, H, W) float32 RGB in [-1, 1], H and W multiples of 32, and gives
``logits``: (N, 1, H, W) for the wound-bed network, (N, 4, H, W) for the tissue network
(``training.model.TissueNet``, recognised by its weights; its file says
``woundtrack_labels = tissue``). Weights are stored as float32 (onnxruntime's CPU kernels are
float32; 3.8 M parameters make about 15 MB). The export is checked against torch on a random
input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization.shape_inference import quant_pre_process

from .model import TissueNet, WoundBedNet, decoder_of, load_weights


def model_for(state: dict) -> torch.nn.Module:
    """The network that ``state`` (a saved state dict) belongs to, with its weights."""
    model = TissueNet() if is_tissue(state) else WoundBedNet(decoder_of(state))
    model.load_state_dict(state)
    return model.eval()


def is_tissue(state: dict) -> bool:
    return not any(k.startswith("up4.") for k in state)


def export(weights: Path, onnx_path: Path, metadata: dict[str, str] | None = None) -> float:
    """Write the ONNX model; return the largest |difference| from torch on a test input."""
    model = model_for(load_weights(weights))
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 256, 320)).astype("f4"))
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path = onnx_path.with_suffix(".raw.onnx")
    torch.onnx.export(
        model,
        (x,),
        str(raw_path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
        opset_version=17,
        dynamo=False,
    )
    # onnxruntime's hardware-independent ("basic") graph optimisations, done once here: Conv+BN
    # folded, shapes inferred. Measured 145 instead of 184 ms per 512x512 on 2 cores.
    quant_pre_process(str(raw_path), str(onnx_path), skip_symbolic_shape=True)
    raw_path.unlink()
    proto = onnx.load(str(onnx_path))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(onnx_path))
    with torch.no_grad():
        expected = model(x).numpy()
    got = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()}
    )[0]
    return float(np.abs(expected - got).max())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--version", required=True, help="model version written into the file")
    ap.add_argument(
        "--long-side-px",
        type=int,
        default=0,
        help="the long side a FUSeg-like 512 px close-up is resized to for this network "
        "(woundtrack_network_long_side_px; leave out for 512): measure it with "
        "training.evaluate --long-side-px",
    )
    args = ap.parse_args(argv)
    recipe_path = args.weights.parent / "recipe.json"
    recipe = json.loads(recipe_path.read_text()) if recipe_path.exists() else {}
    meta = {
        "woundtrack_model_version": args.version,
        "recipe": json.dumps(
            {k: v for k, v in recipe.items() if k not in ("validation", "tissue_train")}
        ),
    }
    if is_tissue(load_weights(args.weights)):
        meta["woundtrack_labels"] = "tissue"
    if args.long_side_px:
        meta["woundtrack_network_long_side_px"] = str(args.long_side_px)
    diff = export(args.weights, args.onnx, meta)
    print(f"{args.onnx}: {args.onnx.stat().st_size / 1e6:.1f} MB, max |onnx - torch| = {diff:.2e}")


if __name__ == "__main__":
    main()
