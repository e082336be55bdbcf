"""The walking skeleton as a user runs it: a real smoke study, the Pareto table, an export
that finn-plus accepts and that reproduces its own estimates."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_bundle_reproduces_estimates, finn_dse

pytestmark = [pytest.mark.slow, pytest.mark.finn]


@pytest.fixture(scope="module")
def bundle(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    from dse.storage.database import load_study

    study = load_study(smoke_workdir)
    front = sorted(t.number for t in study.best_trials)
    assert front, "the smoke study has no feasible Pareto trial"
    out = tmp_path_factory.mktemp("bundle") / "b"
    finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(front[0]), "--out", str(out))
    return out, front[0]


def test_run_leaves_database_trials_and_plot(smoke_workdir: Path) -> None:
    from dse.results import trials_frame
    from dse.storage.database import load_study

    frame = trials_frame(load_study(smoke_workdir))
    assert len(frame) == 4 and (frame.state == "COMPLETE").all()
    assert frame.val_accuracy.between(0.5, 1.0).all() and frame.test_accuracy.between(0.5, 1.0).all()
    assert (frame.fps > 0).all() and (frame.lut > 0).all() and frame.fits.all()
    html = (smoke_workdir / "pareto.html").read_text()
    assert "plotly" in html and "Pareto front" in html
    for number in frame.number:
        trial_dir = smoke_workdir / "trials" / f"{number:05d}"
        for name in ("model.onnx", "folding_config.json", "estimate.json", "metrics.json", "weights.pt"):
            assert (trial_dir / name).exists(), name
        assert (trial_dir / "finn_reports" / "estimate_network_performance.json").exists()


def test_rerun_resumes_without_new_trials(smoke_workdir: Path) -> None:
    proc = finn_dse("run", "studies/smoke.yaml", "--workdir", str(smoke_workdir))
    assert "already has 4 finished trials" in proc.stderr
    assert "Pareto front of smoke (4 trials)" in proc.stdout


def test_pareto_command_prints_the_front(smoke_workdir: Path, bundle: tuple[Path, int]) -> None:
    proc = finn_dse("pareto", "--workdir", str(smoke_workdir))
    assert "Pareto front of smoke" in proc.stdout and "MVAU" in proc.stdout


def test_bundle_loads_in_finn_and_reproduces_estimates(bundle: tuple[Path, int]) -> None:
    from finn.builder.build_dataflow_config import DataflowBuildConfig, ShellFlowType

    out, trial = bundle
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.onnx", "folding_config.json", "build.yaml", "build.sh", "estimates.json", "README.md"])
    cfg = DataflowBuildConfig.construct_from(out / "build.yaml")
    assert cfg.board == "U280" and cfg.shell_flow_type == ShellFlowType.VITIS_ALVEO
    assert cfg.synth_clk_period_ns == 5.0 and cfg.folding_config_file == (out / "folding_config.json").absolute()
    assert {o.value for o in cfg.generate_outputs} >= {"bitfile", "pynq_driver", "deployment_package"}
    assert cfg._resolve_fpga_part() == "xcu280-fsvh2892-2L-e"

    assert_bundle_reproduces_estimates(out, trial)
    assert "finn build --batch build.yaml model.onnx" in (out / "README.md").read_text()


def test_export_twice_gives_the_same_bundle(smoke_workdir: Path, bundle: tuple[Path, int], tmp_path: Path) -> None:
    out, trial = bundle
    finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(trial), "--out", str(tmp_path))
    for f in out.iterdir():
        assert (tmp_path / f.name).read_bytes() == f.read_bytes(), f.name


def test_bundle_model_predicts_like_pytorch(smoke_workdir: Path, bundle: tuple[Path, int], mnist_root: Path) -> None:
    import torch
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from dse.data import load_mnist
    from dse.models.tfc import TFCConfig, build_tfc

    out, trial = bundle
    params = json.loads((out / "estimates.json").read_text())["params"]
    net = build_tfc(TFCConfig(hidden=(params["hidden_width"],) * params["hidden_layers"],
                              weight_bits=params["weight_bits"], act_bits=params["act_bits"]))
    net.load_state_dict(torch.load(smoke_workdir / "trials" / f"{trial:05d}" / "weights.pt"))
    net.eval()
    test = load_mnist(mnist_root, val_size=1000).test
    n = 200
    images = test.images[:n].reshape(n, 784).astype(np.float32)
    with torch.no_grad():
        logits = net(torch.from_numpy(images)).numpy()
    model = ModelWrapper(str(out / "model.onnx"))
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    got = np.array([int(execute_onnx(model, {iname: images[i:i + 1]})[oname].flatten()[0]) for i in range(n)])
    # Binary nets produce exact logit ties, which either side may break its own way: a class QONNX
    # picks must be one of PyTorch's top classes (within float rounding). A float32 activation that
    # lands on a threshold can still round the other way on one side: allow 1% of such images.
    top = logits.max(axis=1)
    tol = 1e-5 * np.maximum(1.0, np.abs(top))
    picked = logits[np.arange(n), got]
    off = np.flatnonzero(picked < top - tol)
    assert off.size <= n // 100, [(int(i), int(got[i]), logits[i].round(4).tolist()) for i in off[:5]]


def test_export_rejects_unknown_trial(smoke_workdir: Path, tmp_path: Path) -> None:
    proc = finn_dse("export", "--workdir", str(smoke_workdir), "--trial", "99", "--out", str(tmp_path), check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: study 'smoke' has no trial 99 (trials: 0..3)"


def test_bundle_records_provenance_and_takes_build_options(smoke_workdir: Path, bundle: tuple[Path, int],
                                                           tmp_path: Path) -> None:
    from finn.builder.build_dataflow_config import AutoFIFOSizingMethod, DataflowBuildConfig

    out, trial = bundle
    recorded = json.loads((out / "estimates.json").read_text())
    assert recorded["provenance"]["packages"]["finn-plus"] == "1.6.1"
    assert recorded["provenance"]["study"] == "smoke" and recorded["on_pareto_front"] is True
    finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(trial), "--out", str(tmp_path),
             "--build-option", "auto_fifo_strategy=live_fifo", "--build-option", "verbose=true")
    cfg = DataflowBuildConfig.construct_from(tmp_path / "build.yaml")
    assert cfg.auto_fifo_strategy == AutoFIFOSizingMethod.LIVE_FIFO and cfg.verbose is True
    for option, message in [("board=U250", "is fixed by the study"), ("no_such=1", "not defined in DataflowBuildConfig"),
                            ("oops", "is not KEY=VALUE")]:
        proc = finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(trial), "--out", str(tmp_path / "bad"),
                        "--build-option", option, check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "bad").exists()  # nothing half-written


def test_non_pareto_trial_exports_with_a_warning(smoke_workdir: Path, tmp_path: Path) -> None:
    import shutil

    import optuna

    from dse.storage.database import load_study

    # A copy of the study with one clearly dominated trial added (its artifacts copied from trial 0).
    work = tmp_path / "w"
    shutil.copytree(smoke_workdir, work, ignore=shutil.ignore_patterns(".run.lock"))
    (work / "study.json").write_text(json.dumps({"study_name": "smoke", "storage": f"sqlite:///{work / 'study.db'}"}))
    study = load_study(work)
    source = study.trials[0]
    dominated = optuna.trial.create_trial(
        params=source.params, distributions=source.distributions, values=[0.01, 1.0, 1e9],
        user_attrs={**source.user_attrs, "val_accuracy": 0.01}, constraints={"fits_U280": -0.5})
    study.add_trial(dominated)
    number = study.trials[-1].number
    assert number not in {t.number for t in study.best_trials}
    proc = finn_dse("export", "--workdir", str(work), "--trial", str(number), "--out", str(tmp_path / "b"))
    assert "not on the Pareto front" in proc.stderr
    assert json.loads((tmp_path / "b" / "estimates.json").read_text())["on_pareto_front"] is False
