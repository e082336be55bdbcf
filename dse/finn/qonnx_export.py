"""Export a Brevitas model to QONNX as FINN expects to receive it (the bundle's model.onnx)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from dse._quiet import captured
from dse.artifacts import write_atomic


def output_width(model: Any, input_shape: tuple[int, ...]) -> int:
    """How many values the network outputs per sample (1: a binary classifier's one logit)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(model(torch.zeros(*input_shape)).shape[-1])
    finally:
        model.train(was_training)


def _with_sign(model: Any) -> Any:
    """``model`` with a bipolar quantizer on its one logit: FINN folds the classifier's bias and scale
    into that threshold, so the MVAU outputs the class as BIPOLAR (+1: class 1), as finn-examples'
    notebooks quantize a binary output only at export."""
    from brevitas.nn import QuantIdentity
    from brevitas.quant import SignedBinaryActPerTensorConst
    from torch import nn

    class _Signed(nn.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.sign = QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=False)

        def forward(self, x: Any) -> Any:
            return self.sign(self.net(x))

    return _Signed(model).eval()


def export_qonnx(model: Any, path: Path, *, input_shape: tuple[int, ...], log_path: Path | None = None,
                input_datatype: str = "UINT8") -> Path:
    """Export a Brevitas model to QONNX as FINN expects to receive it.

    The graph input is marked ``input_datatype`` (UINT8: raw pixels; the study's dataset declares
    it, FLOAT32 leaves it a float for the model's own input quantizer) and a TopK(k=1) is appended, so the exported
    file is exactly what a `finn build` of the bundle starts from: FINN absorbs the final scale
    into the TopK and maps it to a LabelSelect layer. A network with one output (a binary
    classifier's logit) gets a sign instead of the TopK (see _with_sign).
    """
    import torch
    from brevitas.export import export_qonnx as brevitas_export
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.insert_topk import InsertTopK

    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with captured(log_path), tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            binary = output_width(model, input_shape) == 1
            brevitas_export(_with_sign(model) if binary else model, torch.zeros(*input_shape), str(raw))
            wrapped = ModelWrapper(str(raw)).transform(InferShapes())
            wrapped.set_tensor_datatype(wrapped.graph.input[0].name, DataType[input_datatype])
            # Shapes on every tensor, so qonnx can also execute the file as it is (checks, users).
            if not binary:
                wrapped = wrapped.transform(InsertTopK(k=1))
            wrapped = wrapped.transform(InferShapes())
            write_atomic(path, wrapped.model.SerializeToString())  # never a cut-short model.onnx
    finally:
        model.train(was_training)
    return path
