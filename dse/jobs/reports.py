"""Parsers for what FINN builds and the board measurement leave behind. Pure reading, no FINN import.

Each parser follows the code that writes the file (finn-plus 1.6.1 unless noted):
- ``estimate_layer_resources.json``: FINN's step_generate_estimate_reports, one entry per node
  (``res_estimation``: BRAM_18K, BRAM_efficiency, LUT, URAM, URAM_efficiency, DSP) plus "total".
- ``post_synth_resources_<device>.json`` (Vitis Alveo flow) / ``post_synth_resources.json``
  (Zynq): step_synthesize_bitfile -> generate_resource_report -> analysis post_synth_res: per
  instance {LUT, SRL, FF, BRAM_36K, BRAM_18K, URAM, DSP}, with "(top)" for the whole design and the
  largest shell components.
- ``post_synth_report*.xml``: Vivado ``report_utilization -hierarchical -format xml`` (FINN's
  vitis_gen_report_xml.tcl), copied by copy_synthesis_reports; read as post_synth_res reads it
  (header row found by its "Instance" cell; columns "Total LUTs", "SRLs", "FFs", "RAMB36",
  "RAMB18", "URAM", "DSP Blocks"; instance names stripped).
- ``ooc_synth_and_timing.json``: step_out_of_context_synthesis (finn.util.vivado
  parse_ooc_synth_results + estimated_throughput_fps): LUT, FF, DSP, BRAM_18K, BRAM_36K, URAM, ...,
  WNS, clk_period_ns, fmax_mhz.
- Vivado ``report_timing_summary`` text: the "Design Timing Summary" table, WNS(ns) first.
- The driver's throughput test: finn-plus-driver (finn-plus >= 1.5 ships the PYNQ driver as the
  package ``finn-plus-driver``; ``FINNDMAOverlay.throughput_test`` returns a dict with
  "runtime[ms]", "throughput[images/s]", "DRAM_in_bandwidth[MB/s]", "DRAM_out_bandwidth[MB/s]",
  "fclk[mhz]", "batch_size", ...; ``run_throughput_test`` writes it as
  ``<report_dir>/report_throughput_test.json``; the CLI prints the dict). Older FINN drivers
  (``driver.py --exec_mode throughput_test``) wrote the same dict as ``str(dict)`` to
  ``nw_metrics.txt``; both are read.
- ``xbutil examine -r electrical -f JSON``: XRT's XBUtilities::produce_reports (root
  "schema_version", "devices": [{"interface_type", "device_id", "electrical": ...}]) with
  ReportElectrical / sensor.cpp read_electrical: "power_consumption_watts",
  "power_consumption_max_watts", "power_rails": [{"id", "description", "voltage": {"volts"},
  "current": {"amps"}}]; values are strings (boost property tree).
"""
from __future__ import annotations

import ast
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.errors import ConfigError

# Shell components post_synth_res reports next to the FINN nodes (not part of the accelerator).
SHELL_INSTANCES = ("(top)", "top_instrumentation_wrap_0_0", "top_axi_interconnect_0_0", "top_smartconnect_0_0")
_XML_COLUMNS = (("Total LUTs", "LUT"), ("SRLs", "SRL"), ("FFs", "FF"), ("RAMB36", "BRAM_36K"), ("RAMB18", "BRAM_18K"),
                ("URAM", "URAM"), ("DSP Blocks", "DSP"))
_VITIS_DEFAULT_COLUMNS = {"LUT": 4, "SRL": 7, "FF": 8, "BRAM_36K": 9, "BRAM_18K": 10, "URAM": 11, "DSP": 12}


@dataclass(frozen=True, slots=True)
class NodeResources:
    """One instance's resources in FINN-DSE's units (BRAM in 18 kbit blocks: RAMB36 counts 2)."""

    lut: float
    bram18: float
    uram: float
    dsp: float
    ff: float | None = None

    @classmethod
    def from_finn(cls, d: dict[str, Any]) -> NodeResources:
        """From FINN's keys (LUT, BRAM_18K, BRAM_36K, URAM, DSP, FF)."""
        return cls(lut=float(d.get("LUT", 0)), bram18=float(d.get("BRAM_18K", 0)) + 2 * float(d.get("BRAM_36K", 0)),
                   uram=float(d.get("URAM", 0)), dsp=float(d.get("DSP", 0)),
                   ff=float(d["FF"]) if "FF" in d else None)

    def get(self, resource: str) -> float | None:
        return getattr(self, resource)


def _read(path: Path | str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None


def _json(path: Path | str) -> Any:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from None


# A FINN hardware node's name after specialization and GiveUniqueNodeNames: <OpType>_(hls|rtl)_<n>.
FINN_NODE = re.compile(r"^[A-Za-z][A-Za-z0-9]*_(hls|rtl)_\d+$")


def is_finn_node(name: str) -> bool:
    """A FINN hardware node (not the shell, a StreamingDataflowPartition or another container)."""
    return bool(FINN_NODE.match(name))


def op_type_of(node_name: str) -> str:
    """FINN's op type from its unique node name (GiveUniqueNodeNames: ``<op_type>_<n>``)."""
    stem, _, index = node_name.rpartition("_")
    return stem if stem and index.isdigit() else node_name


def parse_estimate_resources(path: Path | str) -> dict[str, NodeResources]:
    """FINN's ``estimate_layer_resources.json``: node name -> estimated resources (no "total")."""
    data = _json(path)
    return {name: NodeResources.from_finn(d) for name, d in data.items() if name != "total" and isinstance(d, dict)}


def parse_post_synth_json(path: Path | str) -> dict[str, NodeResources]:
    """FINN's ``post_synth_resources[_<device>].json``: instance -> synthesized resources."""
    data = _json(path)
    return {name: NodeResources.from_finn(d) for name, d in data.items() if isinstance(d, dict)}


def parse_vivado_utilization_xml(path: Path | str) -> dict[str, NodeResources]:
    """Vivado's hierarchical utilization report in XML: instance name -> resources.

    Like FINN's post_synth_res, the first row with a given (stripped) instance name wins, and the
    column of each resource comes from the header row; without one, the Vitis flow's fixed column
    positions are used.
    """
    try:
        root = ET.fromstring(_read(path))
    except ET.ParseError as err:
        raise ConfigError(f"{path} is not a Vivado XML report: {err}") from None
    header = root.findall(".//*[@contents='Instance']/..")
    if header:
        names = [c.attrib.get("contents", "").strip() for c in header[0]]
        columns = {res: names.index(label) for label, res in _XML_COLUMNS if label in names}
    else:
        columns = dict(_VITIS_DEFAULT_COLUMNS)
    out: dict[str, NodeResources] = {}
    for row in root.iter("tablerow"):
        cells = [c.attrib.get("contents", "").strip() for c in row if c.tag == "tablecell"]
        if not cells or cells[0] in out:
            continue
        values: dict[str, Any] = {}
        for res, i in columns.items():
            if i < len(cells):
                try:
                    values[res] = int(float(cells[i]))
                except ValueError:
                    pass
        if values:
            out[cells[0]] = NodeResources.from_finn(values)
    if not out:
        raise ConfigError(f"{path}: no utilization rows found")
    return out


@dataclass(frozen=True, slots=True)
class OocSynth:
    """FINN's out-of-context synthesis of the stitched IP (the accelerator alone)."""

    totals: NodeResources
    wns_ns: float | None
    clk_period_ns: float | None
    fmax_mhz: float | None
    raw: dict[str, Any]


def parse_ooc_synth(path: Path | str) -> OocSynth:
    """FINN's ``ooc_synth_and_timing.json``."""
    data = _json(path)
    fmax = data.get("fmax_mhz")
    return OocSynth(totals=NodeResources.from_finn(data), wns_ns=_float(data.get("WNS")),
                    clk_period_ns=_float(data.get("clk_period_ns")),
                    fmax_mhz=float(fmax) if fmax not in (None, 0) else None, raw=data)


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


_WNS = re.compile(r"WNS\(ns\)\s+TNS\(ns\).*?\n\s*-+[\s-]*\n\s*(-?[\d.]+)", re.S)


def parse_timing_summary(text: str) -> float | None:
    """WNS (ns) from Vivado's ``report_timing_summary`` (its "Design Timing Summary" table)."""
    match = _WNS.search(text)
    return float(match.group(1)) if match else None


def fmax_from_wns(clk_period_ns: float, wns_ns: float) -> float | None:
    """Achievable clock (MHz) from the target period and the worst negative slack."""
    period = clk_period_ns - wns_ns
    return 1000.0 / period if period > 0 else None


def parse_throughput(text: str) -> dict[str, float]:
    """The driver's throughput-test dict: JSON (report_throughput_test.json), ``str(dict)``
    (nw_metrics.txt), or the driver CLI's output (its last line that is a dict)."""
    text = text.strip()
    candidates = [text] + [line.strip() for line in reversed(text.splitlines()) if line.strip().startswith("{")]
    for candidate in candidates:
        for load in (json.loads, ast.literal_eval):
            try:
                data = load(candidate)
            except (ValueError, SyntaxError, TypeError):
                continue
            if isinstance(data, dict) and "throughput[images/s]" in data:
                return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}
    raise ConfigError("no throughput-test result (a dict with 'throughput[images/s]') found")


@dataclass(frozen=True, slots=True)
class Electrical:
    """One ``xbutil examine -r electrical`` reading."""

    device_id: str
    power_w: float | None
    max_power_w: float | None
    source: str  # "power_consumption_watts" or "rails"


# The card's input rails (12 V and 3.3 V from PCIe and the auxiliary connector), as sensor.cpp names them.
INPUT_RAILS = ("12v_aux", "12v_pex", "3v3_pex", "3v3_aux")


def parse_xbutil_electrical(text: str, *, device: str | None = None) -> Electrical:
    """Board power from xbutil's JSON: ``power_consumption_watts``, else the sum of V x I over the
    input rails."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"not xbutil JSON output: {err}") from None
    devices = data.get("devices") or []
    if device is not None:
        devices = [d for d in devices if d.get("device_id") == device]
    devices = [d for d in devices if "electrical" in d]
    if not devices:
        raise ConfigError("xbutil output has no electrical report" + (f" for device {device}" if device else ""))
    dev = devices[0]
    el = dev["electrical"]
    watts = _float(el.get("power_consumption_watts"))
    source = "power_consumption_watts"
    if watts is None:
        rails = {r.get("id"): r for r in el.get("power_rails", [])}
        products = []
        for rail in INPUT_RAILS:
            r = rails.get(rail)
            if r is None:
                continue
            v, a = _float(r.get("voltage", {}).get("volts")), _float(r.get("current", {}).get("amps"))
            if v is not None and a is not None and a > 0:
                products.append(v * a)
        watts = sum(products) if products else None
        source = "rails"
    return Electrical(device_id=str(dev.get("device_id", "?")), power_w=watts,
                      max_power_w=_float(el.get("power_consumption_max_watts")), source=source)


@dataclass(frozen=True, slots=True)
class BuildReports:
    """The report files a `finn build` output directory holds (paths; None where absent)."""

    build_dir: Path
    estimate_resources: Path | None
    estimate_performance: Path | None
    post_synth_json: Path | None
    post_synth_xml: Path | None
    ooc_synth: Path | None
    timing_summary: Path | None
    time_per_step: Path | None
    metadata: Path | None
    bitfile: Path | None
    driver_settings: Path | None

    @property
    def synthesized(self) -> bool:
        return any(p is not None for p in (self.post_synth_json, self.post_synth_xml, self.ooc_synth))


def _first(paths: list[Path]) -> Path | None:
    return sorted(paths)[0] if paths else None


def find_build_reports(build_dir: Path) -> BuildReports:
    """Locate FINN's reports in a build output directory (``output_dir`` of build.yaml)."""
    report = build_dir / "report"
    post_json = _first([p for p in report.glob("post_synth_resources*.json") if "_dcp" not in p.name])
    post_xml = _first([p for p in report.glob("post_synth_report*.xml") if "_dcp" not in p.name])
    timing = _first(list(report.glob("*timing*.rpt")))
    bitfile = _first(list((build_dir / "deploy" / "bitfile").glob("*.xclbin"))) or _first(
        list((build_dir / "bitfile").glob("*.xclbin")))
    settings = next((p for p in (build_dir / "deploy" / "driver" / "settings.json",
                                 build_dir / "driver" / "settings.json") if p.exists()), None)

    def opt(p: Path) -> Path | None:
        return p if p.exists() else None

    return BuildReports(build_dir=build_dir, estimate_resources=opt(report / "estimate_layer_resources.json"),
                        estimate_performance=opt(report / "estimate_network_performance.json"),
                        post_synth_json=post_json, post_synth_xml=post_xml,
                        ooc_synth=opt(report / "ooc_synth_and_timing.json"), timing_summary=timing,
                        time_per_step=opt(report / "time_per_step.json"),
                        metadata=opt(report / "metadata_builder.json"), bitfile=bitfile, driver_settings=settings)
