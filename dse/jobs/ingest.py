"""Turn what a finished job left behind into trial attributes and calibration rows.

What a trial gets (user attributes; dse/report/page.py shows the synth_* / measured_* ones next
to the estimates):
- synthesized build: ``synth_lut``, ``synth_bram18``, ``synth_uram``, ``synth_dsp`` (and
  ``synth_ff``): the post-synthesis counts of the nodes FINN's estimate covers, so that
  synth / estimate judges the estimate; ``synth_accel_*``: every FINN node in the report (also the
  FIFOs, width converters and DMAs that the estimate leaves out); ``synth_top_*``: the whole
  design the report covers (with the shell); ``synth_fmax_mhz`` where a timing figure exists;
  ``synth_source`` (which report, which job), ``synth_job``, ``synth_report``.
- board measurement: ``measured_fps``, ``measured_latency_us``, ``measured_power_w``,
  ``measured_energy_uj`` (+ idle power, dynamic energy, clock), ``measure_source``, ``measure_job``.
- estimate-only build: one attribute ``estimate_only_build`` (FINN's figures for the bundle, the
  job, whether they reproduce the trial's); never any synth_* attribute.
Calibration rows (dse.jobs.calibration) come only from synthesized builds with a per-node report.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dse.jobs.reports import (BuildReports, NodeResources, fmax_from_wns, is_finn_node, op_type_of,
                              parse_estimate_resources, parse_ooc_synth, parse_post_synth_json,
                              parse_timing_summary, parse_vivado_utilization_xml)
from estimators.calibration import RESOURCES, base_op_type

ESTIMATE_KEYS = ("lut", "bram18", "uram", "dsp", "fps")


def _sum(nodes: list[NodeResources], resource: str) -> float | None:
    values = [n.get(resource) for n in nodes]
    if not values or any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))


def build_figures(reports: BuildReports, *, clock_ns: float | None, label: str, study: str = "", trial: int = -1,
                  job: int | str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Trial attributes and calibration rows from a synthesized build's reports (see module doc).

    Returns ({}, []) when the build holds no synthesis report: nothing is then recorded as synthesized.
    """
    if not reports.synthesized:
        return {}, []
    estimates = parse_estimate_resources(reports.estimate_resources) if reports.estimate_resources else {}
    per_node: dict[str, NodeResources] = {}
    source_file: Path | None = None
    if reports.post_synth_json is not None:
        per_node, source_file = parse_post_synth_json(reports.post_synth_json), reports.post_synth_json
    elif reports.post_synth_xml is not None:
        per_node, source_file = parse_vivado_utilization_xml(reports.post_synth_xml), reports.post_synth_xml
    attrs: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if per_node:
        accel = {n: r for n, r in per_node.items() if is_finn_node(n)}
        matched = [n for n in estimates if n in accel]
        scope = list(matched) if matched else list(accel)
        for res in ("lut", "bram18", "uram", "dsp", "ff"):
            value = _sum([accel[n] for n in scope], res)
            if value is not None:
                attrs[f"synth_{res}"] = value
            acc = _sum(list(accel.values()), res)
            if acc is not None:
                attrs[f"synth_accel_{res}"] = acc
            top = per_node.get("(top)")
            if top is not None and top.get(res) is not None:
                attrs[f"synth_top_{res}"] = top.get(res)
        attrs["synth_nodes"] = len(scope)
        missing = [n for n in estimates if n not in accel]
        if missing:
            attrs["synth_nodes_missing"] = missing
        attrs["synth_scope"] = ("the nodes FINN's estimate covers" if matched else
                                "every FINN node in the report (no estimate report to match)")
        for name in matched:
            e, m = estimates[name], accel[name]
            for res in RESOURCES:
                mv = m.get(res)
                if mv is None:
                    continue
                rows.append({"study": study, "trial": trial, "job": job, "source": str(source_file) if source_file else "",
                             "node": name, "finn_op_type": op_type_of(name), "op_type": base_op_type(op_type_of(name)),
                             "resource": res, "estimate": e.get(res), "measured": mv})
    ooc = parse_ooc_synth(reports.ooc_synth) if reports.ooc_synth is not None else None
    if ooc is not None:
        if not per_node:
            for res in ("lut", "bram18", "uram", "dsp", "ff"):
                value = ooc.totals.get(res)
                if value is not None:
                    attrs[f"synth_{res}"] = value
            attrs["synth_scope"] = "out-of-context synthesis of the stitched IP (all FINN nodes, FIFOs included)"
            source_file = reports.ooc_synth
        if ooc.fmax_mhz is not None:
            attrs["synth_fmax_mhz"] = ooc.fmax_mhz
            attrs["synth_timing_source"] = f"{reports.ooc_synth.name if reports.ooc_synth else ''} (WNS {ooc.wns_ns} ns)"
    if "synth_fmax_mhz" not in attrs and reports.timing_summary is not None and clock_ns:
        wns = parse_timing_summary(reports.timing_summary.read_text(errors="replace"))
        fmax = fmax_from_wns(clock_ns, wns) if wns is not None else None
        if fmax is not None:
            attrs["synth_fmax_mhz"] = fmax
            attrs["synth_wns_ns"] = wns
            attrs["synth_timing_source"] = f"{reports.timing_summary.name} (WNS {wns} ns at {clock_ns} ns)"
    if reports.time_per_step is not None:
        try:
            attrs["synth_build_s"] = float(json.loads(reports.time_per_step.read_text()).get("total_build_time"))
        except (ValueError, TypeError, json.JSONDecodeError):
            pass
    kind = "Vivado post-synthesis utilization" if per_node else "Vivado out-of-context synthesis"
    attrs["synth_source"] = f"{kind} ({source_file.name if source_file else '?'}), {label}"
    attrs["synth_report"] = str(source_file) if source_file else None
    return attrs, rows


def estimate_only_figures(out_dir: Path, trial_attrs: dict[str, Any], *, job: int) -> dict[str, Any]:
    """The ``estimate_only_build`` attribute: FINN's estimate of the bundle, compared with the trial's."""
    est = json.loads((out_dir / "estimate.json").read_text())
    figures = {k: est.get(k) for k in ("lut", "bram18", "uram", "dsp", "fps", "max_cycles", "bottleneck")}
    compared = [(float(trial_attrs[k]), figures[k]) for k in ESTIMATE_KEYS if trial_attrs.get(k) is not None]
    matches = bool(compared) and all(b is not None and abs(a - float(b)) <= 1e-6 * max(1.0, abs(a))
                                     for a, b in compared)
    return {"estimate_only_build": {**figures, "job": job, "synthesized": False, "matches_trial": matches,
                                    "source": str(est.get("source", "FINN estimate flow (estimate-only build)")),
                                    "report_dir": str(out_dir / "report")}}


def measurement_attrs(figures: dict[str, Any], *, label: str, device: str | None) -> dict[str, Any]:
    attrs = {k: v for k, v in figures.items() if k.startswith("measured_")}
    attrs["measure_source"] = (f"finn-plus-driver throughput_test on the U280 {device or '(default device)'}, "
                               f"board power from xbutil (whole card), {label}")
    return attrs
