"""Comparing output vectors that are not class logits: features and embeddings.

A backbone without a classification head (a timm ViT with ``num_classes=0``,
DINOv2), a BERT encoder's hidden states and a sentence-transformers model's
embeddings output vectors whose largest channel means nothing; their
``argmax`` agreement would be a number without a meaning. They are compared
as such vectors are used:

* the relative error ``||SNN - ANN|| / ||ANN||`` over all rows (every
  output, logits included, gets it);
* each row's cosine similarity with the ANN's row (least and mean);
* nearest-item agreement: the share of rows whose nearest other row by
  cosine, among the rows compared (retrieval among the evaluated items), is
  the same in the SNN's outputs as in the ANN's. A row whose SNN neighbour
  ties the ANN's nearest (equal ANN cosines to :data:`TIE`, as for duplicate
  items) agrees. It needs every row kept: at most :data:`NN_ROWS` (the
  first ones), so that the all-pairs comparison stays a few seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

#: rows kept for the nearest-item agreement (an all-pairs comparison: NN_ROWS^2 cosines)
NN_ROWS = 4096
#: ANN cosines within this of the nearest count as the nearest too (duplicates, float64 rounding)
TIE = 1e-12
#: rows of the all-pairs comparison at a time
CHUNK = 512


def _unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=-1, keepdim=True).clamp(min=1e-300)


def nearest_item_agreement(snn_rows: torch.Tensor, ann_rows: torch.Tensor) -> float | None:
    """The share of rows whose nearest other row (cosine) is the same for ``snn_rows`` as for ``ann_rows``
    (ties in the ANN's cosines agree); None for fewer than two rows (no other row to be near)."""
    if snn_rows.shape != ann_rows.shape or snn_rows.dim() != 2:
        raise ValueError(f"nearest_item_agreement needs two (rows, channels) tensors of one shape, got "
                         f"{tuple(snn_rows.shape)} and {tuple(ann_rows.shape)}")
    n = snn_rows.shape[0]
    if n < 2:
        return None
    a, s = _unit(ann_rows.double()), _unit(snn_rows.double())
    agree = 0
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        own = torch.arange(lo, hi)
        ca, cs = a[lo:hi] @ a.T, s[lo:hi] @ s.T
        ca[own - lo, own] = -math.inf   # the nearest OTHER row
        cs[own - lo, own] = -math.inf
        picked = ca.gather(1, cs.argmax(1, keepdim=True)).squeeze(1)
        agree += int((picked >= ca.max(1).values - TIE).sum())
    return agree / n


@dataclass
class FeatureTally:
    """Running comparison of SNN and ANN output rows (:meth:`add` per batch, :meth:`merge` across ranks).

    ``keep``: keep up to :data:`NN_ROWS` rows of both for :meth:`agreement`
    (output vectors that are not logits); logits need only the sums. The
    sums are kept per batch and added by :func:`math.fsum` (exactly rounded
    whatever the order), so N processes given the same batches report
    exactly what one process does.
    """
    keep: bool = False
    err2: list = field(default_factory=list)     # per batch: sum of (SNN - ANN)^2
    ref2: list = field(default_factory=list)     # per batch: sum of ANN^2
    cos_sum: list = field(default_factory=list)  # per batch: sum of the rows' cosines
    cos_min: float = math.inf
    rows: int = 0
    snn_kept: list = field(default_factory=list)
    ann_kept: list = field(default_factory=list)
    kept: int = 0

    def add(self, out: torch.Tensor, ref: torch.Tensor) -> None:
        """One batch's rows (the last dimension: the channels)."""
        o = out.detach().reshape(-1, out.shape[-1]).to("cpu", torch.float64)
        r = ref.detach().reshape(-1, ref.shape[-1]).to("cpu", torch.float64)
        if o.shape[0] == 0:
            return
        self.err2.append(float((o - r).square().sum()))
        self.ref2.append(float(r.square().sum()))
        cos = (_unit(o) * _unit(r)).sum(-1)
        self.cos_sum.append(float(cos.sum()))
        self.cos_min = min(self.cos_min, float(cos.min()))
        self.rows += o.shape[0]
        if self.keep:
            self._keep_rows(o, r)

    def _keep_rows(self, snn_rows: torch.Tensor, ann_rows: torch.Tensor) -> None:
        """Keep the first of these rows (in float32) until :data:`NN_ROWS` are kept."""
        room = NN_ROWS - self.kept
        if room > 0:
            self.snn_kept.append(snn_rows[:room].float())
            self.ann_kept.append(ann_rows[:room].float())
            self.kept += min(room, snn_rows.shape[0])

    @classmethod
    def merge(cls, parts: list["FeatureTally"]) -> "FeatureTally":
        """The tally of every part's rows (ranks in order; rows kept from each until :data:`NN_ROWS`)."""
        out = cls(keep=any(p.keep for p in parts))
        out.err2 = [v for p in parts for v in p.err2]
        out.ref2 = [v for p in parts for v in p.ref2]
        out.cos_sum = [v for p in parts for v in p.cos_sum]
        out.cos_min = min((p.cos_min for p in parts), default=math.inf)
        out.rows = sum(p.rows for p in parts)
        for p in parts:
            for s, a in zip(p.snn_kept, p.ann_kept):
                out._keep_rows(s, a)
        return out

    @property
    def rel_error(self) -> float:
        """``||SNN - ANN|| / ||ANN||`` over every row (inf where the ANN's outputs are all 0 and the SNN's not)."""
        err2, ref2 = math.fsum(self.err2), math.fsum(self.ref2)
        if ref2 > 0:
            return math.sqrt(err2 / ref2)
        return 0.0 if err2 == 0 else math.inf

    @property
    def mean_cosine(self) -> float | None:
        return math.fsum(self.cos_sum) / self.rows if self.rows else None

    @property
    def min_cosine(self) -> float | None:
        return self.cos_min if self.rows else None

    def agreement(self) -> float | None:
        """Nearest-item agreement over the kept rows (None: fewer than two kept)."""
        if self.kept < 2:
            return None
        return nearest_item_agreement(torch.cat(self.snn_kept), torch.cat(self.ann_kept))
