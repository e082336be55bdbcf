"""`finn-dse front`: the exact hardware front of a trained Brevitas model, without training; every
design exportable, and FINN's estimate flow on an exported bundle gives its recorded figures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import finn_dse

pytestmark = [pytest.mark.finn, pytest.mark.slow]


@pytest.fixture(scope="module")
def trained_onnx(tmp_path_factory: pytest.TempPathFactory, mnist_root: Path) -> Path:
    """TFC w2a2 trained briefly on real MNIST, exported to QONNX as a Brevitas user would."""
    import torch

    from dse.data import Split, load_mnist
    from dse.finn import export_qonnx
    from dse.models.tfc import TFCConfig, build_tfc
    from dse.training import train

    data = load_mnist(mnist_root, val_size=500)
    sub = Split(data.train.images[:2000], data.train.labels[:2000])
    torch.manual_seed(0)
    model = build_tfc(TFCConfig(hidden=(64, 64), weight_bits=2, act_bits=2))
    result = train(model, sub, data.val, None, epochs=1, batch_size=100, lr=1e-2, seed=0)
    assert result.val_accuracy > 0.5  # it learned something: weights are not the random init
    path = tmp_path_factory.mktemp("front") / "tfc_trained.onnx"
    return export_qonnx(model, path, input_shape=(1, 784))


def test_front_of_a_trained_model_prints_writes_and_exports(trained_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "front"
    proc = finn_dse("front", str(trained_onnx), "--board", "U280", "--clock-ns", "5", "--min-fps", "100000",
                    "--out", str(out), "--export", "0", "--export", "2")
    assert "Hardware front of" in proc.stdout and "folding levels" in proc.stdout
    front = json.loads((out / "front.json").read_text())
    designs = front["designs"]
    assert len(designs) >= 3 and front["n_designs"] == len(designs) and front["seconds"] > 0
    assert all(d["fps"] >= 100_000 for d in designs) and designs[0]["fps"] == max(d["fps"] for d in designs)
    assert front["settings"]["ram_styles"] == ["auto", "block", "distributed", "ultra"]
    assert (out / "front.html").read_text().count("plotly") > 0
    for n, d in enumerate(designs):  # every design has its folding config
        cfg = json.loads((out / "designs" / str(n) / "folding_config.json").read_text())
        assert any("PE" in v for k, v in cfg.items() if k != "Defaults")
        assert d["id"] in proc.stdout  # and a row in the printed table
    # The exported bundles: FINN's own estimate flow, on the bundle's model, folding and clock,
    # gives the figures the front recorded for that design.
    from dse.finn import estimate as finn_estimate

    for n in (0, 2):
        bundle = out / f"bundle-{n}"
        assert (bundle / "build.sh").stat().st_mode & 0o111  # the bundle's executable build wrapper
        cfg = yaml.safe_load((bundle / "build.yaml").read_text())
        assert cfg["synth_clk_period_ns"] == 5.0 and cfg["folding_config_file"] == "folding_config.json"
        recorded = json.loads((bundle / "estimates.json").read_text())
        assert recorded["hardware_design_id"] == designs[n]["id"]
        folding = json.loads((bundle / "folding_config.json").read_text())
        finn = finn_estimate(bundle / "model.onnx", board="U280", clock_ns=5.0, folding=folding,
                             mvau_wwidth_max=cfg["mvau_wwidth_max"]).estimate
        hw = recorded["hardware"]
        assert finn.max_cycles == hw["max_cycles"] and finn.critical_path_cycles == hw["critical_path_cycles"]
        assert (finn.bram18, finn.uram, finn.dsp) == (hw["bram18"], hw["uram"], hw["dsp"])
        assert finn.lut == pytest.approx(hw["lut"], rel=1e-9)


def test_front_from_a_study_file_and_one_line_errors(trained_onnx: Path, tmp_path: Path) -> None:
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({
        "name": "hw", "dataset": "mnist", "hardware": {"board": "U280", "clock_ns": 4.0},
        "limits": {"min_fps": 500_000},
        "space": {"family": "tfc", "weight_bits": [2], "act_bits": [2], "hidden_width": [64], "hidden_layers": [2],
                  "folding": {"ram_style": ["distributed"]}}}))
    out = tmp_path / "fs"
    finn_dse("front", str(trained_onnx), "--study", str(study), "--out", str(out))
    front = json.loads((out / "front.json").read_text())
    assert front["settings"]["clock_ns"] == [4.0] and front["settings"]["ram_styles"] == ["distributed"]
    assert front["designs"] and all(d["fps"] >= 500_000 for d in front["designs"])

    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    for args, words in (([str(tmp_path / "missing.onnx")], "model not found"),
                        ([str(bad)], "is not an ONNX model"),
                        ([str(trained_onnx), "--board", "U999"], "unknown board"),
                        ([str(trained_onnx), "--ram-style", "bram"], "unknown memory style"),
                        ([str(trained_onnx), "--min-fps", "1e12"], "no design"),
                        ([str(trained_onnx), "--export", "9999"], "the front has designs")):
        proc = finn_dse("front", *args, "--out", str(tmp_path / "e"), check=False)
        assert proc.returncode != 0 and words in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
