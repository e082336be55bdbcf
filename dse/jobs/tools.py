"""What a job needs on its machine, checked before it starts: Vivado, Vitis, XRT, a U280, the driver.

Each check says exactly what is missing (the executable, the environment variable), so a job
that cannot run ends FAILED with a reason a user can act on, instead of failing deep inside FINN.
The environment is passed in (the job runner passes its own), nothing here reads os.environ.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

Which = Callable[..., "str | None"]


@dataclass(frozen=True, slots=True)
class ToolCheck:
    name: str  # what the user knows it as: "Vivado", "Vitis", "XRT"
    ok: bool
    detail: str  # where it was found, or what is missing


def _tool(name: str, exe: str, env_var: str, env: Mapping[str, str], which: Which) -> ToolCheck:
    """An AMD tool: its executable on PATH (or under $ENV_VAR/bin) and $ENV_VAR set (FINN reads it)."""
    path = env.get("PATH", "")
    found = which(exe, path=path)
    root = env.get(env_var)
    if found is None and root and (Path(root) / "bin" / exe).exists():
        found = str(Path(root) / "bin" / exe)
    missing = []
    if found is None:
        missing.append(f"`{exe}` not on PATH" + (f" nor in {env_var}/bin" if root else ""))
    if not root:
        missing.append(f"{env_var} not set")
    if missing:
        return ToolCheck(name, False, f"{name}: {' and '.join(missing)}")
    return ToolCheck(name, True, f"{name}: {found} ({env_var}={root})")


def build_tools(env: Mapping[str, str], which: Which = shutil.which) -> list[ToolCheck]:
    """What `finn build` of a Vitis (Alveo) design needs: Vivado, Vitis (v++) and XRT."""
    return [_tool("Vivado", "vivado", "XILINX_VIVADO", env, which),
            _tool("Vitis", "v++", "XILINX_VITIS", env, which),
            _tool("XRT", "xbutil", "XILINX_XRT", env, which)]


def missing_text(checks: list[ToolCheck]) -> str:
    return "; ".join(c.detail for c in checks if not c.ok)


def find_u280(xbutil: str, *, timeout_s: float = 60) -> ToolCheck:
    """Ask XRT for its devices (`xbutil examine -f JSON`) and look for a U280."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "examine.json"
        try:
            proc = subprocess.run([xbutil, "examine", "--format", "JSON", "--output", str(out), "--force"],
                                  capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as err:
            return ToolCheck("U280", False, f"U280: `xbutil examine` did not run ({err})")
        text = out.read_text() if out.exists() else ""
    if proc.returncode != 0 or not text:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return ToolCheck("U280", False, f"U280: `xbutil examine` failed ({first[0] if first else proc.returncode})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return ToolCheck("U280", False, "U280: `xbutil examine` wrote no JSON")
    devices = (data.get("system", {}).get("host", {}).get("devices") or [])
    u280 = [d for d in devices if "u280" in json.dumps(d).lower()]
    if not u280:
        return ToolCheck("U280", False, f"U280: XRT sees no U280 card ({len(devices)} device(s))")
    return ToolCheck("U280", True, f"U280: {u280[0].get('bdf', '?')}")


def measure_tools(env: Mapping[str, str], *, python_has: Callable[[str], bool],
                  which: Which = shutil.which, probe_device: bool = True) -> list[ToolCheck]:
    """What a board measurement needs: XRT, a U280 card, finn-plus's driver package and PYNQ."""
    xrt = _tool("XRT", "xbutil", "XILINX_XRT", env, which)
    checks = [xrt]
    if xrt.ok and probe_device:
        exe = which("xbutil", path=env.get("PATH", "")) or str(Path(env["XILINX_XRT"]) / "bin" / "xbutil")
        checks.append(find_u280(exe))
    elif not xrt.ok:
        checks.append(ToolCheck("U280", False, "U280: cannot look for one without XRT"))
    for module, package in (("finn_plus_driver", "finn-plus-driver"), ("pynq", "pynq")):
        ok = python_has(module)
        checks.append(ToolCheck(package, ok, f"{package}: {'installed' if ok else 'Python package not installed'}"))
    return checks
