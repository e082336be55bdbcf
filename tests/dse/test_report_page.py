"""report_data / write_report on a real smoke study (run through the real CLI by the smoke_workdir fixture)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dse.artifacts import TrialFiles
from dse.report.page import hypervolume_history, report_data, write_report
from dse.storage.database import load_study

IDS = ("pareto-2d", "pareto-3d", "parcoords", "hypervolume", "trial-select", "layer-cycles", "layer-resources",
       "folding-table", "utilization", "selected-title")
# FAKE figures, only to exercise the synthesis / measurement code path: no real synthesis exists yet.
FAKE_SYNTH = {"synth_lut": 3000.0, "synth_bram18": 8.0, "synth_dsp": 0.0, "measured_fps": 150_000.0}


def study_with_fake_synthesis(workdir: Path) -> Any:
    """An in-memory copy of the study whose first two complete trials carry FAKE synthesis attrs."""
    import optuna

    src = load_study(workdir)
    dst = optuna.create_study(study_name=src.study_name, directions=src.directions)
    for key, value in src.user_attrs.items():
        dst.set_user_attr(key, value)
    faked = 0
    for t in src.get_trials():
        t = copy.deepcopy(t)
        if t.state.name == "COMPLETE" and faked < 2:
            t.user_attrs = {**t.user_attrs, **FAKE_SYNTH}
            faked += 1
        dst.add_trial(t)
    return dst


@pytest.fixture(scope="module")
def study(smoke_workdir: Path) -> Any:
    return load_study(smoke_workdir)


@pytest.fixture(scope="module")
def data(study: Any, smoke_workdir: Path) -> dict[str, Any]:
    return report_data(study, smoke_workdir)


def _complete(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in data["trials"] if t["state"] == "COMPLETE"]


def test_data_is_plain_json(data: dict[str, Any], study: Any) -> None:
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert [t["number"] for t in data["trials"]] == [t.number for t in study.trials]
    assert data["board"] == "U280" and data["clock_ns"] == 5.0


def test_hypervolume_is_non_decreasing_and_normalised(data: dict[str, Any]) -> None:
    hist = data["hypervolume"]["history"]
    assert [h["number"] for h in hist] == sorted(t["number"] for t in data["trials"])
    hv = [h["hypervolume"] for h in hist]
    assert all(b >= a for a, b in zip(hv, hv[1:]))
    assert 0 < hv[-1] <= 1
    assert hist[-1]["n_feasible"] == sum(t["feasible"] for t in _complete(data))
    assert data["hypervolume"]["fps_max"] == pytest.approx(2e8)  # 1 frame per cycle at 5 ns


def test_hypervolume_matches_hand_computed_boxes() -> None:
    def trial(n: int, acc: float, fps: float, lut: float, feasible: bool = True) -> dict[str, Any]:
        return {"number": n, "state": "COMPLETE", "feasible": feasible,
                "metrics": {"val_accuracy": acc, "fps": fps, "lut": lut}}

    hist = hypervolume_history(
        [trial(0, 0.5, 50.0, 50.0), trial(1, 0.9, 90.0, 10.0, feasible=False), trial(2, 0.5, 50.0, 75.0),
         trial(3, 1.0, 50.0, 50.0)], fps_max=100.0, lut_budget=100.0)
    # One box of 0.5^3; an infeasible or dominated trial adds nothing; trial 3 doubles the accuracy side.
    assert [h["hypervolume"] for h in hist] == pytest.approx([0.125, 0.125, 0.125, 0.25])
    assert [h["n_feasible"] for h in hist] == [1, 1, 2, 3]


def test_flags_match_optuna(data: dict[str, Any], study: Any) -> None:
    assert {t["number"] for t in data["trials"] if t["pareto"]} == {t.number for t in study.best_trials}
    for t, ft in zip(data["trials"], study.trials):
        fits = ft.state.name == "COMPLETE" and all(v <= 0 for v in ft.constraints.values())
        assert t["feasible"] == fits
        assert not t["pareto"] or t["feasible"]
    order = data["selection_order"]
    assert sorted(order) == sorted(t["number"] for t in _complete(data))
    n_front = data["counts"]["pareto"]
    assert all(data["trials"][n]["pareto"] for n in order[:n_front])


def test_complete_trials_have_their_design(data: dict[str, Any], smoke_workdir: Path) -> None:
    for t in _complete(data):
        d = t["design"]
        est = json.loads((smoke_workdir / "trials" / f"{t['number']:05d}" / "estimate.json").read_text())
        assert [layer["name"] for layer in d["layers"]] == [layer["name"] for layer in est["layers"]]
        assert all(layer["cycles"] > 0 for layer in d["layers"])
        assert d["bottleneck"] == t["metrics"]["bottleneck"] in [layer["name"] for layer in d["layers"]]
        assert [u["kind"] for u in d["utilization"]] == ["lut", "bram18", "uram", "dsp"]
        lut = d["utilization"][0]
        assert lut["used"] == t["metrics"]["lut"] and lut["utilization"] == pytest.approx(lut["used"] / lut["usable"])
        placement = d["placement"]
        assert placement["message"].startswith("fits U280" if placement["fits"] else "does not fit U280")
        assert len(placement["slr_of"]) == len(d["layers"]) and len(placement["slrs"]) == 3


def test_folding_table_matches_folding_config(data: dict[str, Any], smoke_workdir: Path) -> None:
    for t in _complete(data):
        folding = json.loads(TrialFiles(smoke_workdir / "trials" / f"{t['number']:05d}").folding.read_text())
        rows = t["design"]["folding"]
        assert {r["node"] for r in rows} == set(folding) - {"Defaults"}
        for r in rows:
            assert {k: v for k, v in r.items() if k != "node"} == folding[r["node"]]
            assert set(r) <= set(t["design"]["folding_columns"])
        assert t["design"]["folding_columns"][0] == "node"


def test_no_synthesis_yet(data: dict[str, Any]) -> None:
    assert data["synthesis"] == []


def test_synthesis_with_fake_attrs(smoke_workdir: Path) -> None:
    """FAKE synthesis numbers (see FAKE_SYNTH): the side-by-side rows and ratios are computed right."""
    data = report_data(study_with_fake_synthesis(smoke_workdir), smoke_workdir)
    assert len(data["synthesis"]) == 2
    for entry in data["synthesis"]:
        metrics = data["trials"][entry["number"]]["metrics"]
        rows = {r["quantity"]: r for r in entry["rows"]}
        assert set(rows) == {"LUT", "BRAM18", "DSP", "fps"}
        assert rows["LUT"]["estimate"] == metrics["lut"] and rows["LUT"]["measured"] == 3000.0
        assert rows["LUT"]["ratio"] == pytest.approx(3000.0 / metrics["lut"])
        assert rows["fps"]["ratio"] == pytest.approx(150_000.0 / metrics["fps"])
        if metrics["dsp"] == 0:
            assert rows["DSP"]["ratio"] is None  # no ratio to a zero estimate


def test_write_report_is_one_offline_file(study: Any, smoke_workdir: Path, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    out = write_report(study, smoke_workdir, tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert page.count(get_plotlyjs()[:300]) == 1  # plotly.js inlined exactly once
    assert page.count('id="report-data"') == 1
    head, _, rest = page.partition("<script>")
    tail = rest.rsplit("</script>", 2)[-2] if rest.count("</script>") >= 2 else ""
    for part in (head, tail):  # our markup and script, outside the inlined library
        assert "://" not in part and "<link" not in part and "src=" not in part
    for element_id in IDS:
        assert f'id="{element_id}"' in page
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left behind


def test_write_report_default_path(study: Any, smoke_workdir: Path) -> None:
    out = write_report(study, smoke_workdir)
    assert out == smoke_workdir / "report.html" and out.stat().st_size > 1_000_000
