"""What a build or measurement job runs on its node: ``python -m dse.jobs.runner JOB_DIR``.

The controller writes ``JOB_DIR/job.json`` (what to do) and ``JOB_DIR/job.sh`` (modules,
container, this command); the job writes ``status.json`` when it starts and ``result.json`` when
it ends (state COMPLETED or FAILED, the reason, what it produced). Nothing here touches the study
database: the controller reads these files (work directory on a shared filesystem) and records
them, so a job needs no database access and a controller restart loses nothing.

Job kinds and modes:
- build / ``estimate-only``: FINN's flow up to the estimate reports on the bundle's model and
  folding (dse.finn.flow, no Vivado), FINN's report files in ``out/report``. Labelled as such:
  never synthesized.
- build / ``full``: checks for Vivado, Vitis and XRT, then ``finn build --batch build.yaml
  model.onnx`` in a copy of the bundle; synthesized only if FINN left a synthesis report.
- measure / ``throughput``: checks for XRT, a U280, finn-plus-driver and PYNQ and the bitfile,
  then dse.jobs.board on the board.
A job that cannot run its tools ends FAILED with the reason; its log is ``JOB_DIR/log.txt``.

This module is an entry point (like dse/cli.py): it reads its process environment and passes it on.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from dse.artifacts import write_json
from dse.jobs.tools import build_tools, measure_tools, missing_text

ESTIMATE_ONLY_NOTE = ("estimate-only build: FINN's estimate flow (no Vivado); these are FINN's pre-synthesis "
                      "estimates, not synthesis results")


class Terminated(Exception):
    """SIGTERM: Slurm's time limit, scancel, or a kill."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated("terminated by SIGTERM (time limit, scancel or kill)")


def _build_config(bundle: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((bundle / "build.yaml").read_text()))


def run_estimate_only(spec: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    from dse.finn.flow import estimate as finn_estimate

    bundle = Path(spec["bundle"])
    out = Path(spec["output_dir"])
    cfg = _build_config(bundle)
    folding = json.loads((bundle / "folding_config.json").read_text())
    t0 = time.time()
    result = finn_estimate(bundle / "model.onnx", board=str(cfg["board"]), clock_ns=float(cfg["synth_clk_period_ns"]),
                           folding=folding, mvau_wwidth_max=int(cfg.get("mvau_wwidth_max", 36)),
                           log_path=job_dir / "finn.log", reports_dir=out / "report")
    e = result.estimate
    write_json(out / "estimate.json", {**e.to_dict(), "source": ESTIMATE_ONLY_NOTE})
    figures = {"lut": e.lut, "bram18": e.bram18, "uram": e.uram, "dsp": e.dsp, "fps": e.fps,
               "latency_us": e.latency_ns / 1000.0, "max_cycles": e.max_cycles}
    print(f"{ESTIMATE_ONLY_NOTE}: {figures} ({time.time() - t0:.1f} s)", flush=True)
    return {"state": "COMPLETED", "synthesized": False, "note": ESTIMATE_ONLY_NOTE, "figures": figures,
            "report_dir": str(out / "report")}


def _tail_errors(log: Path, n: int = 3) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if "ERROR" in line or "Error" in line or "error:" in line]
    return " | ".join((errors or lines)[-n:])


def run_full_build(spec: dict[str, Any], job_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    from dse.jobs.reports import find_build_reports

    checks = build_tools(env)
    for c in checks:
        print(c.detail, flush=True)
    if not all(c.ok for c in checks):
        return {"state": "FAILED", "synthesized": False, "missing": [c.name for c in checks if not c.ok],
                "reason": f"cannot synthesize here: {missing_text(checks)}"}
    bundle = Path(spec["bundle"])
    work = job_dir / "work"
    shutil.copytree(bundle, work, dirs_exist_ok=True)
    cfg = _build_config(work)
    finn = shutil.which("finn", path=env.get("PATH", "")) or str(Path(sys.executable).with_name("finn"))
    log = job_dir / "finn_build.log"
    cmd = [finn, "build", "--batch", *spec.get("options", {}).get("finn_args", []), "build.yaml", "model.onnx"]
    print(f"running {' '.join(cmd)} in {work} (log: {log})", flush=True)
    with open(log, "ab") as out:
        proc = subprocess.run(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    build_dir = work / str(cfg.get("output_dir") or "build")
    reports = find_build_reports(build_dir)
    if proc.returncode != 0:
        return {"state": "FAILED", "synthesized": False, "build_dir": str(build_dir),
                "reason": f"finn build exited with code {proc.returncode}: {_tail_errors(log)} (log: {log})"}
    if not reports.synthesized:
        return {"state": "FAILED", "synthesized": False, "build_dir": str(build_dir),
                "reason": f"finn build finished but left no synthesis report in {build_dir / 'report'} (log: {log})"}
    return {"state": "COMPLETED", "synthesized": True, "build_dir": str(build_dir),
            "bitfile": str(reports.bitfile) if reports.bitfile else None,
            "driver_settings": str(reports.driver_settings) if reports.driver_settings else None}


def run_measure(spec: dict[str, Any], job_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    from dse.jobs.board import derive_measurement, run_board_measurement

    opts = spec.get("options", {})
    checks = measure_tools(env, python_has=lambda m: importlib.util.find_spec(m) is not None)
    for c in checks:
        print(c.detail, flush=True)
    problems = []
    if not all(c.ok for c in checks):
        problems.append(f"XRT/U280 not available: {missing_text(checks)}")
    bitfile, settings = opts.get("bitfile"), opts.get("driver_settings")
    if not bitfile:
        problems.append(f"nothing to measure: {opts.get('no_bitfile_reason') or 'no bitfile given'}")
    elif not Path(bitfile).exists():
        problems.append(f"bitfile not found: {bitfile}")
    if bitfile and (not settings or not Path(settings).exists()):
        problems.append(f"driver settings.json not found: {settings}")
    if problems:
        return {"state": "FAILED", "measured": False, "reason": "; ".join(problems)}
    xbutil = shutil.which("xbutil", path=env.get("PATH", "")) or str(Path(env["XILINX_XRT"]) / "bin" / "xbutil")
    out = Path(spec["output_dir"])
    data = run_board_measurement(bitfile=Path(bitfile), settings=Path(settings), out_dir=out, xbutil=xbutil,
                                 device=opts.get("device"), batch_size=int(opts.get("batch_size", 10000)),
                                 duration_s=float(opts.get("duration_s", 20.0)))
    return {"state": "COMPLETED", "measured": True, "figures": derive_measurement(data),
            "measurement": str(out / "measurement.json")}


def run(spec: dict[str, Any], job_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    kind, mode = spec["kind"], spec["mode"]
    Path(spec["output_dir"]).mkdir(parents=True, exist_ok=True)
    if kind == "build" and mode == "estimate-only":
        return run_estimate_only(spec, job_dir)
    if kind == "build" and mode == "full":
        return run_full_build(spec, job_dir, env)
    if kind == "measure":
        return run_measure(spec, job_dir, env)
    return {"state": "FAILED", "reason": f"unknown job kind/mode {kind}/{mode}"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dse.jobs.runner JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0]).resolve()
    spec = json.loads((job_dir / "job.json").read_text())
    start = time.time()
    write_json(job_dir / "status.json", {"state": "RUNNING", "start_time": start, "host": socket.gethostname(),
                                         "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")})
    print(f"FINN-DSE {spec['kind']} job {spec['id']} ({spec['mode']}): study {spec['study']}, trial {spec['trial']}, "
          f"on {socket.gethostname()}", flush=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        result = run(spec, job_dir, dict(os.environ))
    except BaseException as err:  # noqa: BLE001 - whatever happened is the job's reason
        traceback.print_exc()
        result = {"state": "FAILED", "reason": f"{type(err).__name__}: {err}"}
    result.update(start_time=start, end_time=time.time(), host=socket.gethostname())
    write_json(job_dir / "result.json", result)
    print(f"job {spec['id']} {result['state']}" + (f": {result['reason']}" if result.get("reason") else ""), flush=True)
    return 0 if result["state"] == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
