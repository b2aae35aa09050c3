"""Scoring transcriptions against gloss labels of continuous recordings.

The true signs of a recording are its ground-truth segments (:meth:`GroundTruth.segments`: each annotation line
starts a segment that lasts until the next, so two consecutive clips of one sign are two signs) minus those whose
label is a not-signing label (``idle`` ...). Per recording:

- **segment precision / recall / F1**: predicted signs matched one to one to true signs at IoU >= 0.5
  (:func:`~signstgcn.evaluation.segments.match_segments`);
- **gloss accuracy**: the share of matched signs whose gloss is the true one (``unknown`` is wrong);
- **gloss error rate** (GER, as word error rate in speech): the edit distance (substitutions, insertions,
  deletions) between the predicted and the true gloss sequences in time order, over the number of true signs;
- with the classifier's ``vocabulary``: the true signs of glosses it does not know (``out_of_vocabulary``: they can
  only be wrong or ``unknown``), and the GER *in vocabulary*: the same with those signs and the predicted signs
  matched to them left out of both sequences.

Totals add the counts of the recordings (micro averages), overall and per group (person or session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from signstgcn.data.groundtruth import GroundTruth
from signstgcn.evaluation.segments import DEFAULT_MIN_IOU, match_segments

__all__ = ["TranscriptScore", "edit_distance", "score_signs", "totals", "true_signs"]


def true_signs(gt: GroundTruth, video_id: str, num_frames: int,
               not_signing: Iterable[str]) -> list[tuple[int, int, str]]:
    """``(start, end, gloss)`` of ``video_id``'s ground-truth segments whose label is not a not-signing label."""
    skip = set(not_signing)
    return [seg for seg in gt.segments(video_id, num_frames) if seg[2] not in skip]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (substitution, insertion and deletion cost 1)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class TranscriptScore:
    """Counts of one recording (or of several, added): see the module docstring."""

    true: int = 0  # true signs
    predicted: int = 0  # predicted signs
    matched: int = 0  # matched at IoU >= min_iou
    correct: int = 0  # matched with the right gloss
    edits: int = 0  # gloss-sequence edit distance
    out_of_vocabulary: int = 0  # true signs of glosses the classifier does not know
    edits_in_vocabulary: int = 0  # edit distance without them (and the predictions matched to them)

    def __add__(self, other: TranscriptScore) -> TranscriptScore:
        return TranscriptScore(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))

    @property
    def precision(self) -> float | None:
        return self.matched / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.true if self.true else None

    @property
    def f1(self) -> float | None:
        if not (self.predicted or self.true):
            return None
        return 2 * self.matched / (self.predicted + self.true)

    @property
    def gloss_accuracy(self) -> float | None:
        return self.correct / self.matched if self.matched else None

    @property
    def gloss_error_rate(self) -> float | None:
        return self.edits / self.true if self.true else None

    @property
    def gloss_error_rate_in_vocabulary(self) -> float | None:
        known = self.true - self.out_of_vocabulary
        return self.edits_in_vocabulary / known if known else None

    def metrics(self) -> dict[str, float | int | None]:
        return {**asdict(self), "segment_precision": self.precision, "segment_recall": self.recall,
                "segment_f1": self.f1, "gloss_accuracy": self.gloss_accuracy, "gloss_error_rate": self.gloss_error_rate,
                "gloss_error_rate_in_vocabulary": self.gloss_error_rate_in_vocabulary}


def score_signs(predicted: Sequence[tuple[int, int, str]], true: Sequence[tuple[int, int, str]], *,
                min_iou: float = DEFAULT_MIN_IOU, vocabulary: Iterable[str] | None = None) -> TranscriptScore:
    """:class:`TranscriptScore` of ``predicted`` against ``true`` signs, both ``(start, end, gloss)``; ``vocabulary``:
    the glosses the classifier knows (None: all of them)."""
    pred = sorted(predicted)
    ref = sorted(true)
    pairs = match_segments([(s, e) for s, e, _ in pred], [(s, e) for s, e, _ in ref], min_iou)
    correct = sum(pred[i][2] == ref[j][2] for i, j in pairs)
    edits = edit_distance([g for _, _, g in pred], [g for _, _, g in ref])
    known = None if vocabulary is None else set(vocabulary)
    unknown_ref = {j for j, (_, _, g) in enumerate(ref) if known is not None and g not in known}
    if not unknown_ref:
        return TranscriptScore(len(ref), len(pred), len(pairs), correct, edits, 0, edits)
    dropped_pred = {i for i, j in pairs if j in unknown_ref}
    in_vocab = edit_distance([g for i, (_, _, g) in enumerate(pred) if i not in dropped_pred],
                             [g for j, (_, _, g) in enumerate(ref) if j not in unknown_ref])
    return TranscriptScore(len(ref), len(pred), len(pairs), correct, edits, len(unknown_ref), in_vocab)


def totals(scores: Mapping[str, TranscriptScore], groups: Mapping[str, str] | None = None,
           ) -> tuple[TranscriptScore, dict[str, TranscriptScore]]:
    """(the sum over all recordings, the sum per group of ``groups`` = recording -> group; recordings without a
    group form ``"-"``)."""
    overall = sum(scores.values(), TranscriptScore())
    per_group: dict[str, TranscriptScore] = {}
    for vid, score in scores.items():
        key = (groups or {}).get(vid, "-")
        per_group[key] = per_group.get(key, TranscriptScore()) + score
    return overall, dict(sorted(per_group.items()))
