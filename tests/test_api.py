"""The Python API (dse.api): every CLI command has its function, `import dse` stays light, and the
functions work on a real study (the session's smoke study, and estimator-only studies that train nothing)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import dse
from dse.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "finn", "qonnx", "brevitas", "onnx", "plotly", "optuna")


def test_every_cli_command_maps_onto_an_api_function() -> None:
    from dse import api
    from dse.cli import cli

    assert set(cli.commands) == set(api.CLI_COMMANDS), "a CLI command without an API function (or the reverse)"
    for name, fn in api.CLI_COMMANDS.items():
        assert callable(fn) and fn.__module__ == "dse.api", name
        assert fn.__doc__ and f"finn-dse {name}" in fn.__doc__, f"{fn.__qualname__} does not name `finn-dse {name}`"


@pytest.mark.parametrize("module", ["dse", "dse.api"])
def test_import_stays_light(module: str) -> None:
    code = (f"import sys, {module}; heavy = {set(HEAVY)!r} & {{m.split('.')[0] for m in sys.modules}}; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_public_names_load_lazily() -> None:
    assert set(dse.__all__) <= set(dir(dse))
    for name in dse.__all__:
        assert getattr(dse, name) is not None
    assert dse.create_study is dse.api.create_study and dse.StudySpec.__name__ == "StudySpec"
    assert dse.run_study.__module__ == "dse.study"  # kept for existing callers
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dse.nope  # noqa: B018


def _screen_only(name: str, **changes: Any) -> dict[str, Any]:
    """A study whose every design breaks min_fps: the estimators stop each trial in milliseconds."""
    spec: dict[str, Any] = {
        "name": name, "space": {"family": "tfc", "weight_bits": [1, 2], "act_bits": [2], "hidden_width": [32, 64],
                                "hidden_layers": [2], "target_fps": {"low": 50_000, "high": 200_000, "log": True}},
        "limits": {"min_fps": 1e9}, "sampler": "random", "n_trials": 3, "seed": 0,
        "evaluation": {"hardware": "per_trial"},
    }
    spec.update(changes)
    return spec


def test_create_study_takes_a_file_a_spec_or_a_dict(tmp_path: Path) -> None:
    from dse.spec import load_spec

    from_file = dse.create_study(ROOT / "studies" / "smoke.yaml", workdir=tmp_path / "a")
    spec = load_spec(ROOT / "studies" / "smoke.yaml")
    assert dse.create_study(spec, workdir=tmp_path / "b").spec == from_file.spec == spec
    assert dse.create_study(spec.model_dump(mode="json"), workdir=tmp_path / "c").spec == spec
    assert from_file.workdir == tmp_path / "a" and not (tmp_path / "a").exists(), "nothing is written before use"
    assert dse.create_study(spec).workdir == Path("runs") / "smoke"
    with pytest.raises(ConfigError, match=r"space.hidden_widht: unknown key"):
        dse.create_study({"name": "x", "space": {"hidden_widht": [64]}})
    with pytest.raises(ConfigError, match="study file not found"):
        dse.create_study(tmp_path / "no.yaml")


def test_run_screened_study_and_read_it_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = dse.create_study(_screen_only("api_screen"), workdir=tmp_path / "w", data_root=tmp_path / "no-data")
    assert study.trials().empty
    assert study.run() is study  # progress bar on (text outside Jupyter); no data needed: nothing trains
    assert "trials" in capsys.readouterr().err
    frame = study.trials()
    assert len(frame) == 3 and (frame.state == "COMPLETE").all() and not frame.feasible.any()
    assert (frame.stopped_by == "estimator").all() and frame.reason.str.contains("fps").all()
    assert study.pareto().empty
    layers = study.layers(0)
    assert list(layers.columns) == ["name", "op_type", "pe", "simd", "cycles", "lut", "bram18", "uram", "dsp",
                                    "bottleneck"]
    assert layers.bottleneck.sum() == 1 and layers.cycles[layers.bottleneck].item() == layers.cycles.max()
    # Resuming reads the same study back; load_study sees it too, with its private SQLite storage.
    again = dse.load_study(tmp_path / "w")
    assert again.spec == study.spec and again._storage is None and len(again.trials()) == 3
    assert again.run(n_trials=4, progress=False).trials().shape[0] == 4
    assert "4 finished trials, 0 on the Pareto front" in repr(again)


def test_run_stops_at_the_time_budget(tmp_path: Path) -> None:
    class Slow:
        finished: list[int] = []

        def trial_finished(self, number: int, state: str, summary: str) -> None:
            self.finished.append(number)
            time.sleep(0.6)

    study = dse.create_study(_screen_only("api_budget", n_trials=50), workdir=tmp_path / "w")
    started = time.perf_counter()
    study.run(timeout_s=1.0, progress=False, observer=Slow())
    assert 1 <= len(Slow.finished) <= 4 and time.perf_counter() - started < 30
    assert len(study.trials()) == len(Slow.finished)
    with pytest.raises(ConfigError, match="timeout_s must be > 0"):
        study.run(timeout_s=0)


def test_unknown_trials_are_one_line_errors(tmp_path: Path) -> None:
    study = dse.create_study(_screen_only("api_errors", n_trials=1), workdir=tmp_path / "w")
    study.run(progress=False)
    with pytest.raises(ConfigError, match=r"has no trial 7 \(trials: 0\.\.0\)"):
        study.layers(7)
    with pytest.raises(ConfigError, match="has no trial 7"):
        study.layers_figure(0, 7)
    with pytest.raises(ConfigError, match="no FINN-DSE study in"):
        dse.load_study(tmp_path / "elsewhere")


# The smoke study trains and runs FINN, so tests that use it carry test_end_to_end's marks.
@pytest.mark.slow
@pytest.mark.finn
def test_api_on_the_smoke_study(smoke_workdir: Path, tmp_path: Path) -> None:
    import pandas as pd
    import plotly.graph_objects as go

    study = dse.load_study(smoke_workdir)
    trials, front = study.trials(), study.pareto()
    assert len(trials) == 4 and not front.empty
    assert (front.feasible & front.pareto).all() and front.val_accuracy.is_monotonic_decreasing
    assert set(front.number) == {t.number for t in study.optuna.best_trials}

    fig = study.pareto_figure()
    assert isinstance(fig, go.Figure) and "Pareto front of smoke" in fig.layout.title.text
    best, other = int(front.number[0]), int(trials.number[trials.number != front.number[0]].iloc[0])
    layers = study.layers_figure(best, other)
    assert {t.name for t in layers.data} == {f"trial {best}", f"trial {other}"}
    assert len(study.layers_figure().data) == 2 * len(front)  # LUT and cycles bars per front design
    hv = study.hypervolume_figure().data[0]
    assert list(hv.x) == sorted(trials.number) and list(hv.y) == sorted(hv.y) and hv.y[-1] > 0

    bundle = study.export(best, tmp_path / "bundle", build_options=["auto_fifo_strategy=live_fifo"])
    assert bundle.on_pareto_front and (bundle.path / "build.yaml").read_text().count("live_fifo") == 1
    assert sorted(p.name for p in bundle.path.iterdir()) == sorted(
        ["model.onnx", "folding_config.json", "build.yaml", "build.sh", "estimates.json", "README.md"])
    assert study.report(tmp_path / "r.html").stat().st_size > 100_000
    assert len(pd.read_csv(study.write_trials(tmp_path / "t.csv"))) == 4

    # The same folding, judged by the estimators on the model FINN converts: FINN's recorded figures.
    recorded = json.loads((bundle.path / "estimates.json").read_text())["hardware"]
    report = dse.estimate_model(bundle.path / "model.onnx", folding=bundle.path / "folding_config.json")
    assert report.data["mode"] == "given" and report.data["max_cycles"] == recorded["max_cycles"]
    assert report.data["totals"]["lut"] == pytest.approx(recorded["lut"], rel=0.01)
    with pytest.raises(ConfigError, match="cannot read folding config"):
        dse.estimate_model(bundle.path / "model.onnx", folding=tmp_path / "none.json")
