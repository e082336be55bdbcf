"""Board measurement of a built design on a U280: throughput, latency, power, energy per inference.

On the FPGA node (``run_board_measurement``), inside a measurement job:
1. the driver is set up exactly as finn-plus's driver CLI does it (``finn-plus-driver -b BITFILE
   -s settings.json -f run_throughput_test -ck batch_size=N Int``): the driver class named in
   ``settings.json`` is instantiated with its ``driver_information`` and the batch size, which
   loads the bitfile;
2. the board power is sampled with XRT (``xbutil examine -r electrical -f JSON``) while the
   design sits idle, then while the driver's ``throughput_test()`` runs back to back for
   ``duration_s`` seconds at batch size N;
3. ``throughput_test()`` at batch size 1 gives the latency of one frame as the host sees it
   (DMA set-up included: an upper bound on the accelerator's own latency).
Everything raw goes to ``measurement.json``; ``derive_measurement`` turns it into figures:
fps = median throughput[images/s] of the batch-N runs; latency = median runtime of the batch-1
runs; power = mean board power under load (whole card, as XRT reports it); energy per inference
= power / fps (and the part above idle: (load - idle) / fps).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dse.artifacts import write_atomic
from dse.errors import ConfigError
from dse.jobs.reports import parse_xbutil_electrical


def derive_measurement(data: dict[str, Any]) -> dict[str, Any]:
    """Figures from a ``measurement.json`` (see the module docstring)."""
    runs = data.get("throughput_runs") or []
    if not runs:
        raise ConfigError("measurement has no throughput runs")
    fps = statistics.median(float(r["throughput[images/s]"]) for r in runs)
    out: dict[str, Any] = {"measured_fps": fps, "measured_batch_size": int(runs[0].get("batch_size", 0)),
                           "measured_runs": len(runs)}
    fclk = [float(r["fclk[mhz]"]) for r in runs if "fclk[mhz]" in r]
    if fclk:
        out["measured_fclk_mhz"] = statistics.median(fclk)
    lat = data.get("latency_runs") or []
    if lat:
        out["measured_latency_us"] = statistics.median(float(r["runtime[ms]"]) for r in lat) * 1000.0
    samples = data.get("power_samples") or []
    load = [float(s["w"]) for s in samples if s.get("phase") == "load" and s.get("w") is not None]
    idle = [float(s["w"]) for s in samples if s.get("phase") == "idle" and s.get("w") is not None]
    if load:
        power = statistics.fmean(load)
        out.update(measured_power_w=power, measured_energy_uj=power / fps * 1e6, measured_power_samples=len(load))
        if idle:
            idle_w = statistics.fmean(idle)
            out.update(measured_idle_power_w=idle_w, measured_dynamic_energy_uj=max(0.0, power - idle_w) / fps * 1e6)
    return out


class PowerSampler:
    """Samples board power with ``xbutil examine -r electrical`` in a thread."""

    def __init__(self, xbutil: str, device: str | None, *, interval_s: float = 0.5) -> None:
        self.xbutil, self.device, self.interval_s = xbutil, device, interval_s
        self.samples: list[dict[str, Any]] = []
        self.phase = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[str] = []

    def read(self) -> float | None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "el.json"
            cmd = [self.xbutil, "examine", "--report", "electrical", "--format", "JSON", "--output", str(out), "--force"]
            if self.device:
                cmd[2:2] = ["--device", self.device]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if proc.returncode != 0 or not out.exists():
                self.errors.append((proc.stderr or proc.stdout).strip()[-300:])
                return None
            return parse_xbutil_electrical(out.read_text(), device=self.device).power_w

    def _loop(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            self.samples.append({"t": t, "w": self.read(), "phase": self.phase})
            self._stop.wait(max(0.0, self.interval_s - (time.time() - t)))

    def __enter__(self) -> PowerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def run_board_measurement(*, bitfile: Path, settings: Path, out_dir: Path, xbutil: str, device: str | None = None,
                          batch_size: int = 10000, duration_s: float = 20.0, idle_s: float = 5.0,
                          latency_runs: int = 20) -> dict[str, Any]:
    """Measure on the board (needs XRT, a U280, finn-plus-driver and PYNQ); writes measurement.json."""
    from finn_plus_driver import get_driver_class  # type: ignore[import-not-found]  # on the FPGA node only

    info = json.loads(settings.read_text())["driver_information"]
    info.setdefault("runtime_weight_dir", str(settings.parent / "runtime_weights"))
    kwargs = {**info, "batch_size": batch_size}
    if device is not None:
        from pynq import Device  # type: ignore[import-not-found]

        matches = [d for d in Device.devices if device in str(getattr(d, "name", "")) + str(getattr(d, "bdf", ""))]
        if matches:
            kwargs["device"] = matches[0]
    accel = get_driver_class(info["driver_type"])(str(bitfile), **kwargs)
    data: dict[str, Any] = {"bitfile": str(bitfile), "settings": str(settings), "device": device,
                            "batch_size": batch_size, "driver_type": info["driver_type"]}
    with PowerSampler(xbutil, device) as sampler:
        time.sleep(idle_s)
        sampler.phase = "load"
        runs: list[dict[str, Any]] = []
        start = time.time()
        while time.time() - start < duration_s or not runs:
            runs.append(accel.throughput_test())
        sampler.phase = "after"
    data["throughput_runs"] = runs
    data["power_samples"] = sampler.samples
    data["power_errors"] = sampler.errors[:5]
    write_atomic(out_dir / "report_throughput_test.json", json.dumps(runs[0], indent=2, default=float))
    accel.batch_size = 1
    data["latency_runs"] = [accel.throughput_test() for _ in range(latency_runs)]
    write_atomic(out_dir / "measurement.json", json.dumps(data, indent=2, default=float))
    return data
