"""A woundtrack ONNX network as a trainable torch module, and its tuned weights back in ONNX.

The shipped network (``weights/wound_bed.onnx``) is a graph of a few operators (convolutions
with their batch norms already folded in, clips, ReLUs, additions, bilinear resizes and
concatenations). ``OnnxNet`` runs that graph with torch, every convolution's weight and bias a
trainable parameter; ``tuned_model`` writes the parameters back into a copy of the original
graph, so the tuned file has exactly the shipped file's operators, inputs and outputs, and runs
wherever it ran. No exporter is involved, and the network's code need not be at hand.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from woundtrack.errors import WoundtrackError

#: The operators ``OnnxNet`` can run; a network with another one cannot be fine-tuned.
SUPPORTED_OPS = ("Conv", "Clip", "Relu", "Add", "Resize", "Concat")


class GraphError(WoundtrackError):
    """An ONNX network that cannot be run as a trainable module."""


class OnnxNet(torch.nn.Module):
    """Runs ``model``'s graph in torch; convolution weights and biases are its parameters.

    Parameters
    ----------
    model : onnx.ModelProto
        A network with one image input and one output, built of ``SUPPORTED_OPS``.

    Raises
    ------
    GraphError
        If the graph has an operator or attribute this module does not run.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        graph = model.graph
        initial = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        bad = sorted({n.op_type for n in graph.node} - set(SUPPORTED_OPS))
        if bad:
            raise GraphError(
                f"the network has {', '.join(bad)} layers, which fine-tuning cannot train; "
                "fine-tune the shipped model or one tuned from it"
            )
        trainable = [n for node in graph.node if node.op_type == "Conv" for n in node.input[1:]]
        self._keys = {name: f"p{i}" for i, name in enumerate(dict.fromkeys(trainable)) if name}
        self.params = torch.nn.ParameterDict(
            {
                key: torch.nn.Parameter(torch.from_numpy(initial[name].copy()).float())
                for name, key in self._keys.items()
            }
        )
        self._constants = {k: v for k, v in initial.items() if k not in self._keys}
        self._nodes = [
            (n.op_type, list(n.input), list(n.output), _attributes(n)) for n in graph.node
        ]
        for op, _, _, attrs in self._nodes:
            _check_node(op, attrs)
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: x}

        def get(name: str):
            if name in self._keys:
                return self.params[self._keys[name]]
            if name in values:
                return values[name]
            return self._constants[name]

        for op, inputs, outputs, attrs in self._nodes:
            if op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                bias = get(inputs[2]) if len(inputs) > 2 and inputs[2] else None
                y = F.conv2d(
                    get(inputs[0]),
                    get(inputs[1]),
                    bias,
                    stride=tuple(attrs.get("strides", [1, 1])),
                    padding=(pads[0], pads[1]),
                    dilation=tuple(attrs.get("dilations", [1, 1])),
                    groups=attrs.get("group", 1),
                )
            elif op == "Clip":
                low = float(get(inputs[1])) if len(inputs) > 1 and inputs[1] else None
                high = float(get(inputs[2])) if len(inputs) > 2 and inputs[2] else None
                y = torch.clamp(get(inputs[0]), low, high)
            elif op == "Relu":
                y = F.relu(get(inputs[0]))
            elif op == "Add":
                y = get(inputs[0]) + get(inputs[1])
            elif op == "Concat":
                y = torch.cat([get(name) for name in inputs], dim=attrs["axis"])
            else:  # Resize, by constant scales (checked in _check_node)
                scales = np.asarray(get(inputs[2]), dtype=float)
                y = F.interpolate(
                    get(inputs[0]),
                    scale_factor=(float(scales[2]), float(scales[3])),
                    mode="bilinear" if attrs["mode"] == b"linear" else "nearest",
                    align_corners=False if attrs["mode"] == b"linear" else None,
                )
            values[outputs[0]] = y
        return values[self.output_name]

    def tuned_model(
        self, base: onnx.ModelProto, metadata: Mapping[str, str] | None = None
    ) -> onnx.ModelProto:
        """A copy of ``base`` (the model this module was built from) with this module's weights,
        and ``metadata`` added to (or replacing) its metadata."""
        out = copy.deepcopy(base)
        for tensor in out.graph.initializer:
            key = self._keys.get(tensor.name)
            if key is not None:
                value = self.params[key].detach().cpu().numpy().astype(np.float32)
                tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
        if metadata:
            kept = [p for p in out.metadata_props if p.key not in metadata]
            del out.metadata_props[:]
            out.metadata_props.extend(kept)
            for key, value in metadata.items():
                out.metadata_props.add(key=key, value=str(value))
        return out


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _check_node(op: str, attrs: dict) -> None:
    if op == "Conv":
        pads = attrs.get("pads", [0, 0, 0, 0])
        if attrs.get("auto_pad", b"NOTSET") != b"NOTSET" or pads[:2] != pads[2:]:
            raise GraphError("the network has a convolution with uneven padding; cannot train it")
    if op == "Resize":
        if attrs.get("mode") not in (b"linear", b"nearest") or (
            attrs.get("mode") == b"linear"
            and attrs.get("coordinate_transformation_mode") != b"half_pixel"
        ):
            raise GraphError("the network resizes in a way fine-tuning cannot reproduce")
