"""`finn-dse export --fpgas K`: a bundle split over a chain of K cards that finn-plus's own
multi-FPGA steps build as partitioned (real finn-plus 1.6.1, up to the first step needing Vivado)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse

INSERTED = ("StreamingFIFO", "StreamingDataWidthConverter", "IODMA")  # what the build adds to our graph


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "two"])
def test_bad_card_count_is_one_line_exit_2(bad: str, tmp_path: Path) -> None:
    # Checked before the study is opened: the work directory need not exist.
    proc = finn_dse("export", "--workdir", str(tmp_path / "none"), "--trial", "0", "--out", str(tmp_path / "b"),
                    "--fpgas", bad, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --fpgas must be a whole number of cards >= 1, got "), lines
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def bundle(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dse.storage.database import load_study

    front = sorted(t.number for t in load_study(smoke_workdir).best_trials)
    out = tmp_path_factory.mktemp("multi") / "b"
    proc = finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(front[0]), "--out", str(out),
                    "--fpgas", "2")
    assert "split over 2 cards" in proc.stdout
    return out


@pytest.mark.finn
@pytest.mark.slow
def test_bundle_asks_finn_plus_for_our_partition(bundle: Path) -> None:
    import yaml
    from finn.builder.build_dataflow_config import DataflowBuildConfig, MFCommunicationKernel, MFTopology

    cfg = DataflowBuildConfig.construct_from(bundle / "build.yaml")  # finn-plus reads it as it will build it
    pc = cfg.partitioning_configuration
    assert pc is not None and pc.num_fpgas == 2 and pc.partitioning is None and pc.single_stream_network
    assert pc.topology is MFTopology.CHAIN and pc.communication_kernel is MFCommunicationKernel.AURORA
    m = json.loads((bundle / "estimates.json").read_text())["multi_fpga"]
    assert m["feasible"] and m["n_cards"] == 2 and len(m["cuts"]) == 1
    ours = {name: card["index"] for card in m["cards"] for name in card["layers"]}
    assert pc.custom_partitioning_constraints == ours and set(ours.values()) == {0, 1}
    folding = json.loads((bundle / "folding_config.json").read_text())
    assert set(folding) - {"Defaults"} <= set(ours)  # the pins use the names the folding config uses
    raw = yaml.safe_load((bundle / "build.yaml").read_text())["partitioning_configuration"]
    assert raw["topology"] == "chain" and raw["communication_kernel"] == "aurora"
    readme = (bundle / "README.md").read_text()
    for text in ("over 2 U280 cards", "custom_partitioning_constraints", "finn-accel-<card>.xclbin",
                 "finn build --batch build.yaml model.onnx", "XILINX_VIVADO", "parallel_synthesis_workers", "QSFP"):
        assert text in readme, text


@pytest.mark.finn
@pytest.mark.slow
def _finn_steps(bundle: Path, work: Path) -> dict:
    """finn-plus's multi-FPGA steps on the bundle (tests/dse/finn_multi_fpga_steps.py), LC_ALL=C."""
    work.mkdir(exist_ok=True)
    out = work / "finn.json"
    # FINN's build folder in this scratch folder: the suite's process may have exported another.
    env = {**os.environ, "LC_ALL": "C", "PYTHONPATH": str(ROOT), "FINN_BUILD_DIR": str(work / "FINN_TMP")}
    proc = subprocess.run([sys.executable, "-m", "tests.dse.finn_multi_fpga_steps", str(bundle), str(out)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.finn
@pytest.mark.slow
def test_finn_plus_follows_the_pins_not_its_own_choice(bundle: Path, tmp_path: Path) -> None:
    """Pins with the cut moved elsewhere: finn-plus's partitioner puts the layers where the pins say."""
    import shutil

    import yaml

    moved = tmp_path / "moved"
    shutil.copytree(bundle, moved)
    config = yaml.safe_load((moved / "build.yaml").read_text())
    pins = config["partitioning_configuration"]["custom_partitioning_constraints"]
    names = list(pins)
    ours = [pins[n] for n in names].index(1)  # first layer of card 1
    other = next(j for j in range(1, len(names)) if j != ours)
    config["partitioning_configuration"]["custom_partitioning_constraints"] = {
        n: int(i >= other) for i, n in enumerate(names)}
    (moved / "build.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cards = _finn_steps(moved, tmp_path / "run")["cards"]
    assert [cards[n] for n in names] == [int(i >= other) for i in range(len(names))]


@pytest.mark.finn
@pytest.mark.slow
def test_finn_plus_multi_fpga_steps_put_each_node_on_our_card(bundle: Path, tmp_path: Path) -> None:
    got = _finn_steps(bundle, tmp_path / "run")
    m = json.loads((bundle / "estimates.json").read_text())["multi_fpga"]
    ours = {name: card["index"] for card in m["cards"] for name in card["layers"]}
    # Our graph is finn-plus's folded graph, node for node; the build only adds FIFOs, DWCs, IODMAs.
    assert got["estimated_nodes"] == list(ours)
    compute = [n for n in got["order"] if not got["op_types"][n].startswith(INSERTED)]
    assert compute == list(ours)
    cards = got["cards"]
    assert {n: cards[n] for n in compute} == ours  # every layer on the card our partition chose
    assert got["partitioning_yaml"] == cards  # what finn-plus's partitioner wrote is what it applied
    seq = [cards[n] for n in got["order"]]
    assert seq == sorted(seq) and seq[0] == 0 and seq[-1] == 1  # a chain: card 0's nodes, then card 1's
    cut = m["cuts"][0]
    between = got["order"][got["order"].index(cut["producer"]) + 1:got["order"].index(cut["consumer"])]
    assert all(got["op_types"][n].startswith(INSERTED) for n in between)  # only inserted nodes at the cut are free
    # One compute SDP per card holding exactly that card's layers (IODMAs in their own SDPs).
    for card in (0, 1):
        held = [n for s in got["sdps"] if s["card"] == card for n in s["nodes"]
                if not got["op_types"].get(n, "").startswith(INSERTED)]
        assert held == [n for n in compute if ours[n] == card]
    meta = got["metadata"]["data"]  # per card (JSON keys): its Aurora links
    assert meta["0"][0]["partner_device"] == 1 and meta["1"][0]["partner_device"] == 0
    assert meta["0"][0]["connecting_kernels"]["TX"] and not meta["0"][0]["connecting_kernels"]["RX"]
    assert meta["1"][0]["connecting_kernels"]["RX"] and not meta["1"][0]["connecting_kernels"]["TX"]
