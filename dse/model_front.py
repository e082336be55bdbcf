"""Hardware-only studies (`finn-dse front`): the exact hardware front of an already trained network.

A user with a QONNX file exported from Brevitas gets every non-dominated hardware design of it
without any training: FINN converts the model once (the estimate path, ``dse.estimate``), the
estimators sweep every reachable folding level x memory styles x resType x clocks
(``estimators.front``), and each design can be exported as a bundle for ``finn build``.

Output folder:
  front.json                      the sweep (settings, seconds, levels, candidates) and every design
  front.html                      the report's Pareto plot (fps vs LUT; accuracy panels stay empty)
  designs/<N>/folding_config.json FINN ApplyConfig of design N (0: the fastest)
  designs/<N>/estimate.json       its per-layer and total estimate
  bundle-<N>/                     with ``--export N``: model, folding, build.yaml, estimates, README
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import write_atomic, write_json
from dse.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from estimators.front import HardwareDesign, HardwareFront
    from estimators.graph import DataflowGraph

DEFAULT_RAM_STYLES = ("auto", "block", "distributed", "ultra")


@dataclass(frozen=True, slots=True)
class ModelFront:
    model: Path
    board: str
    wwidth_max: int | None
    graph: DataflowGraph  # unfolded, as FINN converted it
    front: HardwareFront
    convert_s: float  # FINN's conversion (once)

    @property
    def designs(self) -> tuple[HardwareDesign, ...]:
        return self.front.designs

    def design(self, number: int) -> HardwareDesign:
        if not 0 <= number < len(self.designs):
            raise ConfigError(f"the front has designs 0..{len(self.designs) - 1}, not {number}")
        return self.designs[number]

    def frame(self) -> pd.DataFrame:
        """One row per design, in the trials-table shape the report's table and plot read."""
        import pandas as pd

        rows = []
        for n, d in enumerate(self.designs):
            rows.append({"number": n, "state": "COMPLETE", "feasible": True, "pareto": True,
                         "design": f"{d.id} {d.ram_style}/{d.res_type} @ {d.clock_ns:g} ns",
                         "hardware_design_id": d.id, "restriction": f"{d.ram_style}/{d.res_type}",
                         "clock_ns": d.clock_ns,
                         "fps": d.fps, "latency_us": d.latency_us, "lut": d.lut, "bram18": d.bram18, "uram": d.uram,
                         "dsp": d.dsp, "energy_uj": d.energy_uj, "max_cycles": d.max_cycles,
                         "bottleneck": _bottleneck(d), "fits": d.fit.fits, "limiting_resource": d.fit.limiting})
        return pd.DataFrame(rows)


def _bottleneck(d: HardwareDesign) -> str:
    import estimators as est

    return est.estimate_graph(d.graph, est.get_board(d.fit.board).part, clock_ns=d.clock_ns).bottleneck


def model_front(model: str | Path, *, board: str = "U280", clock_ns: Sequence[float] = (5.0,),
                min_fps: float | None = None, max_latency_us: float | None = None,
                ram_styles: Sequence[str] = DEFAULT_RAM_STYLES, res_types: Sequence[str] = ("auto",),
                wwidth_max: int | None = 36, fit_margin: float = 0.0) -> ModelFront:
    """The exact hardware front of a QONNX (or FINN HW) model; see the module doc."""
    import time

    import estimators as est
    from dse.finn.hw_graph import load_hw_graph
    from dse.finn.graph import graph_from_finn
    from estimators.front import hardware_front
    from estimators.knobs import RAM_STYLES

    try:
        dev = est.get_board(board)
    except KeyError as err:
        raise ConfigError(str(err.args[0])) from None
    if not clock_ns or any(c <= 0 for c in clock_ns):
        raise ConfigError(f"--clock-ns must be > 0, got {list(clock_ns)}")
    for what, value in (("--min-fps", min_fps), ("--max-latency-us", max_latency_us)):
        if value is not None and value <= 0:
            raise ConfigError(f"{what} must be > 0, got {value}")
    if not 0 <= fit_margin < 1:
        raise ConfigError(f"--fit-margin must be in [0, 1), got {fit_margin}")
    bad = [s for s in ram_styles if s not in RAM_STYLES] + [r for r in res_types if r not in ("auto", "lut", "dsp")]
    if bad:
        raise ConfigError(f"unknown memory style / resType {bad}: ram styles {list(RAM_STYLES)}, "
                          "res types ['auto', 'lut', 'dsp']")
    path = Path(model)
    if not path.is_file():
        raise ConfigError(f"model not found: {path}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="finn-dse-front-") as tmp:
        try:
            hw = load_hw_graph(path, dev.part, Path(tmp), Path(tmp) / "finn.log")
        except ConfigError:
            raise
        except Exception as err:  # FINN raises plain exceptions on models it cannot convert
            raise ConfigError(f"{path}: FINN cannot convert it to a dataflow graph (is it a QONNX export of a "
                              f"Brevitas model?): {str(err).splitlines()[0] if str(err) else type(err).__name__}") \
                from None
        try:
            graph = graph_from_finn(hw)
        except Exception as err:  # a node type the estimators do not model, or an unexpected graph
            raise ConfigError(f"{path}: FINN's graph cannot be estimated: {err}") from None
    convert_s = time.perf_counter() - t0
    front = hardware_front(graph, dev, clock_ns=tuple(clock_ns), ram_styles=tuple(ram_styles),
                           res_types=tuple(res_types), limits=est.FoldingLimits(wwidth_max=wwidth_max),
                           fit_margin=fit_margin, min_fps=min_fps, max_latency_us=max_latency_us)
    return ModelFront(model=path, board=dev.name, wwidth_max=wwidth_max, graph=graph, front=front,
                      convert_s=convert_s)


def _estimate_dict(d: HardwareDesign) -> dict[str, Any]:
    """FINN's HardwareEstimate shape (dse.finn.estimate_reports), from the estimators, with the design id."""
    import estimators as est

    e = est.estimate_graph(d.graph, est.get_board(d.fit.board).part, clock_ns=d.clock_ns)
    layers = [{"name": layer.name, "op_type": type(layer).op_type, "cycles": int(c.cycles), "lut": c.lut,
               "bram18": c.bram18, "uram": c.uram, "dsp": c.dsp, "pe": getattr(layer, "pe", None),
               "simd": getattr(layer, "simd", None)} for layer, c in zip(d.graph.layers, e.costs)]
    return {"board": d.fit.board, "clock_ns": d.clock_ns, "layers": layers, "lut": e.lut, "bram18": e.bram18,
            "uram": e.uram, "dsp": e.dsp, "max_cycles": e.max_cycles, "bottleneck": e.bottleneck,
            "critical_path_cycles": e.critical_path_cycles, "fps": e.fps, "latency_ns": e.latency_ns,
            "fits": d.fit.fits, "limiting_resource": d.fit.limiting, "utilization": dict(d.fit.utilization),
            "energy_uj": d.energy_uj, "hardware_design_id": d.id, "ram_style_restriction": d.ram_style,
            "res_type_restriction": d.res_type, "source": "estimators"}


def write_front(mf: ModelFront, out_dir: Path) -> dict[str, Path]:
    """front.json, front.html and every design's folding config and estimate (atomic files)."""
    import estimators as est
    from dse.report.figures import write_pareto_html

    out_dir = Path(out_dir)
    designs = out_dir / "designs"
    for n, d in enumerate(mf.designs):
        write_json(designs / str(n) / "folding_config.json", est.folding_config(d.graph))
        write_json(designs / str(n) / "estimate.json", _estimate_dict(d))
    record = {"model": str(mf.model), "board": mf.board, "mvau_wwidth_max": mf.wwidth_max,
              "convert_s": mf.convert_s, **mf.front.record()}
    for n, entry in enumerate(record["designs"]):
        entry["number"] = n
        entry["folding_config"] = f"designs/{n}/folding_config.json"
    write_json(out_dir / "front.json", record)
    html = write_pareto_html(mf.frame(), out_dir / "front.html",
                             title=f"Hardware front of {mf.model.name} on {mf.board}")
    return {"json": out_dir / "front.json", "html": html, "designs": designs}


def export_design(mf: ModelFront, number: int, out_dir: Path, *,
                  build_options: dict[str, Any] | None = None) -> Path:
    """A bundle for ``finn build`` (as ``finn-dse export`` writes one) for design ``number``."""
    import yaml

    import estimators as est
    from dse.build_script import build_instructions, write_build_script
    from dse.export import build_config, provenance

    d = mf.design(number)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mf.model, out_dir / "model.onnx")
    data = mf.model.with_name(mf.model.name + ".data")  # external weights travel with the model
    if data.exists():
        shutil.copyfile(data, out_dir / data.name)
    write_json(out_dir / "folding_config.json", est.folding_config(d.graph))
    wwidth = mf.wwidth_max if mf.wwidth_max is not None else 8191
    config = build_config(board=mf.board, clock_ns=d.clock_ns, mvau_wwidth_max=wwidth,
                          vitis_platform=est.get_board(mf.board).vitis_platform, options=build_options)
    header = (f"# FINN DataflowBuildConfig (finn-plus 1.6.1) for design {number} ({d.id}) of {mf.model.name}.\n"
              "# Build with: ./build.sh (checks the set-up, then: finn build --batch build.yaml model.onnx)\n")
    write_atomic(out_dir / "build.yaml", header + yaml.safe_dump(config, sort_keys=False))
    write_build_script(out_dir)
    write_json(out_dir / "estimates.json", {
        "model": str(mf.model), "design": number, "hardware_design_id": d.id, "hardware": _estimate_dict(d),
        "mvau_wwidth_max": wwidth, "source": "FINN-DSE estimators (pre-synthesis)",
        "provenance": {"packages": provenance()}})
    write_atomic(out_dir / "README.md", f"""# FINN-DSE bundle: design {number} of the hardware front of `{mf.model.name}`

Design {d.id} ({d.ram_style} weight memories, resType {d.res_type}) on the {mf.board} at {d.clock_ns:g} ns:
{d.fps:,.0f} fps, {d.latency_us:,.1f} us latency, {d.lut:,.0f} LUT, {d.bram18:,.0f} BRAM18, {d.uram:,.0f} URAM,
{d.dsp:,.0f} DSP, {d.energy_uj:,.1f} uJ per inference (FINN-DSE estimators, equal to FINN's own
pre-synthesis estimate; not measurements).

{build_instructions(config.get("vitis_platform"))}""")
    return out_dir
