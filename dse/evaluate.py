"""One trial, staged: build the network, train it (QAT), export QONNX, let FINN estimate it.

Heavy imports (torch, brevitas, FINN) happen inside these functions, never at `import dse`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dse.artifacts import TrialFiles, write_json
from dse.data import MNIST, Split

if TYPE_CHECKING:
    from dse.finn_flow import HardwareEstimate
    from dse.spec import StudySpec
    from dse.training import TrainResult
    from search_spaces.tfc import TFCPoint

logger = logging.getLogger(__name__)

# stage name ("train", "export", "finn"), steps done, steps total
StageFn = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    point: TFCPoint
    train: TrainResult
    hardware: HardwareEstimate
    seconds: dict[str, float]

    def user_attrs(self) -> dict[str, Any]:
        """Flat figures stored with the Optuna trial (what reports and exports read)."""
        hw = self.hardware
        return {
            "val_accuracy": self.train.val_accuracy,
            "test_accuracy": self.train.test_accuracy,
            "val_history": list(self.train.val_history),
            "fps": hw.fps,
            "latency_us": hw.latency_ns / 1000.0,
            "lut": hw.lut,
            "bram18": hw.bram18,
            "uram": hw.uram,
            "dsp": hw.dsp,
            "max_cycles": hw.max_cycles,
            "bottleneck": hw.bottleneck,
            "fits": hw.fits,
            "limiting_resource": hw.limiting_resource,
            "utilization": dict(hw.utilization),
            "train_s": self.seconds["train"],
            "export_s": self.seconds["export"],
            "finn_s": self.seconds["finn"],
        }


def _subset(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n])


def evaluate(point: TFCPoint, spec: StudySpec, data: MNIST, files: TrialFiles, *, seed: int,
             progress: StageFn | None = None) -> TrialOutcome:
    """Run the whole pipeline for one design point; artifacts go to ``files.root``."""
    from dse._quiet import captured

    with captured(files.log):  # torch/brevitas print on first import
        import torch

        from dse import finn_flow
        from dse.models.tfc import TFCConfig, build_tfc
        from dse.training import train

    files.root.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def stage(name: str) -> Callable[[int, int, int, float | None], None]:
        def report(done: int, total: int, _epoch: int, _acc: float | None) -> None:
            if progress is not None:
                progress(name, done, total)
        return report

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_tfc(TFCConfig(hidden=point.hidden, weight_bits=point.weight_bits, act_bits=point.act_bits))
    tr = spec.training
    result = train(model, _subset(data.train, tr.train_subset), data.val, data.test, epochs=tr.epochs,
                   batch_size=tr.batch_size, lr=tr.lr, seed=seed, progress=stage("train"))
    torch.save(model.state_dict(), files.weights)
    seconds["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if progress is not None:
        progress("export", 0, 1)
    finn_flow.export_qonnx(model, files.model, input_shape=(1, model.config.in_features), log_path=files.log)
    seconds["export"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if progress is not None:
        progress("finn", 0, 1)
    hw = spec.hardware
    finn = finn_flow.estimate(files.model, board=hw.board, clock_ns=hw.clock_ns, target_fps=point.target_fps,
                              mvau_wwidth_max=hw.mvau_wwidth_max, log_path=files.log,
                              reports_dir=files.finn_reports)
    seconds["finn"] = time.perf_counter() - t0

    write_json(files.folding, finn.folding)
    write_json(files.estimate, finn.estimate.to_dict())
    outcome = TrialOutcome(point, result, finn.estimate, seconds)
    write_json(files.metrics, {"params": dataclasses.asdict(point), **outcome.user_attrs(),
                               "epochs": result.epochs, "train_images": len(_subset(data.train, tr.train_subset))})
    return outcome
