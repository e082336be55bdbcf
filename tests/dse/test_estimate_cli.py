"""`finn-dse estimate`: FINN converts once, our estimators fold and judge; FINN agrees."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import estimate_json, finn_dse

pytestmark = [pytest.mark.finn, pytest.mark.slow]


@pytest.fixture(scope="module")
def model(tfc_onnx: Path) -> Path:
    return tfc_onnx


def test_target_mode_meets_target_and_matches_finn(model: Path, tmp_path: Path) -> None:
    folding = tmp_path / "f.json"
    d = estimate_json(str(model), "--target-fps", "300000", "--compare-finn", "--save-folding", str(folding))
    assert d["mode"] == "target" and d["target_met"] is True
    assert d["max_cycles"] <= int(1e9 / 5.0 / 300000) and d["fps"] >= 300000
    assert [n["op_type"] for n in d["nodes"]] == ["MVAU", "MVAU", "MVAU", "LabelSelect"]
    assert {k: d["finn"]["totals"][k] for k in ("bram18", "uram", "dsp")} == \
        {k: d["totals"][k] for k in ("bram18", "uram", "dsp")}
    assert d["finn"]["totals"]["lut"] == pytest.approx(d["totals"]["lut"], rel=0.01)
    assert [n["cycles"] for n in d["finn"]["nodes"]] == [n["cycles"] for n in d["nodes"]]
    assert d["totals"]["lut"] == pytest.approx(sum(n["lut"] for n in d["nodes"]))
    # The saved folding, given back, reproduces the same figures.
    again = estimate_json(str(model), "--folding", str(folding))
    assert again["mode"] == "given" and again["nodes"] == d["nodes"]


def test_unreachable_target_names_the_limit(model: Path) -> None:
    proc = finn_dse("estimate", str(model), "--target-fps", "1e9", "--json")
    d = json.loads(proc.stdout)
    assert d["target_met"] is False and d["limiting_layers"] and d["best_reachable_fps"] < 1e9
    assert "cannot be met" in proc.stderr
    # 1e7 fps needs SIMD 40 on the 784-wide first layer; 2-bit weights under the cap of 36 allow 16.
    proc = finn_dse("estimate", str(model), "--target-fps", "1e7", "--json")
    d = json.loads(proc.stdout)
    first = d["nodes"][0]["name"]
    assert d["target_met"] is False and d["wwidth_limited_layers"] == [first]
    assert f"{first}: SIMD x weight bits capped at 36, FINN's mvau_wwidth_max" in " ".join(proc.stderr.split())
    assert estimate_json(str(model), "--target-fps", "1e7", "--no-wwidth-cap")["target_met"] is True


def test_fit_mode_is_faster_than_unfolded(model: Path) -> None:
    fit, slow = estimate_json(str(model), "--fit", "--no-wwidth-cap"), estimate_json(str(model))
    assert fit["wwidth_limited_layers"] == []
    # Under the cap the fastest folding fits with room to spare: the cap, not the U280, is the limit.
    proc = finn_dse("estimate", str(model), "--fit", "--json")
    capped = json.loads(proc.stdout)
    assert capped["fits"] and capped["fps"] < fit["fps"] and capped["wwidth_limited_layers"]
    assert "limited by the SIMD x weight bits cap, not the board" in " ".join(proc.stderr.split())
    assert fit["fits"] and fit["fps"] > 100 * slow["fps"]
    assert slow["mode"] == "unfolded" and all(n["pe"] in (1, None) for n in slow["nodes"])


def test_table_output_and_user_errors(model: Path, tmp_path: Path) -> None:
    assert "fps, latency" in finn_dse("estimate", str(model), "--target-fps", "1e5").stdout
    for args, msg in [
        (["--target-fps", "1e5", "--fit"], "give at most one of"),
        (["--board", "ZCU999"], "unknown board 'ZCU999'"),
        (["--folding", str(tmp_path / "none.json")], "cannot read folding config"),
    ]:
        proc = finn_dse("estimate", str(model), *args, check=False)
        assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr
    proc = finn_dse("estimate", str(tmp_path / "missing.onnx"), check=False)
    assert proc.returncode == 2 and "model not found" in proc.stderr
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"NoSuchNode": {"PE": 2}}))
    proc = finn_dse("estimate", str(model), "--folding", str(bad), check=False)
    assert proc.returncode == 2 and "NoSuchNode" in proc.stderr


def test_full_design_adds_converters(model: Path) -> None:
    d = estimate_json(str(model), "--target-fps", "300000", "--full-design", "--fifo-depth", "64")
    full = d["full_design"]
    assert full["inserted"] and all(n["op_type"] in ("StreamingDataWidthConverter", "StreamingFIFO")
                                    for n in full["inserted"])
    assert full["totals"]["lut"] > d["totals"]["lut"]


def test_calibration_from_a_study_corrects_the_resources(model: Path, tmp_path: Path) -> None:
    from estimators.calibration import Sample, fit_calibration

    # Synthesis that used twice the LUTs FINN estimated for every MVAU, in six designs.
    samples = [Sample("MVAU_hls", "lut", e, 2.0 * e) for e in (100, 400, 900, 1600, 2500, 3600)]
    cal_dir = tmp_path / "study" / "calibration"
    cal_dir.mkdir(parents=True)
    (cal_dir / "calibration.json").write_text(json.dumps(fit_calibration(samples, kind="scale").to_dict()))
    plain = json.loads(finn_dse("estimate", str(model), "--target-fps", "1e5", "--json").stdout)
    fixed = json.loads(finn_dse("estimate", str(model), "--target-fps", "1e5", "--json", "--calibration",
                                str(tmp_path / "study")).stdout)
    assert fixed["calibrated"] and not plain["calibrated"]
    for a, b in zip(plain["nodes"], fixed["nodes"]):
        factor = 2.0 if a["op_type"] == "MVAU" else 1.0
        assert b["lut"] == pytest.approx(factor * a["lut"], rel=1e-6) and b["cycles"] == a["cycles"]
    empty = finn_dse("estimate", str(model), "--calibration", str(tmp_path), check=False)
    assert empty.returncode == 2 and "no calibration data" in empty.stderr
