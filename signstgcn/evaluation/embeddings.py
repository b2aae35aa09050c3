"""Frozen model outputs per window (logits, classifier and signer embeddings) and their 2-D reductions.

:func:`extract_outputs` runs a model over a :class:`~signstgcn.data.windows.WindowDataset` (or any of its
subsets) once, in order, without augmentation, and keeps everything the evaluation report and the
embedding plots need. Unlike :func:`signstgcn.training.loop.predict` it accepts models without a signer
encoder (``signer_embedding`` None) and never shards across ranks.

:func:`reduce_2d` maps ``(N, E)`` embeddings to ``(N, 2)`` with PCA or t-SNE (fixed ``random_state``,
perplexity shrunk for small N), standardizing first so no single dimension dominates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from signstgcn.training.loop import Precision

__all__ = ["REDUCERS", "extract_outputs", "reduce_2d", "tsne_perplexity"]

REDUCERS = ("tsne", "pca")
_FIELDS = ("logits", "embeddings", "signer_embeddings", "labels", "signers", "videos", "starts")


@torch.no_grad()
def extract_outputs(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    precision: Precision | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = False,
    desc: str = "embed",
) -> dict[str, np.ndarray | None]:
    """Model outputs for ``dataset`` (or its ``indices``), in order.

    Returns ``logits (N, K)``, ``embeddings (N, E)``, ``signer_embeddings (N, D_s)`` or None when the
    model has no signer encoder, and ``labels``, ``signers`` (signer-head targets, -1 unknown),
    ``videos`` (index into ``dataset.video_ids``), ``starts`` (first frame), all ``(N,)`` int64.
    """
    precision = precision or Precision(device.type)
    model.eval()
    subset = dataset if indices is None else Subset(dataset, [int(i) for i in indices])
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=workers)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _FIELDS}
    has_signer_emb = True
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        x = batch["x"].to(device, non_blocking=True)  # (N, C, T, V)
        mask = batch["mask"].to(device, non_blocking=True)  # (N, T, V)
        stats = batch["stats"].to(device, non_blocking=True)  # (N, S)
        with precision.autocast():
            out = model(x, mask, stats)
        parts["logits"].append(out.logits.float().cpu().numpy())
        parts["embeddings"].append(out.embedding.float().cpu().numpy())
        if out.signer_embedding is None:
            has_signer_emb = False
        else:
            parts["signer_embeddings"].append(out.signer_embedding.float().cpu().numpy())
        for key, src in (("labels", "label"), ("signers", "signer"), ("videos", "video"), ("starts", "start")):
            parts[key].append(batch[src].numpy().astype(np.int64))
    result: dict[str, np.ndarray | None] = {}
    for key, chunks in parts.items():
        if key == "signer_embeddings" and not has_signer_emb:
            result[key] = None
        elif chunks:
            result[key] = np.concatenate(chunks)
        else:
            result[key] = np.zeros((0,), dtype=np.float32 if key.endswith(("logits", "embeddings")) else np.int64)
    return result


def tsne_perplexity(num_points: int, requested: float = 30.0) -> float:
    """Perplexity for t-SNE on ``num_points``: ``requested``, shrunk to ``(N - 1) / 3`` for small N (min 2)."""
    return float(max(2.0, min(requested, (num_points - 1) / 3.0)))


def reduce_2d(x: np.ndarray, method: str = "pca", *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """``(N, E)`` → ``(N, 2)`` float64 by ``"pca"`` or ``"tsne"`` on standardized features.

    Constant feature columns are left at 0 after standardization; an embedding with a single
    informative dimension gets a zero second coordinate (PCA) rather than an error.
    """
    if method not in REDUCERS:
        raise ValueError(f"Invalid reduction {method!r}. Only {', '.join(REDUCERS)} are supported")
    z = np.asarray(x, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"embeddings: expected (N, E), got shape {z.shape}")
    n = z.shape[0]
    need = 5 if method == "tsne" else 2
    if n < need:
        hint = "; use --reduce pca or more data" if method == "tsne" else ""
        raise ValueError(f"--reduce {method} needs at least {need} windows, got {n}{hint}")
    if not np.all(np.isfinite(z)):
        raise ValueError("embeddings: expected finite values, got NaN or inf (is the checkpoint corrupt?)")
    std = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)  # (N, E)
    if z.shape[1] < 2:
        z = np.concatenate([z, np.zeros((n, 2 - z.shape[1]))], axis=1)  # (N, 2)
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(2, n, z.shape[1])
        out = PCA(n_components=k, random_state=seed).fit_transform(z)  # (N, k)
        if k < 2:
            out = np.concatenate([out, np.zeros((n, 2 - k))], axis=1)  # (N, 2)
        return out
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=tsne_perplexity(n, perplexity), init="pca", learning_rate="auto",
                random_state=seed)
    return tsne.fit_transform(z)  # (N, 2)
