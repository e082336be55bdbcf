"""Quantization-aware training on the CPU or a GPU: Adam + cosine decay, seeded, with progress callbacks.

The recipe follows ../shared/reference/TRAINING.md (Adam, lr 0.01, cosine to 0 over the planned
steps, no weight decay; augmentation only where the study asks for it). The model trains on the
given device and comes back on the CPU, where it is saved, pruned and exported. The optimized accuracy is measured on the validation
split; the test split is evaluated once at the end, for reporting only.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dse.data import Split
from dse.errors import ConfigError
from dse.user_metric import UserMetric

logger = logging.getLogger(__name__)

# (steps done, total steps, epoch, last validation accuracy or None)
ProgressFn = Callable[[int, int, int, "float | None"], None]


@dataclass(frozen=True, slots=True)
class TrainResult:
    val_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float
    val_history: tuple[float, ...]
    stopped_early: bool = False
    progress: float = 1.0  # share of the planned steps done (< 1 when stopped early)


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def resolve_device(name: str) -> torch.device:
    """The device of ``training.device``: auto takes the GPU when torch sees one; cuda without one
    is the user's mistake, said before any trial starts (study preflight)."""
    available = torch.cuda.is_available()
    if name == "cuda" and not available:
        raise ConfigError("training.device: cuda, but torch sees no CUDA GPU here "
                          f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}): use auto or cpu")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and available) else "cpu")


def set_threads(threads: int | None) -> int:
    """torch's CPU threads: ``threads``; else OMP_NUM_THREADS where set (launched workers get their
    Slurm task's CPUs there); else the cores this process may run on (a taskset's, a cgroup's)
    rather than every core of the node. Returns the number set."""
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if threads is None and omp.isdigit() and int(omp) > 0:
        threads = int(omp)
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def crop_flip(images: torch.Tensor, generator: torch.Generator | None = None, *, pad: int = 4) -> torch.Tensor:
    """Each image of a batch (... x H x W) randomly cropped back to H x W after zero-padding by
    ``pad`` and flipped left-right with probability 1/2: the CIFAR-10 recipe of Brevitas' CNV."""
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    lead = images.shape[1:-2]
    flat = images.reshape(n, -1, h, w)
    padded = nn.functional.pad(flat, (pad, pad, pad, pad))
    dy, dx, flip = (torch.randint(0, 2 * pad + 1, (n,), generator=generator), torch.randint(0, 2 * pad + 1, (n,),
                    generator=generator), torch.rand(n, generator=generator) < 0.5)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # n x h x 1
    cols = dx[:, None] + torch.arange(w)  # n x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # n x 1 x w
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # n x h x w x c
    return out.permute(0, 3, 1, 2).reshape(n, *lead, h, w)


def predict(logits: torch.Tensor) -> torch.Tensor:
    """Class indices: the arg-max of the logits, or for one logit (a binary classifier) 1 where it
    is >= 0, as the sign FINN-DSE puts on it at export decides (+1 from 0 on)."""
    return (logits[:, 0] >= 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)


def loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the classes; binary cross-entropy for one logit."""
    if logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels.float())
    return nn.functional.cross_entropy(logits, labels)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, *, batch_size: int = 2000, metric: UserMetric | None = None) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``split``, or the study's own ``metric`` on the
    whole split's predictions or logits; images go in as raw uint8 values, never augmented, on the
    device the model is on."""
    was_training = model.training
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    images = torch.from_numpy(np.array(split.images))
    labels = torch.from_numpy(np.array(split.labels))
    correct, outputs = 0, []
    for idx in _batches(len(split), batch_size, None):
        logits = model(images[idx].to(device).float())
        correct += int((predict(logits).cpu() == labels[idx]).sum())
        if metric is not None:
            outputs.append(logits.cpu())
    model.train(was_training)
    if metric is not None and outputs:
        every = torch.cat(outputs)
        return metric.score(predict(every).numpy(), every.numpy(), labels.numpy())
    return correct / max(len(split), 1)


def out_of_reach(accuracy: float, progress: float, min_accuracy: float, headroom: float) -> bool:
    """Early stop rule: even gaining ``headroom`` x (share of training left) cannot reach the minimum."""
    return accuracy + headroom * (1.0 - progress) < min_accuracy


def train(model: nn.Module, train_split: Split, val_split: Split, test_split: Split | None, *,
          epochs: int, batch_size: int, lr: float, seed: int,
          min_val_accuracy: float | None = None, headroom: float = 0.15, checks_per_epoch: int = 1,
          progress: ProgressFn | None = None, device: torch.device | str = "cpu",
          augment: str = "none", metric: UserMetric | None = None) -> TrainResult:
    """Train ``model`` in place and measure it on the validation split ``checks_per_epoch`` times
    per epoch. With ``min_val_accuracy``, training stops at a check where the minimum is out of
    reach (see :func:`out_of_reach`); the test split is then not evaluated (it stays untouched by
    designs the search throws away). The model trains on ``device`` and is back on the CPU when
    this returns; ``augment`` (crop_flip) changes training batches only. With ``metric`` every
    accuracy above (the checks, the minimum, the result's) is that metric's score instead."""
    if augment not in ("none", "crop_flip"):
        raise ValueError(f"unknown augmentation {augment!r}")
    device = torch.device(device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(np.array(train_split.images))  # stays uint8: 4x less memory
    labels = torch.from_numpy(np.array(train_split.labels))
    steps_per_epoch = math.ceil(len(train_split) / batch_size)
    total = epochs * steps_per_epoch
    checks = {min(steps_per_epoch, round(steps_per_epoch * (k + 1) / max(1, checks_per_epoch)))
              for k in range(max(1, checks_per_epoch))}
    model.to(device)  # before the optimizer: Adam's state lives where the parameters do
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1), eta_min=0.0)
    history: list[float] = []
    done, stopped = 0, False
    model.train()
    for epoch in range(epochs):
        for step, idx in enumerate(_batches(len(train_split), batch_size, generator), start=1):
            optimizer.zero_grad(set_to_none=True)
            batch = images[idx]
            if augment == "crop_flip":
                batch = crop_flip(batch, generator)
            batch_loss = loss(model(batch.to(device).float()), labels[idx].to(device))
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            if progress is not None and (done % 20 == 0 or done == total):
                progress(done, total, epoch, history[-1] if history else None)
            if step not in checks:
                continue
            history.append(accuracy(model, val_split, metric=metric))
            logger.debug("epoch %d, step %d/%d: val accuracy %.4f", epoch + 1, step, steps_per_epoch, history[-1])
            if progress is not None:
                progress(done, total, epoch, history[-1])
            if (min_val_accuracy is not None and done < total
                    and out_of_reach(history[-1], done / total, min_val_accuracy, headroom)):
                stopped = True
                break
        if stopped:
            break
    test_acc = accuracy(model, test_split, metric=metric) if test_split is not None and not stopped else float("nan")
    model.eval()
    model.to("cpu")
    return TrainResult(val_accuracy=history[-1], test_accuracy=test_acc, epochs=math.ceil(done / steps_per_epoch),
                       seconds=time.perf_counter() - start, val_history=tuple(history), stopped_early=stopped,
                       progress=done / max(total, 1))
