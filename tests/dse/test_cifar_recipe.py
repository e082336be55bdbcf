"""The CIFAR-10 study (studies/cnv_cifar10.yaml) holds Brevitas' CNV_2W2A recipe and runs on a local copy.

CIFAR-10 cannot be fetched here, so the path is proven on a fabricated folder in the python-release
layout (cifar-10-batches-py/data_batch_1..5, test_batch) with the study's own settings, cut to one
step (a whole CNV trial, FINN confirmation included, takes minutes on a shared 2-core CPU).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from dse.data import CIFAR10_DIRNAME, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, load_dataset
from dse.models.cnv import CNVConfig, build_cnv
from dse.spec import load_spec
from dse.training import train

STUDY = Path(__file__).resolve().parents[2] / "studies" / "cnv_cifar10.yaml"


def test_cifar_study_holds_brevitas_cnv_2w2a_recipe() -> None:
    spec = load_spec(STUDY)
    tr = spec.training
    assert spec.dataset == "cifar10" and spec.space.family == "cnv"
    assert tuple(spec.space.weight_bits) == (2,) and tuple(spec.space.act_bits) == (2,)
    # brevitas_examples/bnn_pynq: Adam lr 0.02, batch 100, 500 epochs for 2W2A, RandomCrop(32, 4) + flip.
    assert (tr.lr, tr.batch_size, tr.epochs, tr.augment) == (0.02, 100, 500, "crop_flip")
    assert tr.train_subset is None and tr.device == "auto"


def _fake_cifar(root: Path, per_batch: int, n_test: int) -> None:
    """Random pixels and labels in the official layout (dicts of b'data' uint8 N x 3072, b'labels')."""
    rng = np.random.default_rng(0)
    d = root / CIFAR10_DIRNAME
    d.mkdir(parents=True)
    for name in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE):
        n = n_test if name == CIFAR10_TEST_FILE else per_batch
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar_study_trains_one_step_on_a_local_copy(tmp_path: Path) -> None:
    """The study's dataset and training settings, as a trial reads them, from a local folder: one
    augmented step of the study's CNV w2a2 (200 - 100 held out = one batch of 100)."""
    _fake_cifar(tmp_path, per_batch=40, n_test=40)
    spec = load_spec(STUDY)
    tr = spec.training.model_copy(update={"epochs": 1, "val_size": 100})
    ds = load_dataset(spec.dataset, tmp_path, val_size=tr.val_size, seed=spec.seed, rgb32=True)
    assert ds.train.images.shape == (100, 3, 32, 32) and len(ds.val) == 100 and len(ds.test) == 40
    torch.manual_seed(0)
    model = build_cnv(CNVConfig(weight_bits=2, act_bits=2))
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, ds.train, ds.val, ds.test, epochs=tr.epochs, batch_size=tr.batch_size, lr=tr.lr,
                   seed=spec.seed, device="cpu", augment=tr.augment)
    assert result.epochs == 1 and result.progress == 1.0
    assert 0.0 <= result.test_accuracy <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the step changed weights
