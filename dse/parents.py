"""Trained parent networks, shared by every pruned trial of a study (and by all its workers).

A pruned design starts from the trained, unpruned network with the same family, widths and
bits: it is trained once, stored under ``<workdir>/parents/<key>.pt``, and reused. A file lock
per parent makes concurrent workers wait for the one that trains it instead of training it
twice. Unpruned trials that finish training offer their weights as parents too.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import write_json
from dse.families import ModelIO, family_of

if TYPE_CHECKING:
    from torch import nn

    from dse.data import Split
    from dse.spec import StudySpec
    from search_spaces import DesignPoint

logger = logging.getLogger(__name__)


@contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class ParentStore:
    def __init__(self, root: Path, spec: StudySpec) -> None:
        self.root = Path(root)
        self.spec = spec
        self.trained_here_s = 0.0  # seconds the last get() spent training a parent itself
        self.last_val_accuracy: float | None = None

    def key(self, point: DesignPoint) -> str:
        tr = self.spec.training
        ident = {"family": point.family, "widths": point.widths, "weight_bits": point.weight_bits,
                 "act_bits": point.act_bits, "extra": [list(map(str, e)) for e in point.extra],
                 "dataset": self.spec.dataset, "training": tr.identity(), "seed": self.spec.seed}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"{point.family}-{digest}"

    def _paths(self, point: DesignPoint) -> tuple[Path, Path, Path]:
        key = self.key(point)
        return self.root / f"{key}.pt", self.root / f"{key}.json", self.root / f"{key}.lock"

    def _unpruned(self, point: DesignPoint) -> DesignPoint:
        return dataclasses.replace(point, prune_ratios=(0.0,) * len(point.widths))

    def get(self, point: DesignPoint, train_split: Split, val_split: Split,
            progress: Callable[[int, int, int, float | None], None] | None = None) -> nn.Module:
        """A fresh copy of the trained parent of ``point`` (training it first if nobody has)."""
        import torch

        from dse.training import resolve_device, train
        from dse.user_metric import study_metric

        weights, meta, lock = self._paths(point)
        family = family_of(point)
        config = family.config(self._unpruned(point), io=ModelIO.of(self.spec))
        self.trained_here_s = 0.0
        with _locked(lock):
            if not weights.exists():
                start = time.perf_counter()
                seed = int(self.key(point).rsplit("-", 1)[1][:8], 16)
                torch.manual_seed(seed)
                model = family.build(config)
                tr = self.spec.training
                logger.info("training the parent network %s (%s) once for its pruned children",
                            self.key(point), point.label().split(" pruned")[0])
                result = train(model, train_split, val_split, None, epochs=tr.epochs, batch_size=tr.batch_size,
                               lr=tr.lr, seed=seed, progress=progress, device=resolve_device(tr.device),
                               augment=tr.augment, metric=study_metric(tr))
                self._save(weights, meta, model, result.val_accuracy)
                self.trained_here_s = time.perf_counter() - start
        model = family.build(config)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.last_val_accuracy = json.loads(meta.read_text())["val_accuracy"] if meta.exists() else None
        return model

    def offer(self, point: DesignPoint, model: nn.Module, val_accuracy: float) -> None:
        """Keep a trained unpruned network as the parent of later pruned designs (if none yet)."""
        weights, meta, lock = self._paths(self._unpruned(point))
        with _locked(lock, blocking=False) as got:
            if got and not weights.exists():
                self._save(weights, meta, model, val_accuracy)

    @staticmethod
    def _save(weights: Path, meta: Path, model: Any, val_accuracy: float) -> None:
        import torch

        tmp = weights.with_name(f".{weights.name}.{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        write_json(meta, {"val_accuracy": val_accuracy})
        os.replace(tmp, weights)  # the weights appear whole or not at all
