"""Apply a folding to FINN's dataflow graph: FINN's SetFolding from a target throughput, or a
folding config (ApplyConfig), then FINN's bit-width minimisation (step_minimize_bit_width)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dse.errors import ConfigError
from dse.finn.json_values import plain

# The attributes FINN's own steps extract into a folding config (step_target_fps_parallelization).
FOLDING_ATTRS = (
    "PE", "SIMD", "EmbFold", "SeqFold", "parallel_window", "ram_style", "ram_style_thresholds",
    "ram_style_mask", "depth", "impl_style", "resType", "mac_resource", "mem_mode",
    "runtime_writeable_weights", "depth_trigger_uram", "depth_trigger_bram",
)


def minimize_bit_width(model: Any) -> Any:
    # FINN's _minimize_bit_width with minimize_bit_width=True.
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.infer_datatypes import InferDataTypes

    for t in (MinimizeWeightBitWidth(), MinimizeAccumulatorWidth(), InferDataTypes(),
              RoundAndClipThresholds(), InferDataTypes(), MinimizeWeightBitWidth(), InferDataTypes()):
        model = model.transform(t)
    return model


def fold(model: Any, *, clock_ns: float, target_fps: float | None = None,
         folding: Mapping[str, Any] | None = None, mvau_wwidth_max: int = 36) -> tuple[Any, dict[str, Any]]:
    """Set PE/SIMD and memory styles: from a target throughput (FINN's SetFolding, as
    step_target_fps_parallelization does it) or from a folding config (ApplyConfig).
    Then minimizes bit widths (step_minimize_bit_width). Returns the model and its folding config."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from finn.transformation.general import ApplyConfig
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from finn.util.config import extract_model_config

    if (target_fps is None) == (folding is None):
        raise ConfigError("give exactly one of target_fps and folding")
    if target_fps is not None:
        if target_fps <= 0:
            raise ConfigError(f"target_fps must be > 0, got {target_fps}")
        target_cycles = int(1e9 / clock_ns / target_fps)  # as DataflowBuildConfig resolves it
        model = model.transform(SetFolding(max(1, target_cycles), mvau_wwidth_max=mvau_wwidth_max,
                                           two_pass_relaxation=True))
        model = model.transform(GiveUniqueNodeNamesRecursive())
    elif folding is not None:
        model = model.transform(GiveUniqueNodeNamesRecursive())
        model = model.transform(ApplyConfig(dict(folding)))
    config = plain(extract_model_config(model, None, FOLDING_ATTRS))
    return minimize_bit_width(model), config
