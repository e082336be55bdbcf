"""Shared fixtures: real MNIST (fetched once), and one real smoke study run through the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# The suite must pass on a loaded machine: no property test fails for taking long (a test that
# sets its own settings keeps them; what it leaves out comes from here).
settings.register_profile("loaded-machine", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("loaded-machine")

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.services"]


def finn_dse(*args: str, check: bool = True, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run the real console script (as a user would)."""
    exe = Path(sys.executable).with_name("finn-dse")
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"finn-dse {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_bundle_reproduces_estimates(out: Path, trial: int) -> None:
    """FINN's estimate flow on an exported bundle (its model, folding and build.yaml clock) gives
    exactly the hardware figures recorded in its estimates.json."""
    import json

    from finn.builder.build_dataflow_config import DataflowBuildConfig

    from dse.finn import estimate as finn_estimate

    cfg = DataflowBuildConfig.construct_from(out / "build.yaml")
    recorded = json.loads((out / "estimates.json").read_text())
    assert recorded["trial"] == trial
    folding = json.loads((out / "folding_config.json").read_text())
    again = finn_estimate(out / "model.onnx", board=cfg.board, clock_ns=cfg.synth_clk_period_ns,
                          folding=folding, mvau_wwidth_max=cfg.mvau_wwidth_max)
    assert {**again.estimate.to_dict(), "source": "finn"} == recorded["hardware"]


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    from dse.data import default_data_root, fetch_mnist

    root = default_data_root(os.environ)
    fetch_mnist(root)
    return root


@pytest.fixture(scope="session")
def smoke_workdir(tmp_path_factory: pytest.TempPathFactory, mnist_root: Path) -> Path:
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    proc = finn_dse("run", "studies/smoke.yaml", "--workdir", str(workdir))
    assert "Pareto front of smoke" in proc.stdout
    return workdir


@pytest.fixture(scope="session")
def tfc_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small QONNX TFC (784-64-64-10, w2a2) exported from Brevitas, for `finn-dse estimate` tests."""
    import torch

    from dse.finn import export_qonnx
    from dse.models.tfc import TFCConfig, build_tfc

    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("est") / "tfc.onnx"
    return export_qonnx(build_tfc(TFCConfig(hidden=(64, 64), weight_bits=2, act_bits=2)), path,
                        input_shape=(1, 784))


def estimate_json(*args: str) -> dict[str, Any]:
    """`finn-dse estimate ARGS --json`, parsed."""
    return json.loads(finn_dse("estimate", *args, "--json").stdout)  # type: ignore[no-any-return]


def ctrl_c_default() -> None:
    """``preexec_fn`` for a process a test will Ctrl-C: SIGINT back to its default. A shell starts
    background jobs with SIGINT ignored and children inherit that (so does the suite, run as one);
    the user's Ctrl-C reaches a foreground process, which is what the test stands for."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
