"""Masked pose modelling: the self-supervised task of ``signstgcn pretrain`` (SignBERT-style, labels unused).

Some joints of a window are hidden and the encoder (the input streams and the ST-GCN backbone of
:class:`~signstgcn.model.model.SignSTGCNModel`, joint pooling included) must give per-frame features from which
a small decoder rebuilds their coordinates. Three kinds of masks, as SignBERT (Hu et al., 2021) masks hands:

- **joints**: single joints anywhere in the skeleton (the rest of the body and the neighbouring frames tell where
  they are);
- **hands**: a whole hand in a frame (its shape must come from the frames before and after);
- **frames**: every joint of a frame (the motion through it).

A hidden joint keeps its presence bit and gets the value 0, the mask token (BERT's ``[MASK]``): an absent joint
would send nothing to its neighbours (the backbone zeroes absent joints in every block), so the network could
not fill it in. Only joints that were present are hidden and scored.

    x (N, C, T, V), mask (N, T, V) --hide--> x' (N, C, T, V)
    x' --streams + backbone--> (N, T, D) --decoder--> (N, T, V * C) -> (N, C, T, V) reconstruction
    loss: smooth L1 between the reconstruction and x over the hidden joints
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from signstgcn.data.layout import Layout
from signstgcn.model.config import ModelConfig

__all__ = ["ENCODER_PREFIXES", "MaskSpec", "MaskedPoseModel", "hide_joints", "reconstruction_loss"]

ENCODER_PREFIXES = ("streams.", "backbone.")
"""State-dict prefixes of the encoder inside :class:`~signstgcn.model.model.SignSTGCNModel`."""


@dataclass(frozen=True)
class MaskSpec:
    """Probabilities of hiding a joint, a hand in a frame, and a whole frame (each drawn independently)."""

    joints: float = 0.15
    hands: float = 0.15
    frames: float = 0.1

    def __post_init__(self) -> None:
        for name in ("joints", "hands", "frames"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ValueError(f"--mask-{name}: expected a probability in [0, 1), got {value!r}")
        if self.joints == self.hands == self.frames == 0:
            raise ValueError("masked pose modelling needs something to hide: --mask-joints, --mask-hands or "
                             "--mask-frames above 0")


def _hand_nodes(layout: Layout) -> list[slice]:
    return [s for s in (layout.part_slice("left_hand"), layout.part_slice("right_hand")) if s is not None]


def hide_joints(x: Tensor, mask: Tensor, layout: Layout, spec: MaskSpec,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``x (N, C, T, V)``, ``mask (N, T, V)`` bool (present joints) -> (``x`` with the hidden joints set to 0,
    ``hidden (N, T, V)`` bool: present joints that were hidden). ``x`` is not modified."""
    N, _, T, V = x.shape

    def draw(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, device=x.device)

    hidden = draw(N, T, V) < spec.joints  # (N, T, V)
    hidden |= (draw(N, T, 1) < spec.frames)  # whole frames, (N, T, 1) broadcast over the joints
    for nodes in _hand_nodes(layout):
        hidden[:, :, nodes] |= draw(N, T, 1) < spec.hands  # a whole hand in a frame
    hidden &= mask
    x_hidden = x.masked_fill(hidden.unsqueeze(1), 0.0)  # (N, C, T, V); 0 = the mask token
    return x_hidden, hidden


def reconstruction_loss(pred: Tensor, target: Tensor, hidden: Tensor) -> Tensor:
    """Smooth L1 (Huber, beta 0.1) between ``pred`` and ``target`` ``(N, C, T, V)`` over the ``hidden (N, T, V)``
    joints, averaged over hidden joints and channels; 0 (with a gradient) when nothing is hidden."""
    per = F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=0.1).mean(dim=1)  # (N, T, V)
    weight = hidden.to(per.dtype)
    return (per * weight).sum() / weight.sum().clamp(min=1.0)


class MaskedPoseModel(nn.Module):
    """The encoder of :class:`~signstgcn.model.model.SignSTGCNModel` (same module names, so its state dict
    loads into one: :data:`ENCODER_PREFIXES`) and a per-frame MLP decoder back to ``(V, C)`` coordinates."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        from signstgcn.model.model import SignSTGCNModel  # the model module imports this one's names

        if config.backbone != "stgcn":
            raise ValueError(f"pretraining learns the ST-GCN backbone; backbone {config.backbone!r} has none")
        full = SignSTGCNModel(config)
        self.config = config
        self.layout = config.layout.build()
        self.streams, self.backbone = full.streams, full.backbone
        self.num_nodes = full.num_nodes
        D, V, C = full.backbone.out_channels, full.num_nodes, config.in_channels
        self.decoder = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, V * C))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (N, C, T, V)`` (hidden joints already 0), ``mask (N, T, V)`` bool -> ``(N, C, T, V)`` coordinates."""
        N, C, T, V = x.shape
        feats = self.backbone(self.streams(x, mask), mask)  # (N, T, D)
        out = self.decoder(feats.float()).view(N, T, V, C)  # (N, T, V, C)
        return out.permute(0, 3, 1, 2)  # (N, C, T, V)

    def encoder_state(self) -> dict[str, Tensor]:
        """The encoder's weights under the names they have in :class:`SignSTGCNModel` (CPU copies)."""
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items() if k.startswith(ENCODER_PREFIXES)}
