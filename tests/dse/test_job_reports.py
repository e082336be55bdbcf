"""Parsers of FINN's build reports, the driver's throughput test and XRT's power report, and the
ingestion of a synthesized build into a real (small) Optuna study.

The sample files are in tests/data/build_reports/; its README names, for each file, the code that
writes that format (finn-plus 1.6.1, finn-plus-driver, XRT). Their numbers are made up (there is
no Vivado or U280 here), except FINN's estimate reports, which are real.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from dse.errors import ConfigError
from dse.jobs.calibration import calibration_report, load_calibration, read_rows
from dse.jobs.controller import ingest_build_dir, list_jobs
from dse.jobs.ingest import build_figures
from dse.jobs.board import derive_measurement
from dse.jobs.reports import (find_build_reports, fmax_from_wns, is_finn_node, op_type_of, parse_estimate_resources,
                              parse_ooc_synth, parse_post_synth_json, parse_throughput, parse_timing_summary,
                              parse_vivado_utilization_xml, parse_xbutil_electrical)
from dse.jobs.tools import build_tools, measure_tools, missing_text

DATA = Path(__file__).resolve().parents[1] / "data" / "build_reports"


def test_finn_estimate_and_post_synthesis_json() -> None:
    est = parse_estimate_resources(DATA / "vitis_build" / "report" / "estimate_layer_resources.json")
    assert set(est) == {"MVAU_hls_0", "MVAU_hls_1", "MVAU_hls_2", "LabelSelect_hls_0"}  # "total" left out
    assert est["MVAU_hls_0"].lut == 4983 and est["MVAU_hls_0"].bram18 == 0
    synth = parse_post_synth_json(DATA / "vitis_build" / "report" / "post_synth_resources_0.json")
    assert synth["MVAU_hls_0"].lut == 5412 and synth["MVAU_hls_0"].bram18 == 1 and synth["MVAU_hls_0"].ff == 6011
    assert synth["IODMA_hls_0"].bram18 == 2  # one RAMB36 = two 18 kbit blocks
    assert synth["(top)"].bram18 == 2 * 212 + 9
    assert [is_finn_node(n) for n in ("MVAU_hls_0", "(top)", "StreamingDataflowPartition_1", "level0_i")] == \
        [True, False, False, False]
    assert op_type_of("StreamingDataWidthConverter_rtl_0") == "StreamingDataWidthConverter_rtl"


def test_vivado_xml_reads_as_finns_json() -> None:
    xml = parse_vivado_utilization_xml(DATA / "vitis_build_xml" / "report" / "post_synth_report.xml")
    js = parse_post_synth_json(DATA / "vitis_build" / "report" / "post_synth_resources_0.json")
    for name, res in js.items():
        assert xml[name].lut == res.lut and xml[name].bram18 == res.bram18 and xml[name].dsp == res.dsp, name
        assert xml[name].ff == res.ff
    assert "ulp" in xml and "StreamingDataflowPartition_1" in xml  # the hierarchy above FINN's nodes


def test_vivado_xml_without_header_uses_vitis_columns(tmp_path: Path) -> None:
    # post_synth_res's fallback: Instance, Module, 2 more, then Total LUTs at 4 ... DSP Blocks at 12.
    cells = ["MVAU_hls_0", "m", "x", "y", "100", "90", "5", "5", "200", "1", "2", "0", "3"]
    (tmp_path / "r.xml").write_text("<RptDoc><table><tablerow>" + "".join(
        f'<tablecell contents="{c}"/>' for c in cells) + "</tablerow></table></RptDoc>")
    r = parse_vivado_utilization_xml(tmp_path / "r.xml")["MVAU_hls_0"]
    assert (r.lut, r.ff, r.bram18, r.uram, r.dsp) == (100, 200, 4, 0, 3)


def test_timing_and_ooc() -> None:
    wns = parse_timing_summary((DATA / "vitis_build" / "report" / "post_route_timing.rpt").read_text())
    assert wns == pytest.approx(0.412)
    assert fmax_from_wns(5.0, 0.412) == pytest.approx(1000 / 4.588)
    assert fmax_from_wns(5.0, -6.0) == pytest.approx(1000 / 11.0)
    ooc = parse_ooc_synth(DATA / "ooc_build" / "report" / "ooc_synth_and_timing.json")
    assert ooc.totals.lut == 7123 and ooc.totals.bram18 == 2 and ooc.fmax_mhz == pytest.approx(210.526, rel=1e-4)


def test_driver_throughput_in_all_three_forms() -> None:
    forms = [(DATA / "driver" / f).read_text() for f in ("report_throughput_test.json", "nw_metrics.txt",
                                                          "cli_stdout.txt")]
    parsed = [parse_throughput(text) for text in forms]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0]["throughput[images/s]"] == 190985.48 and parsed[0]["batch_size"] == 10000
    with pytest.raises(ConfigError, match="no throughput-test result"):
        parse_throughput("Traceback: no device")


def test_xbutil_electrical() -> None:
    el = parse_xbutil_electrical((DATA / "xrt" / "xbutil_electrical.json").read_text())
    assert el.device_id == "0000:a1:00.1" and el.power_w == pytest.approx(29.438211) and el.max_power_w == 225
    rails = parse_xbutil_electrical((DATA / "xrt" / "xbutil_electrical_no_total.json").read_text())
    # 12v_aux + 12v_pex + 3v3_pex (3v3_aux draws nothing; vccint is not an input rail)
    assert rails.source == "rails"
    assert rails.power_w == pytest.approx(12.161 * 1.304 + 12.109 * 1.012 + 3.312 * 0.412)
    with pytest.raises(ConfigError, match="no electrical report for device"):
        parse_xbutil_electrical((DATA / "xrt" / "xbutil_electrical.json").read_text(), device="0000:ff:00.1")


def test_derive_measurement() -> None:
    run = parse_throughput((DATA / "driver" / "report_throughput_test.json").read_text())
    lat = {**run, "batch_size": 1, "runtime[ms]": 0.45, "throughput[images/s]": 2222.2}
    data = {"throughput_runs": [run, {**run, "throughput[images/s]": 190000.0}, {**run, "throughput[images/s]": 192000.0}],
            "latency_runs": [lat, {**lat, "runtime[ms]": 0.41}, {**lat, "runtime[ms]": 0.50}],
            "power_samples": [{"t": 0, "w": 22.0, "phase": "idle"}, {"t": 1, "w": 24.0, "phase": "idle"},
                              {"t": 2, "w": 29.0, "phase": "load"}, {"t": 3, "w": 31.0, "phase": "load"},
                              {"t": 4, "w": None, "phase": "load"}, {"t": 5, "w": 25.0, "phase": "after"}]}
    m = derive_measurement(data)
    assert m["measured_fps"] == pytest.approx(190985.48)  # median of the three runs
    assert m["measured_latency_us"] == pytest.approx(450.0)
    assert m["measured_power_w"] == pytest.approx(30.0) and m["measured_idle_power_w"] == pytest.approx(23.0)
    assert m["measured_energy_uj"] == pytest.approx(30.0 / 190985.48 * 1e6)
    assert m["measured_dynamic_energy_uj"] == pytest.approx(7.0 / 190985.48 * 1e6)
    assert m["measured_fclk_mhz"] == 200.0


def test_tool_checks_name_what_is_missing(tmp_path: Path) -> None:
    checks = build_tools({"PATH": str(tmp_path)})
    assert [c.ok for c in checks] == [False, False, False]
    text = missing_text(checks)
    assert "Vivado: `vivado` not on PATH and XILINX_VIVADO not set" in text
    assert "Vitis: `v++` not on PATH and XILINX_VITIS not set" in text and "XRT: `xbutil` not on PATH" in text
    # A tool found under its environment variable counts; the other two are still named.
    (tmp_path / "vivado" / "bin").mkdir(parents=True)
    (tmp_path / "vivado" / "bin" / "vivado").touch()
    checks = build_tools({"PATH": "", "XILINX_VIVADO": str(tmp_path / "vivado")})
    assert checks[0].ok and not checks[1].ok
    checks = measure_tools({"PATH": ""}, python_has=lambda m: False)
    assert "U280: cannot look for one without XRT" in missing_text(checks)
    assert "finn-plus-driver: Python package not installed" in missing_text(checks)


def test_build_figures_from_vitis_reports() -> None:
    attrs, rows = build_figures(find_build_reports(DATA / "vitis_build"), clock_ns=5.0, label="job 7", study="s",
                                trial=3, job=7)
    # the four nodes FINN estimated, as synthesized
    assert attrs["synth_lut"] == 5412 + 702 + 455 + 121 and attrs["synth_nodes"] == 4
    assert attrs["synth_bram18"] == 1 and attrs["synth_ff"] == 6011 + 903 + 611 + 188
    # every FINN node (FIFO, width converter and DMAs too), and the whole design
    assert attrs["synth_accel_lut"] == attrs["synth_lut"] + 38 + 57 + 812 + 640
    assert attrs["synth_top_lut"] == 183412
    assert attrs["synth_fmax_mhz"] == pytest.approx(1000 / (5.0 - 0.412))
    assert attrs["synth_build_s"] == 5725
    assert attrs["synth_source"].startswith("Vivado post-synthesis utilization (post_synth_resources_0.json), job 7")
    assert len(rows) == 4 * 4  # 4 nodes x (lut, bram18, uram, dsp)
    mvau0 = {r["resource"]: r for r in rows if r["node"] == "MVAU_hls_0"}
    assert mvau0["lut"]["estimate"] == 4983 and mvau0["lut"]["measured"] == 5412 and mvau0["lut"]["op_type"] == "MVAU"
    # The XML report gives the same figures.
    xml_attrs, xml_rows = build_figures(find_build_reports(DATA / "vitis_build_xml"), clock_ns=5.0, label="job 8")
    assert xml_attrs["synth_lut"] == attrs["synth_lut"] and xml_attrs["synth_accel_lut"] == attrs["synth_accel_lut"]
    assert len(xml_rows) == len(rows)
    # Out-of-context totals only: no per-node rows, the stitched IP's totals.
    ooc_attrs, ooc_rows = build_figures(find_build_reports(DATA / "ooc_build"), clock_ns=5.0, label="job 9")
    assert ooc_attrs["synth_lut"] == 7123 and not ooc_rows and "out-of-context" in ooc_attrs["synth_scope"]
    # An estimate-only output directory holds no synthesis report: nothing is recorded as synthesized.
    assert build_figures(find_build_reports(DATA / "driver"), clock_ns=5.0, label="x") == ({}, [])


def _tiny_study(workdir: Path) -> str:
    """A real Optuna study with one finished trial, as `finn-dse run` leaves it (study.json, SQLite)."""
    workdir.mkdir(parents=True)
    url = f"sqlite:///{workdir / 'study.db'}"
    study = optuna.create_study(study_name="tiny", storage=url, directions=["maximize", "maximize", "minimize"])
    trial = study.ask()
    for k, v in {"lut": 5807.0, "bram18": 0.0, "uram": 0.0, "dsp": 0.0, "fps": 195312.5}.items():
        trial.set_user_attr(k, v)
    study.tell(trial, [0.75, 195312.5, 5807.0])
    (workdir / "study.json").write_text(json.dumps({"study_name": "tiny", "storage": url}))
    return url


def test_ingest_a_build_done_elsewhere(tmp_path: Path) -> None:
    url = _tiny_study(tmp_path / "run")
    build = tmp_path / "bundle" / "build"
    shutil.copytree(DATA / "vitis_build", build)
    (build.parent / "build.yaml").write_text("synth_clk_period_ns: 5.0\nboard: U280\n")
    rec = ingest_build_dir(tmp_path / "run", 0, build)
    assert rec.state == "COMPLETED" and rec.backend == "manual" and rec.ingested
    from dse.results import trial_attrs

    attrs = trial_attrs(optuna.load_study(study_name="tiny", storage=url), url)[0]
    assert attrs["synth_lut"] == 6690 and attrs["synth_job"] == rec.id and attrs["lut"] == 5807.0
    assert attrs["synth_fmax_mhz"] == pytest.approx(217.96, rel=1e-3)
    assert len(read_rows(tmp_path / "run")) == 16
    # Ingesting the same build again changes nothing: no second job, no duplicate calibration rows.
    assert ingest_build_dir(tmp_path / "run", 0, build).id == rec.id
    assert len(read_rows(tmp_path / "run")) == 16
    assert [j.id for j in list_jobs(tmp_path / "run")] == [rec.id]
    report = calibration_report(tmp_path / "run", min_samples=2)
    assert report.samples == 16 and report.designs == 1
    c = report.calibration.correction("MVAU", "lut")
    assert c is not None and c.n == 3
    assert "MVAU" in report.to_text() and load_calibration(tmp_path / "run") is not None
    with pytest.raises(ConfigError, match="holds no synthesis report"):
        ingest_build_dir(tmp_path / "run", 0, DATA / "driver")
