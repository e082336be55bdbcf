"""Deployment bundles: what a user hands to `finn build` on a machine with Vivado/Vitis.

A bundle is read from what the study recorded (never retrained): the trained QONNX model, the
FINN folding config its estimate used, a DataflowBuildConfig (build.yaml) for the U280 Vitis
flow at the study's clock, the estimates, and a README with the build command. Files carry no
timestamps, so exporting the same trial twice gives the same bundle.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import StudyLayout, TrialFiles, write_atomic, write_json
from dse.errors import ConfigError

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

BUNDLE_FILES = ("model.onnx", "folding_config.json", "build.yaml", "estimates.json", "README.md")


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    trial: int
    on_pareto_front: bool


def build_config(*, board: str, clock_ns: float, mvau_wwidth_max: int, vitis_platform: str | None) -> dict[str, Any]:
    """A finn-plus DataflowBuildConfig (as YAML data) that builds exactly the estimated design."""
    config: dict[str, Any] = {
        "output_dir": "build",
        "synth_clk_period_ns": clock_ns,
        "board": board,
        "shell_flow_type": "vitis_alveo",
        "folding_config_file": "folding_config.json",
        "mvau_wwidth_max": mvau_wwidth_max,
        "generate_outputs": ["estimate_reports", "bitfile", "pynq_driver", "deployment_package"],
    }
    if vitis_platform:
        config["vitis_platform"] = vitis_platform
    return config


def _readme(study: str, trial: int, params: dict[str, Any], hw: dict[str, Any], acc: dict[str, float]) -> str:
    return f"""# FINN-DSE bundle: study `{study}`, trial {trial}

Design: weight bits {params.get('weight_bits')}, activation bits {params.get('act_bits')},
hidden layers {params.get('hidden_layers')} x {params.get('hidden_width')} neurons.
Accuracy (MNIST): validation {acc['val_accuracy']:.2%}, test {acc['test_accuracy']:.2%}.
FINN estimate for the {hw['board']} at {hw['clock_ns']} ns: {hw['fps']:,.0f} fps,
{hw['latency_ns'] / 1000:.1f} us latency, {hw['lut']:,.0f} LUT, {hw['bram18']:,.0f} BRAM18,
{hw['uram']:,.0f} URAM, {hw['dsp']:,.0f} DSP (bottleneck: {hw['bottleneck']}).
These are FINN's pre-synthesis estimates, not measurements.

## Files
- `model.onnx`: the trained network in QONNX (input: UINT8 pixels, shape 1x784; output: class index).
- `folding_config.json`: PE/SIMD and memory styles per layer (FINN ApplyConfig format).
- `build.yaml`: finn-plus DataflowBuildConfig (Vitis Alveo shell flow, U280, clock, folding file).
- `estimates.json`: FINN's per-layer and total estimates, the fit check, the accuracies.

## Build (needs finn-plus 1.6.1 with Vivado, Vitis and XRT, e.g. on a cluster node)
```
finn build build.yaml model.onnx
```
Outputs go to `build/` (bitfile, PYNQ driver, deployment package). FIFO depths are sized by
FINN's default (`auto_fifo_depths`); edit `build.yaml` to change build options.
"""


def export_bundle(study: optuna.Study, workdir: Path, trial_number: int, out_dir: Path) -> Bundle:
    """Write the bundle of ``trial_number`` to ``out_dir`` (created or overwritten file by file)."""
    from dse.spec import parse_spec
    from estimators.devices import get_board

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if trial_number not in trials:
        known = f"0..{max(trials)}" if trials else "none yet"
        raise ConfigError(f"study {study.study_name!r} has no trial {trial_number} (trials: {known})")
    trial = trials[trial_number]
    if trial.state.name != "COMPLETE":
        raise ConfigError(f"trial {trial_number} is {trial.state.name}, only COMPLETE trials can be exported")
    files = TrialFiles(StudyLayout(Path(workdir)).root / trial.user_attrs["artifact_dir"])
    missing = [p.name for p in (files.model, files.folding, files.estimate) if not p.exists()]
    if missing:
        raise ConfigError(f"trial {trial_number}'s artifacts are missing in {files.root}: {', '.join(missing)}")
    on_front = trial_number in {t.number for t in study.best_trials}
    if not on_front:
        logger.warning("trial %d is not on the Pareto front; exporting it anyway", trial_number)

    spec = parse_spec(study.user_attrs["spec"], source=f"study {study.study_name}")
    hw = spec.hardware
    estimate = json.loads(files.estimate.read_text())
    accuracy = {k: float(trial.user_attrs[k]) for k in ("val_accuracy", "test_accuracy")}
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(files.model, out_dir / "model.onnx")
    shutil.copyfile(files.folding, out_dir / "folding_config.json")

    import yaml

    header = (f"# FINN DataflowBuildConfig (finn-plus 1.6.1) for study {study.study_name}, trial {trial_number}.\n"
              "# Build with: finn build build.yaml model.onnx\n")
    config = build_config(board=hw.board, clock_ns=hw.clock_ns, mvau_wwidth_max=hw.mvau_wwidth_max,
                          vitis_platform=get_board(hw.board).vitis_platform)
    write_atomic(out_dir / "build.yaml", header + yaml.safe_dump(config, sort_keys=False))
    write_json(out_dir / "estimates.json", {
        "study": study.study_name, "trial": trial_number, "params": dict(trial.params),
        "accuracy": accuracy, "hardware": estimate, "source": "FINN estimate (pre-synthesis)",
        "mvau_wwidth_max": hw.mvau_wwidth_max,
    })
    write_atomic(out_dir / "README.md", _readme(study.study_name, trial_number, dict(trial.params), estimate, accuracy))
    return Bundle(out_dir, trial_number, on_front)
