"""The user-model checks that need FINN: export a user's network to QONNX, run FINN's estimate
flow on it, and check what FINN made of it (one dataflow partition from the graph input to the
class output, readable by the estimators). dse.models.user holds the contract, the loader and
the PyTorch-side checks, and calls this module; a breach is that module's one-line ConfigError
naming the model (the user fixes it: a model FINN cannot map is no BackendError, which a study
would retry per trial).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dse.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from dse.finn.estimate_reports import FinnResult
    from estimators.graph import DataflowGraph

# Hints for ONNX ops FINN leaves unmapped (outside the dataflow partition).
_UNMAPPED_HINTS = {
    "GlobalAveragePool": "no global average pool: reduce the image to 1x1 with strides (see dse/models/mobilenet.py)",
    "ReduceMean": "no global average pool: reduce the image to 1x1 with strides (see dse/models/mobilenet.py)",
    "AveragePool": "use Brevitas TruncAvgPool2d or a max-pool on quantized activations",
    "Quant": "a quantizer FINN cannot turn into thresholds (activations above 8 bits, or a float op before it)",
    "Relu": "a float activation: use a Brevitas quant activation",
    "Sigmoid": "a float activation: use a Brevitas quant activation",
    "Tanh": "a float activation: use a Brevitas quant activation",
    "Softmax": "return logits, not probabilities",
    "Add": ("float arithmetic FINN cannot absorb (a residual add, or a bias on the classifier: FINN-DSE maps "
            "a bias on a single output, num_classes 2 with one logit; with several outputs drop the bias)"),
    "Mul": "float arithmetic FINN cannot absorb (a scale between layers that no threshold follows)",
    "Reshape": "flatten only where the spatial size is 1x1",
    "Transpose": "flatten only where the spatial size is 1x1",
    "MatMul": "a weight layer FINN cannot map (float or unquantized input?)",
    "Conv": "a conv FINN cannot lower (float or unquantized input?)",
    "LogSoftmax": "return logits, not probabilities",
    "Erf": "a float activation: use a Brevitas quant activation",
    "Exp": "a float activation: use a Brevitas quant activation",
}
# Ops FINN's estimate flow never maps: if the exported QONNX holds one, it is the likely culprit.
_NEVER_MAPPED = ("GlobalAveragePool", "ReduceMean", "Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Erf", "Exp")


@dataclass(frozen=True, slots=True)
class UserModelEstimate:
    """What FINN made of a user model: the exported QONNX file, FINN's unfolded dataflow graph as
    estimator records (what the fast estimators work on) and FINN's folded estimate."""

    qonnx_path: Path
    graph: DataflowGraph
    finn: FinnResult


def _hints(message: str, qonnx_path: Path) -> str:
    """``message`` plus hints for the ONNX op types FINN listed as unmapped or, failing that,
    for the ops in the exported model that FINN never maps."""
    found = re.search(r"could not map: \[(.*?)\]", message)
    ops = re.findall(r"'([A-Za-z]+)'", found.group(1)) if found else []
    if not ops:
        try:
            import onnx

            exported = {n.op_type for n in onnx.load(str(qonnx_path), load_external_data=False).graph.node}
            ops = [op for op in _NEVER_MAPPED if op in exported]
        except Exception:  # the hint is a courtesy; the error stands without it
            ops = []
    hints = dict.fromkeys(f"{op}: {_UNMAPPED_HINTS[op]}" for op in ops if op in _UNMAPPED_HINTS)
    return f"{message}; {'; '.join(hints)}" if hints else message


def map_user_model(model: Any, work_dir: Path, *, input_shape: tuple[int, ...], fail: Callable[[str], ConfigError],
                   biased_classifier: str | None, board: str, clock_ns: float, target_fps: float,
                   input_datatype: str) -> UserModelEstimate:
    """Export ``model`` (of ``input_shape``, without the batch) to QONNX in ``work_dir``, run FINN's
    estimate flow on it and check what FINN made of it (dse.models.user.estimate_user_model has
    the contract). A breach is ``fail(what)``, the caller's one-line ConfigError naming the model;
    ``biased_classifier`` (the last weight layer's name if it has a bias) goes into a hint.
    """
    from dse._quiet import captured
    from dse.finn.estimate_reports import FinnResult, analyse
    from dse.finn.folding import fold
    from dse.finn.graph import graph_from_finn
    from dse.finn.hw_graph import to_hw_graph
    from dse.finn.qonnx_export import export_qonnx, output_width
    from estimators.devices import get_board

    part = get_board(board).part  # an unknown board is the caller's ConfigError, not the model's
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / "finn.log"
    try:
        path = export_qonnx(model, work_dir / "user_model.onnx", input_shape=(1, *input_shape), log_path=log,
                            input_datatype=input_datatype)
    except Exception as err:
        raise fail(f"Brevitas cannot export it to QONNX: {type(err).__name__}: {err} (log: {log})") from err
    try:
        with captured(log):
            hw = to_hw_graph(path, part=part, work_dir=work_dir / "finn")
            first = hw.graph.node[0].op_type if hw.graph.node else "nothing"
            last = hw.graph.node[-1].op_type if hw.graph.node else "nothing"
            in_type = hw.get_tensor_datatype(hw.graph.input[0].name).name
            binary = output_width(model, (1, *input_shape)) == 1
            folded, folding = fold(hw, clock_ns=clock_ns, target_fps=target_fps)
            estimate, reports = analyse(folded, board_name=board, clock_ns=clock_ns)
    except (BackendError, ConfigError) as err:
        raise fail(f"FINN cannot map it: {_hints(str(err), path)} (log: {log})") from err
    except Exception as err:  # FINN raises plain exceptions from deep inside its transformations
        what = _hints(f"{type(err).__name__}: {err}", path)
        raise fail(f"FINN's estimate flow failed on it: {what} (log: {log})") from err
    if first.startswith("Thresholding") and input_datatype != "FLOAT32":
        raise fail("the first hardware layer is a Thresholding on the raw input: remove the input "
                         "quantizer and scale the UINT8 pixels inside the model (x * (1 / 255))")
    out_type = hw.get_tensor_datatype(hw.graph.output[0].name) if hw.graph.output else None
    if binary:
        if out_type is None or out_type.bitwidth() != 1:
            what = _hints(f"FINN's dataflow graph ends at a {last} with a {out_type} output, not the 1-bit class "
                          "of the sign FINN-DSE puts on the single logit: the layers after it were not mapped to "
                          "hardware", path)
            raise fail(f"{what} (log: {log})")
    elif not last.startswith("LabelSelect"):
        # FINN left the tail of the network (and the appended TopK) outside the partition.
        what = _hints(f"FINN's dataflow graph ends at a {last}, not at the LabelSelect of the appended TopK: "
                      "the layers after it were not mapped to hardware", path)
        if biased_classifier is not None:
            what += (f"; the classifier {biased_classifier} has a bias, a per-class Add FINN cannot absorb into the TopK: "
                     "drop it (bias=False), or for num_classes 2 return one logit (a bias is fine there)")
        raise fail(f"{what} (log: {log})")
    # Bipolar inputs into 1-bit weights become XNOR-popcount: FINN then streams them as BINARY bits (1 = +1).
    if in_type != input_datatype and not (input_datatype == "BIPOLAR" and in_type == "BINARY"):
        raise fail(f"FINN's dataflow graph starts from a {in_type} tensor, not the {input_datatype} input: "
                         "the layers before it were not mapped to hardware")
    try:
        graph = graph_from_finn(hw)
    except KeyError as err:
        raise fail(f"FINN maps it, but FINN-DSE's estimators cannot read it: {err.args[0]}") from err
    return UserModelEstimate(qonnx_path=path, graph=graph,
                             finn=FinnResult(estimate, folding, reports))


__all__ = ["UserModelEstimate", "map_user_model"]
