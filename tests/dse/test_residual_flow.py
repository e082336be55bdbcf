"""A residual network through the FINN adapter: a Brevitas residual block (FINN_FACTS section 10)
maps entirely to HW nodes in one dataflow partition, our estimators agree with FINN's analyses
node by node, and `finn-dse estimate` designs it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import finn_dse

pytestmark = [pytest.mark.finn, pytest.mark.slow]


def _residual_net() -> Any:
    """conv -> BN -> shared QuantReLU -> conv -> BN -> the same QuantReLU, + identity shortcut ->
    QuantReLU -> TruncAvgPool2d -> linear: Brevitas' own QuantBasicBlock pattern (one shared
    quantizer on both inputs of the add), the one FINN can stream."""
    import brevitas.nn as qnn
    from brevitas.quant import TruncTo8bit
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = qnn.QuantConv2d(3, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn1 = nn.BatchNorm2d(8)
            self.shared = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.conv2 = qnn.QuantConv2d(8, 8, 3, padding=1, bias=False, weight_bit_width=4)
            self.bn2 = nn.BatchNorm2d(8)
            self.relu_out = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.pool = qnn.TruncAvgPool2d(kernel_size=8, trunc_quant=TruncTo8bit, float_to_int_impl_type="FLOOR")
            self.fc = qnn.QuantLinear(8, 10, bias=False, weight_bit_width=4)

        def forward(self, x: Any) -> Any:
            x = self.shared(self.bn1(self.conv1(x)))
            y = self.shared(self.bn2(self.conv2(x)))
            out = self.pool(self.relu_out(x + y))
            return self.fc(out.view(out.size(0), -1))

    return Net()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from dse.finn import export_qonnx

    torch.manual_seed(5)
    net = _residual_net()
    with torch.no_grad():  # non-trivial BN statistics, so streamlining has scales to move
        for bn in (net.bn1, net.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return export_qonnx(net, tmp_path_factory.mktemp("res") / "res.onnx", input_shape=(1, 3, 8, 8))


def test_every_node_maps_to_hw_and_the_estimators_match_finn(model: Path, tmp_path: Path) -> None:
    from finn.util.fpgadataflow import is_fpgadataflow_node

    from dse._quiet import captured
    from dse.finn import to_hw_graph
    from dse.finn.graph import graph_from_finn
    from tests.fidelity import PART, assert_matches_finn

    with captured(tmp_path / "finn.log"):
        hw = to_hw_graph(model, part=PART, work_dir=tmp_path / "hw")
    ops = [n.op_type for n in hw.graph.node]
    assert all(is_fpgadataflow_node(n) for n in hw.graph.node), ops
    assert {"DuplicateStreams_hls", "ElementwiseAdd_hls", "Pool_hls", "LabelSelect_hls"} <= set(ops)
    assert "Shuffle_hls" not in ops and ops.count("MVAU_hls") + ops.count("MVAU_rtl") == 3
    graph = graph_from_finn(hw)
    add = ops.index("ElementwiseAdd_hls")
    # The join: one input from the branch's last conv, one straight from the fork (the shortcut).
    assert sorted(ops[p] for p in graph.preds[add]) == ["DuplicateStreams_hls", "MVAU_hls"]
    # Cycles, BRAM18, URAM, DSP equal and LUT within 1% of FINN's own analyses, node by node.
    assert_matches_finn(model, tmp_path / "fidelity", n_foldings=4, seed=16)


def test_estimate_designs_the_residual_network(model: Path) -> None:
    d = json.loads(finn_dse("estimate", str(model), "--target-fps", "20000", "--compare-finn", "--json").stdout)
    ops = [n["op_type"] for n in d["nodes"]]
    assert "ElementwiseBinary" in ops and "DuplicateStreams" in ops
    assert d["target_met"] is True and d["fps"] >= 20000
    assert [n["cycles"] for n in d["finn"]["nodes"]] == [n["cycles"] for n in d["nodes"]]
    text = finn_dse("estimate", str(model), "--target-fps", "20000").stdout
    assert "ElementwiseBinary" in text or "ElementwiseAdd" in text


def test_a_graph_finn_cannot_stream_is_one_line(tmp_path: Path) -> None:
    """A float tanh on the residual sum leaves FINN a MultiThreshold it cannot convert: one line, exit 2."""
    import torch

    from dse.finn import export_qonnx

    class FloatJoin(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _residual_net()

        def forward(self, x: Any) -> Any:
            n = self.net
            x = n.shared(n.bn1(n.conv1(x)))
            out = n.pool(n.relu_out(torch.tanh(x + n.shared(n.bn2(n.conv2(x))))))
            return n.fc(out.view(out.size(0), -1))

    path = export_qonnx(FloatJoin(), tmp_path / "bad.onnx", input_shape=(1, 3, 8, 8))
    proc = finn_dse("estimate", str(path), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: FINN cannot map bad.onnx to HW layers: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_without_the_residual_streamlining_the_unmapped_nodes_are_named(model: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The extra pass is what makes the block stream: without it FINN leaves the branch's conv
    (Im2Col, MatMul) and Transposes as plain ONNX between HW nodes, and the error names each one."""
    from dse._quiet import captured
    from dse.errors import BackendError
    from dse.finn import hw_graph
    from tests.fidelity import PART

    monkeypatch.setattr(hw_graph, "_streamline_residual", lambda m: m)
    with pytest.raises(BackendError, match=r"nodes FINN could not map: .*Im2Col_0 \(Im2Col\).*MatMul_0 \(MatMul\)"):
        with captured(tmp_path / "finn.log"):
            hw_graph.to_hw_graph(model, part=PART, work_dir=tmp_path)
