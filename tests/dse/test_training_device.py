"""training.device / augment / threads: where a network trains, what its batches are, on real MNIST."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dse.data import Split, load_mnist
from dse.errors import ConfigError
from dse.spec import TrainingSpec
from dse.training import crop_flip, resolve_device, set_threads, train
from tests.conftest import ROOT, finn_dse

HAS_GPU = torch.cuda.is_available()


class Recorder(nn.Module):
    """A real linear classifier that keeps every batch it is given, apart for training and eval."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)
        self.seen: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen[self.training].append(x.detach().cpu().clone())
        return self.fc(x.flatten(1) / 255.0)


@pytest.fixture(scope="module")
def small(mnist_root: Path) -> tuple[Split, Split, Split]:
    ds = load_mnist(mnist_root, val_size=200, seed=0)
    cut = lambda s, n: Split(images=s.images[:n], labels=s.labels[:n])  # noqa: E731
    return cut(ds.train, 300), ds.val, cut(ds.test, 200)


def _rows(images: list[torch.Tensor]) -> set[bytes]:
    return {row.to(torch.uint8).numpy().tobytes() for batch in images for row in batch}


@pytest.mark.parametrize("augment", ["none", "crop_flip"])
def test_augmentation_changes_training_batches_only(small: tuple[Split, Split, Split], augment: str) -> None:
    tr, val, test = small
    model = Recorder()
    result = train(model, tr, val, test, epochs=1, batch_size=100, lr=0.01, seed=0, augment=augment)
    assert result.val_accuracy > 0.15  # it learns (chance: 0.1) from 3 steps
    trained_on = _rows(model.seen[True])
    originals = _rows([torch.from_numpy(np.array(tr.images))])
    assert len(model.seen[True]) == 3 and sum(len(b) for b in model.seen[True]) == 300
    if augment == "none":
        assert trained_on == originals
    else:  # crops/flips of the same images: most differ from every original, pixel mass is kept or cut
        assert len(trained_on - originals) > 200
    # Validation and test batches are the images as they are, whatever the training batches were.
    assert _rows(model.seen[False]) == _rows([torch.from_numpy(np.array(val.images)), torch.from_numpy(np.array(test.images))])


def test_crop_flip_is_a_shifted_and_mirrored_copy() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = crop_flip(images, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == images.shape and not torch.equal(out, images)
    for src, got in zip(images, out, strict=True):
        # Every kept pixel comes from the same channel of the same image; the rest is padding.
        for c in range(3):
            kept = got[c][got[c] > 0]
            assert set(kept.tolist()) <= set(src[c].flatten().tolist())
            assert len(kept) >= 6 * 6  # a shift of at most 2 in each direction keeps a 6x6 block
    grey = torch.arange(5 * 28 * 28, dtype=torch.uint8).reshape(5, 28, 28)  # MNIST's N x H x W
    assert crop_flip(grey, torch.Generator().manual_seed(0)).shape == grey.shape


def test_model_comes_back_on_cpu_with_cpu_weights(small: tuple[Split, Split, Split]) -> None:
    tr, val, _ = small
    model = Recorder()
    train(model, tr, val, None, epochs=1, batch_size=100, lr=0.01, seed=0, device=resolve_device("auto"))
    assert {p.device.type for p in model.state_dict().values()} == {"cpu"}


def test_device_choice() -> None:
    assert TrainingSpec().device == "auto"
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if HAS_GPU else "cpu")
    if HAS_GPU:
        assert resolve_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(ConfigError, match="training.device: cuda, but torch sees no CUDA GPU"):
            resolve_device("cuda")


def test_threads_default_to_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert set_threads(None) == len(os.sched_getaffinity(0)) == torch.get_num_threads()
        assert set_threads(1) == 1 == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what launch gives a Slurm worker: its task's CPUs
        assert set_threads(None) == 3 == torch.get_num_threads()
        assert set_threads(2) == 2  # the study file's threads win
    finally:
        torch.set_num_threads(before)


def test_device_and_threads_keep_network_identity() -> None:
    base = TrainingSpec().identity()
    assert TrainingSpec(device="cpu", threads=3).identity() == base
    assert "augment" not in base  # networks trained before augment existed keep their keys
    assert TrainingSpec(augment="crop_flip").identity() != base


def _study(tmp_path: Path, training: str, space: str = "") -> Path:
    text = (ROOT / "studies" / "smoke.yaml").read_text().replace("n_trials: 4", "n_trials: 1")
    text = text.replace("training:\n", f"training:\n{training}")
    if space:
        text = text.replace("space:\n  family: tfc\n", space)
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


@pytest.mark.skipif(HAS_GPU, reason="the refusal is for machines without a GPU")
def test_cuda_without_gpu_is_one_line_at_preflight(tmp_path: Path, mnist_root: Path) -> None:
    proc = finn_dse("run", str(_study(tmp_path, "  device: cuda\n")), "--workdir", str(tmp_path / "w"),
                    "--data-root", str(mnist_root), check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "training.device: cuda, but torch sees no CUDA GPU" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "trial" not in proc.stdout.lower()


def test_augment_on_feature_vectors_is_refused(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 4, (300, 16)).astype(np.int64)
    y = (x.sum(1) > 24).astype(np.int64)
    np.savez(tmp_path / "f.npz", x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    dataset = (f"dataset: {{kind: npz, path: {tmp_path / 'f.npz'}, num_classes: 2, input_datatype: UINT2}}\n")
    study = _study(tmp_path, "  augment: crop_flip\n").read_text().replace("dataset: mnist\n", dataset)
    study = study.replace("  val_size: 1000\n", "  val_size: 100\n").replace("  train_subset: 5000\n", "")
    (tmp_path / "study.yaml").write_text(study)
    proc = finn_dse("run", str(tmp_path / "study.yaml"), "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: training.augment: crop_flip crops and flips images, but the samples are 1-D features of shape "
        "(16,): use augment: none"], proc.stderr
