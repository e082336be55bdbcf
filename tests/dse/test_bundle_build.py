"""The exported bundle's build.sh, run here as a user would (no Vivado, Vitis or XRT on this
machine): it ends with one line naming what is missing and a non-zero exit, never a traceback
nor finn-plus's set-up wizard. With its check skipped, the real `finn build --batch` is what
stops (on XILINX_VIVADO), and the wrapper turns that into one line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import finn_dse

VENV_BIN = str(Path(sys.executable).parent)  # holds the real `finn` of finn-plus 1.6.1
PLATFORM = "xilinx_u280_gen3x16_xdma_1_202211_1"


@pytest.fixture(scope="module")
def bundle(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dse.storage.database import load_study

    front = sorted(t.number for t in load_study(smoke_workdir).best_trials)
    assert front, "the smoke study has no feasible Pareto trial"
    out = tmp_path_factory.mktemp("bundle") / "b"
    finn_dse("export", "--workdir", str(smoke_workdir), "--trial", str(front[0]), "--out", str(out))
    return out


def _env(tmp: Path, path: str, **extra: str) -> dict[str, str]:
    """This process's environment without any AMD tool settings (HOME apart, so finn-plus
    reads and writes no settings of this machine's user)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("XILINX_") and k not in ("PLATFORM_REPO_PATHS", "FINN_DSE_SKIP_PRECHECK")}
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {**env, "PATH": path, "HOME": str(home), **extra}


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # From another folder: build.sh works in its own folder whatever the caller's is.
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env,
                          cwd=script.parent.parent, stdin=subprocess.DEVNULL, timeout=600)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "Aborted!" not in proc.stdout + proc.stderr
    return lines[0]


def test_bundle_has_an_executable_build_script_and_readme_steps(bundle: Path) -> None:
    script = bundle / "build.sh"
    assert script.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    readme = (bundle / "README.md").read_text()
    for text in ("./build.sh", "finn build --batch build.yaml model.onnx", "XILINX_VIVADO", "XILINX_XRT",
                 "PLATFORM_REPO_PATHS", PLATFORM, "settings64.sh", "--skip-dep-update", "sbatch"):
        assert text in readme, text
    assert "./build.sh" in (bundle / "build.yaml").read_text()


def test_precheck_names_missing_vivado(bundle: Path, tmp_path: Path) -> None:
    proc = _run(bundle / "build.sh", _env(tmp_path, f"{VENV_BIN}:/usr/bin:/bin"))
    assert proc.returncode == 1 and proc.stdout == ""
    line = _one_line(proc)
    assert line.startswith("build.sh: Vivado not set up: XILINX_VIVADO is not set; source"), line
    assert "settings64.sh" in line and "also missing: Vitis, Vitis HLS, XRT, Vitis platform" in line
    assert not (bundle / "finn_build.log").exists()  # finn was not started


def test_precheck_names_missing_finn_plus(bundle: Path, tmp_path: Path) -> None:
    proc = _run(bundle / "build.sh", _env(tmp_path, "/usr/bin:/bin"))
    assert proc.returncode == 1
    assert _one_line(proc).startswith("build.sh: finn-plus not installed: no `finn` command on PATH")


def _tool_tree(root: Path, *, platform: bool) -> dict[str, str]:
    """A directory layout like an AMD install's (executables that do nothing): what the check looks at."""
    env = {}
    for var, sub, exe in (("XILINX_VIVADO", "Vivado/2022.2", "vivado"), ("XILINX_VITIS", "Vitis/2022.2", "v++"),
                          ("XILINX_HLS", "Vitis_HLS/2022.2", "vitis_hls"), ("XILINX_XRT", "xrt", "xbutil")):
        (root / sub / "bin").mkdir(parents=True)
        (root / sub / "bin" / exe).write_text("#!/bin/sh\nexit 0\n")
        (root / sub / "bin" / exe).chmod(0o755)
        env[var] = str(root / sub)
    plat = root / "platforms"
    if platform:
        (plat / PLATFORM).mkdir(parents=True)
        (plat / PLATFORM / f"{PLATFORM}.xpfm").write_text("")
    env["PLATFORM_REPO_PATHS"] = str(plat)
    return env


def test_precheck_names_missing_platform_then_passes(bundle: Path, tmp_path: Path) -> None:
    path = f"{VENV_BIN}:/usr/bin:/bin"
    proc = _run(bundle / "build.sh", _env(tmp_path, path, **_tool_tree(tmp_path / "a", platform=False)), "--check")
    assert proc.returncode == 1
    line = _one_line(proc)
    assert line.startswith(f"build.sh: Vitis platform {PLATFORM} not found in PLATFORM_REPO_PATHS"), line
    assert "also missing" not in line
    proc = _run(bundle / "build.sh", _env(tmp_path, path, **_tool_tree(tmp_path / "b", platform=True)), "--check")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "all found" in proc.stdout


def test_real_finn_build_batch_stop_is_one_line(bundle: Path, tmp_path: Path) -> None:
    """Check skipped: finn-plus 1.6.1's own `finn build --batch` stops on XILINX_VIVADO."""
    work = tmp_path / "bundle"
    shutil.copytree(bundle, work)
    proc = _run(work / "build.sh", _env(tmp_path, f"{VENV_BIN}:/usr/bin:/bin", FINN_DSE_SKIP_PRECHECK="1"))
    assert proc.returncode != 0
    line = _one_line(proc)
    assert line.startswith("build.sh: finn build stopped (exit 1): OSError: XILINX_VIVADO environment variable "
                           "not set"), line
    assert "Vivado/<version>/settings64.sh" in line and str(work / "finn_build.log") in line
    assert "running finn build --batch build.yaml model.onnx" in proc.stdout
    log = (work / "finn_build.log").read_text()
    assert "Starting FINN build with config build.yaml and model model.onnx" in log  # the real finn ran
    assert "Traceback" in log and "XILINX_VIVADO environment variable not set" in log
