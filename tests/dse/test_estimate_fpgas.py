"""`finn-dse estimate --fpgas K`: the design over a chain of K cards, per-card figures; bad K is one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import estimate_json, finn_dse


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "two", ""])
def test_bad_card_count_is_one_line_exit_2(bad: str, tmp_path: Path) -> None:
    # Checked before FINN converts anything: the model need not even exist.
    proc = finn_dse("estimate", str(tmp_path / "missing.onnx"), "--fpgas", bad, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --fpgas must be a whole number of cards >= 1, got ")


@pytest.fixture(scope="module")
def model(tfc_onnx: Path) -> Path:
    return tfc_onnx


@pytest.mark.finn
@pytest.mark.slow
def test_given_design_on_exactly_k_cards(model: Path) -> None:
    one, two = estimate_json(str(model), "--target-fps", "300000"), estimate_json(str(model), "--target-fps", "300000", "--fpgas", "2")
    assert "multi_fpga" not in one
    m = two["multi_fpga"]
    assert m["feasible"] and m["exact"] is False and m["n_cards"] == 1  # a target takes the fewest cards
    unfolded = estimate_json(str(model), "--fpgas", "3")["multi_fpga"]
    assert unfolded["exact"] and unfolded["n_cards"] == 3 and len(unfolded["cuts"]) == 2
    layers = [name for card in unfolded["cards"] for name in card["layers"]]
    slow = estimate_json(str(model))
    assert layers == [n["name"] for n in slow["nodes"]]  # contiguous, in graph order, all of them
    assert sum(c["lut"] for c in unfolded["cards"]) == pytest.approx(slow["totals"]["lut"])
    assert unfolded["fps"] == pytest.approx(slow["fps"])
    assert unfolded["latency_ns"] == pytest.approx(slow["latency_ns"] + 2 * unfolded["link"]["latency_ns"])
    assert unfolded["energy_uj"] == pytest.approx(unfolded["power_w"] / unfolded["fps"] * 1e6)
    assert all(0 <= c["link_share"] <= 1 and c["bits_per_frame"] > 0 for c in unfolded["cuts"])
    # Four layers cannot go on five cards: said in the report, no traceback.
    proc = finn_dse("estimate", str(model), "--fpgas", "5", "--json")
    assert json.loads(proc.stdout)["multi_fpga"]["feasible"] is False and "Traceback" not in proc.stderr
    assert "5 cards need 4 cuts, but only 3 single-stream cuts" in " ".join(proc.stderr.split())


@pytest.mark.finn
@pytest.mark.slow
def test_fit_over_up_to_k_cards_prints_per_card_figures(model: Path) -> None:
    proc = finn_dse("estimate", str(model), "--fit", "--no-wwidth-cap", "--fpgas", "2")
    text = proc.stdout
    assert "U280 card" in text and "(up to 2, chain over AuroraFlow links)" in text
    assert "uJ per inference" in text and "Power W" in text
    d = estimate_json(str(model), "--fit", "--no-wwidth-cap", "--fpgas", "2")
    single = estimate_json(str(model), "--fit", "--no-wwidth-cap")
    m = d["multi_fpga"]
    assert m["feasible"] and 1 <= m["n_cards"] <= 2 and d["fps"] >= single["fps"] * 0.999


def test_per_trial_study_with_card_counts_says_they_are_not_searched_yet(tmp_path: Path) -> None:
    # Every design is too slow for min_fps, so the estimators stop it before any training: seconds.
    text = (Path(__file__).resolve().parents[2] / "studies" / "smoke.yaml").read_text()
    study = tmp_path / "cards.yaml"
    study.write_text(text.replace("name: smoke", "name: cards").replace("n_trials: 4", "n_trials: 1")
                     .replace("  clock_ns: 5.0\n", "  clock_ns: 5.0\n  fpgas: [2, 1]\n") + "limits:\n  min_fps: 1.0e+12\n")
    proc = finn_dse("run", str(study), "--workdir", str(tmp_path / "run"))
    assert "hardware.fpgas [1, 2]: per-trial designs are judged on one U280 card" in " ".join(proc.stderr.split())
