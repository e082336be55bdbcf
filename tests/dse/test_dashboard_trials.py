"""Trials export (CSV/Parquet round trips) and optuna-dashboard (plots stored, served over loopback)."""
from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest

from dse.errors import ConfigError
from dse.trials_export import export_frame, write_trials

def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, parse_dates=["datetime_start", "datetime_complete"])
    return pd.read_parquet(path)


def _assert_same(back: pd.DataFrame, df: pd.DataFrame) -> None:
    """Equal up to dtype and the spelling of missing values (CSV reads None back as NaN)."""
    def norm(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype(object).where(frame.notna(), None)

    assert list(back.columns) == list(df.columns)
    pd.testing.assert_frame_equal(norm(back), norm(df), check_dtype=False)


def _mixed_study() -> optuna.Study:
    """In memory: one complete trial with our attributes, one failed trial with none."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    dist = optuna.distributions.IntDistribution(1, 4)
    study.add_trial(optuna.trial.create_trial(
        params={"weight_bits": 2}, distributions={"weight_bits": dist}, values=[0.9, 100.0],
        user_attrs={"val_accuracy": 0.9, "lut": 100.0, "utilization": {"lut": 0.1, "bram18": 0.02},
                    "val_history": [0.8, 0.9]},
        constraints={"fits_U280": -0.5}))
    study.add_trial(optuna.trial.create_trial(
        params={"weight_bits": 3}, distributions={"weight_bits": dist}, state=optuna.trial.TrialState.FAIL,
        user_attrs={"reason": "FINN build failed, see trials/00001/build.log"}))
    return study


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_trials_round_trip_with_failed_trial(tmp_path: Path, suffix: str) -> None:
    study = _mixed_study()
    path = write_trials(study, tmp_path / f"trials{suffix}")
    back, df = _read(path), export_frame(study)
    _assert_same(back, df)
    assert list(back["state"]) == ["COMPLETE", "FAIL"]
    assert back["utilization_lut"][0] == pytest.approx(0.1) and math.isnan(back["utilization_lut"][1])
    assert json.loads(back["val_history"][0]) == [0.8, 0.9]
    assert back["reason"][1].startswith("FINN build failed")
    assert not list(tmp_path.glob(".*.tmp")), "temp file left behind"


@pytest.mark.parametrize("suffix", [".txt", ".parquet.gz", ""])
def test_write_trials_refuses_unknown_suffix(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown (suffix|file type).*allowed: \.csv, \.parquet") as err:
        write_trials(_mixed_study(), tmp_path / f"t{suffix}")
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir())


def test_write_trials_format_choice(tmp_path: Path) -> None:
    assert len(pd.read_csv(write_trials(_mixed_study(), tmp_path / "T.CSV"))) == 2  # suffix case is ignored
    path = write_trials(_mixed_study(), tmp_path / "trials.dat", fmt="parquet")
    assert len(pd.read_parquet(path)) == 2


# The smoke study trains and runs FINN, so tests that use it carry test_end_to_end's marks.
@pytest.mark.slow
@pytest.mark.finn
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_trials_round_trip_on_smoke_study(smoke_workdir: Path, tmp_path: Path, suffix: str) -> None:
    from dse.storage.database import load_study

    study = load_study(smoke_workdir)
    path = write_trials(study, tmp_path / "out" / f"trials{suffix}")
    back = _read(path)
    _assert_same(back, export_frame(study))
    assert len(back) == len(study.trials) == 4
    assert {"weight_bits", "lut", "fps", "val_accuracy", "state", "feasible", "pareto", "reason",
            "duration_s", "train_s", "utilization_lut", "utilization_bram18"} <= set(back.columns)
    assert back["pareto"].sum() == len(study.best_trials)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str, server: subprocess.Popen[bytes], log: Path, wait_s: float = 25) -> Any:
    """GET url as JSON, retrying while the server starts; bounded, and fails fast if it died."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp)
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None, f"dashboard exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"dashboard did not answer within {wait_s} s"
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.finn
def test_dashboard_serves_study_with_our_plots(smoke_workdir: Path, tmp_path: Path) -> None:
    from dse.dashboard import LAYERS_PLOT_ID, LAYERS_PLOT_IDS, PARETO_PLOT_ID, PARETO_PLOT_IDS, attach_plots, dashboard_url
    from dse.storage.database import load_study

    # A copy, so the shared smoke study is not changed under other tests.
    workdir = shutil.copytree(smoke_workdir, tmp_path / "run")
    meta = json.loads((workdir / "study.json").read_text())
    meta["storage"] = f"sqlite:///{(workdir / 'study.db').resolve()}"
    (workdir / "study.json").write_text(json.dumps(meta))
    study = load_study(workdir)
    attach_plots(study, workdir=workdir)
    attach_plots(study, workdir=workdir)  # again: must replace, not duplicate

    port, log = _free_port(), tmp_path / "server.log"
    code = f"from dse.dashboard import serve; serve({meta['storage']!r}, port={port})"
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)
    base = dashboard_url("127.0.0.1", port).removesuffix("/dashboard/")
    try:
        summaries = _get_json(f"{base}/api/studies", server, log)["study_summaries"]
        assert [s["study_name"] for s in summaries] == [meta["study_name"]]
        detail = _get_json(f"{base}/api/studies/{summaries[0]['study_id']}", server, log)
        assert detail["name"] == meta["study_name"] and len(detail["trials"]) == len(study.trials) == 4
        plots = {p["id"]: json.loads(p["graph_object"]) for p in detail["plotly_graph_objects"]}
        assert sorted(plots) == sorted([*PARETO_PLOT_IDS, *LAYERS_PLOT_IDS.values()])
        assert "Pareto front" in plots[PARETO_PLOT_ID]["layout"]["title"]["text"]
        assert plots[LAYERS_PLOT_ID]["data"], "per-layer figure has no bars"
        with urllib.request.urlopen(f"{base}/dashboard/", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_serve_refuses_port_in_use(tmp_path: Path) -> None:
    from dse.dashboard import dashboard_url, serve

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*in use") as err:
            serve(url, port=port)
    assert "\n" not in str(err.value)
    assert dashboard_url("::1", 8080) == "http://[::1]:8080/dashboard/"


def _dominates(a: list[float], b: list[float], directions: list[str]) -> bool:
    signs = [1 if d == "maximize" else -1 for d in directions]
    return all(s * x >= s * y for s, x, y in zip(signs, a, b)) and a != b


def test_dashboard_api_has_constraints_names_and_feasible_best_trials(tmp_path: Path, mnist_root: Path) -> None:
    """A real study with designs the estimators stopped (accuracy 0, few LUTs: on the unconstrained
    front) served by `finn-dse dashboard`: optuna-dashboard's own study API names the objectives,
    carries every trial's constraint values and ranks only feasible designs as best."""
    from dse.spec import parse_spec
    from dse.study import run_study

    spec = parse_spec({
        "name": "dash", "dataset": "mnist", "sampler": "random", "seed": 3, "n_trials": 6,
        "training": {"epochs": 1, "train_subset": 600, "val_size": 500, "batch_size": 100},
        "space": {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [32], "hidden_layers": [2],
                  "folding": {"target_fps": {"low": 1e4, "high": 1e6}}},
        "limits": {"min_fps": 1e5},
        "evaluation": {"hardware": "per_trial", "finn_confirm": False, "export_model": False}})
    workdir = tmp_path / "run"
    study = run_study(spec, workdir, data_root=mnist_root, write_report=False)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    stopped = {t.number for t in complete if t.user_attrs.get("stopped_by") == "estimator"}
    feasible = {t.number for t in study.best_trials}
    unconstrained = {t.number for t in complete
                     if not any(_dominates(o.values, t.values, spec.directions) for o in complete)}
    assert stopped & unconstrained and feasible, "the fixture must have a stopped design a plain front would rank"

    port, log = _free_port(), tmp_path / "server.log"
    exe = Path(sys.executable).with_name("finn-dse")
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen([str(exe), "dashboard", "--workdir", str(workdir), "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        (summary,) = _get_json(f"{base}/api/studies", server, log, wait_s=60)["study_summaries"]
        detail = _get_json(f"{base}/api/studies/{summary['study_id']}", server, log)
        assert detail["objective_names"] == ["validation accuracy", "throughput (frames/s)", "LUTs"]
        by_number = {t["number"]: t for t in detail["trials"]}
        assert sorted(by_number) == [t.number for t in study.trials]
        for t in complete:
            assert sorted(by_number[t.number]["constraints"]) == sorted(t.constraints.values()), t.number
            assert by_number[t.number]["constraints"], f"trial {t.number} has no constraint values in the dashboard"
        assert all(max(by_number[n]["constraints"]) > 0 for n in stopped)
        best = {t["number"] for t in detail["best_trials"]}
        assert best == feasible and not best & stopped
        assert all(v <= 0 for t in detail["best_trials"] for v in t["constraints"])
        # Our figures fit the dashboard's half-width 450 px cards: one panel each, so no subplot
        # titles collide (they did with three panels side by side).
        from dse.dashboard import CARD_HEIGHT, LAYERS_PLOT_IDS, PARETO_PLOT_IDS

        plots = {p["id"]: json.loads(p["graph_object"]) for p in detail["plotly_graph_objects"]}
        assert sorted(plots) == sorted([*PARETO_PLOT_IDS, *LAYERS_PLOT_IDS.values()])
        for plot in plots.values():
            layout = plot["layout"]
            assert layout["height"] == CARD_HEIGHT and "xaxis2" not in layout and not layout.get("annotations")
        # The dashboard's incremental poll (?after=N): later trials only, the same best trials.
        later = _get_json(f"{base}/api/studies/{summary['study_id']}?after=3", server, log)
        assert [t["number"] for t in later["trials"]] == [t.number for t in study.trials][3:]
        assert {t["number"] for t in later["best_trials"]} == feasible
        with urllib.request.urlopen(f"{base}/dashboard/", timeout=5) as resp:
            assert resp.status == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
