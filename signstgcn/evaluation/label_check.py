"""Per-signer confusion matrices, and a check for signers whose labels look swapped.

A model that is right on a signer's other classes but predicts two of them as each other nearly every time
(A→B and B→A, or a longer cycle) more often points at swapped labels in the data, or at a signer who signs
those glosses differently, than at a model error. ``signstgcn evaluate`` puts the warning in its report.
"""

from __future__ import annotations

import numpy as np

from signstgcn.metrics import confusion_matrix

__all__ = ["per_signer_confusion", "swapped_label_warnings"]


def per_signer_confusion(preds: np.ndarray, labels: np.ndarray, signers: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """(K, K) confusion counts (rows = true class) of each known signer's windows."""
    keys = np.array([None if n is None else str(n) for n in signers], dtype=object)  # (N,)
    return {name: confusion_matrix(preds[keys == name], labels[keys == name], k)
            for name in sorted({n for n in keys if n is not None})}


def swapped_label_warnings(per_signer_cm: dict[str, np.ndarray], classes: list[str], *, share: float = 0.8,
                           min_windows: int = 5) -> list[str]:
    """One warning per cycle of a signer's classes that are predicted as each other's.

    Class i of a signer points at class j when at least ``share`` of its (at least ``min_windows``) windows
    are predicted j != i; a cycle of such arrows (i→j→i, or longer) is warned about.
    """
    warnings = []
    for name, cm in per_signer_cm.items():
        totals = cm.sum(axis=1)
        target = {i: int(np.argmax(cm[i])) for i in range(len(cm))
                  if totals[i] >= min_windows and np.argmax(cm[i]) != i and cm[i].max() >= share * totals[i]}
        cycles, seen = [], set()
        for start in target:
            path, node = [], start
            while node in target and node not in path:
                path.append(node)
                node = target[node]
            if node == start and not seen & set(path):
                cycles.append(path)
                seen |= set(path)
        for cycle in cycles:
            moved = sum(int(cm[i, target[i]]) for i in cycle)
            total = sum(int(totals[i]) for i in cycle)
            arrows = ", ".join(f"{classes[i]}→{classes[target[i]]}" for i in cycle)
            warnings.append(f"signer {name}: {moved} of {total} windows of {', '.join(classes[i] for i in cycle)} "
                            f"are predicted as each other's class ({arrows}); check this signer's labels (swapped in "
                            f"the data?) or how they sign these glosses")
    return warnings
