"""The bundle's ``build.sh``: check what finn-plus's build needs, then ``finn build --batch``.

The script is plain bash so that it runs where only finn-plus is installed (no FINN-DSE). Its
checks mirror what finn-plus 1.6.1 reads (``finn/xsi``, ``interface_utils.set_synthesis_tools_paths``,
``util/vivado.py``): XILINX_VIVADO (with the version in its path), XILINX_VITIS, XILINX_HLS,
XILINX_XRT and the Vitis platform under PLATFORM_REPO_PATHS or /opt/xilinx/platforms. A missing
piece ends the script with one line naming it and what to set (exit 1); so does a finn build that
stops, its last error taken from the log, never a traceback on the terminal. ``--batch`` keeps
finn-plus's set-up wizard closed (without a terminal the wizard prints "Aborted!").
"""
from __future__ import annotations

import os
from pathlib import Path

from dse.artifacts import write_atomic

BUILD_SH = r"""#!/usr/bin/env bash
# Build this FINN-DSE bundle with finn-plus 1.6.1 (Vivado, Vitis, Vitis HLS, XRT, U280 platform).
#   ./build.sh [FINN BUILD OPTIONS...]   e.g. ./build.sh --skip-dep-update
#   ./build.sh --check                   only check the set-up
# It checks the set-up first, then runs `finn build --batch build.yaml model.onnx` here, with
# finn's output in finn_build.log. Anything missing ends it with one line saying what to set.
# FINN_DSE_SKIP_PRECHECK=1 skips the checks (finn-plus then reports what is missing).
set -u
cd "$(dirname "$0")" || exit 1
LOG="$PWD/finn_build.log"

fail() { echo "build.sh: $*" >&2; exit 1; }

# What is missing, in the order a user sets it up; the first one is reported with its remedy.
MISSING=()
FIRST=""
missing() { MISSING+=("$1"); [ -n "$FIRST" ] || FIRST="$2"; }

tool() {  # NAME VAR EXE REMEDY: $VAR set and $VAR/bin/EXE (or EXE on PATH) present
    local name="$1" var="$2" exe="$3" remedy="$4" root="${!2:-}"
    if [ -z "$root" ]; then
        missing "$name" "$name not set up: $var is not set; $remedy"
    elif [ ! -x "$root/bin/$exe" ] && ! command -v "$exe" >/dev/null 2>&1; then
        missing "$name" "$name not found: no $exe in $var/bin ($root/bin); $remedy"
    fi
}

precheck() {
    if ! command -v finn >/dev/null 2>&1; then
        missing "finn-plus" "finn-plus not installed: no \`finn\` command on PATH; install it (pip install finn-plus==1.6.1) or activate its Python environment"
    fi
    tool Vivado XILINX_VIVADO vivado "source Vivado's settings: source <Xilinx install>/Vivado/<version>/settings64.sh"
    if [ -n "${XILINX_VIVADO:-}" ] && ! [[ "$XILINX_VIVADO" =~ 20[0-9][0-9]\.[12] ]] \
            && ! [[ " ${MISSING[*]:-} " == *" Vivado "* ]]; then
        missing "Vivado" "Vivado version unknown: finn-plus reads it from XILINX_VIVADO ($XILINX_VIVADO), which must contain it (e.g. .../Vivado/2022.2); source that release's settings64.sh"
    fi
    tool Vitis XILINX_VITIS v++ "source Vitis's settings: source <Xilinx install>/Vitis/<version>/settings64.sh"
    tool "Vitis HLS" XILINX_HLS vitis_hls "source Vitis's settings (they set XILINX_HLS): source <Xilinx install>/Vitis/<version>/settings64.sh"
    tool XRT XILINX_XRT xbutil "source XRT's settings: source /opt/xilinx/xrt/setup.sh"
    local platform dirs d found=""
    platform="$(sed -n 's/^vitis_platform: *//p' build.yaml | tr -d "'\"")"
    if [ -n "$platform" ]; then
        dirs="${PLATFORM_REPO_PATHS:-}:/opt/xilinx/platforms"
        IFS=: read -r -a dirs <<< "$dirs"
        for d in "${dirs[@]}"; do
            if [ -n "$d" ] && [ -e "$d/$platform/$platform.xpfm" ]; then found="$d"; break; fi
        done
        if [ -z "$found" ]; then
            missing "Vitis platform" "Vitis platform $platform not found in PLATFORM_REPO_PATHS (${PLATFORM_REPO_PATHS:-not set}) nor /opt/xilinx/platforms; install AMD's $platform platform package and set PLATFORM_REPO_PATHS to the folder holding $platform/"
        fi
    fi
}

if [ "${FINN_DSE_SKIP_PRECHECK:-0}" != "1" ] || [ "${1:-}" = "--check" ]; then
    precheck
    if [ -n "$FIRST" ]; then
        also=""
        [ "${#MISSING[@]}" -gt 1 ] && also=" (also missing: $(IFS=,; echo "${MISSING[*]:1}" | sed 's/,/, /g'))"
        fail "$FIRST$also"
    fi
fi
if [ "${1:-}" = "--check" ]; then
    echo "build.sh: finn-plus, Vivado, Vitis, Vitis HLS, XRT and the Vitis platform are all found"
    exit 0
fi
command -v finn >/dev/null 2>&1 || fail "finn-plus not installed: no \`finn\` command on PATH; install it (pip install finn-plus==1.6.1) or activate its Python environment"

echo "build.sh: running finn build --batch${*:+ $*} build.yaml model.onnx in $PWD (log: $LOG)"
# A wide console keeps finn-plus's messages on one line each in the log.
COLUMNS=400 finn build --batch "$@" build.yaml model.onnx </dev/null >"$LOG" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    # The last error finn-plus printed: its "ERROR: ..." lines or a traceback's final line.
    reason="$(grep -E '^(ERROR: |([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(Error|Exception): )' "$LOG" | tail -n 1)"
    [ -n "$reason" ] || reason="$(grep -v '^[[:space:]]*$' "$LOG" | tail -n 1)"
    hint=""
    case "$reason" in
        *XILINX_VIVADO*) hint="source <Xilinx install>/Vivado/<version>/settings64.sh" ;;
        *XILINX_VITIS*|*XILINX_HLS*) hint="source <Xilinx install>/Vitis/<version>/settings64.sh" ;;
        *XILINX_XRT*) hint="source /opt/xilinx/xrt/setup.sh" ;;
        *PLATFORM_REPO_PATHS*) hint="set PLATFORM_REPO_PATHS to the folder holding the Vitis platform" ;;
    esac
    reason="${reason#ERROR: }"
    fail "finn build stopped (exit $rc): ${reason%.}${hint:+ ($hint)}; full log: $LOG"
fi
echo "build.sh: finn build finished; outputs in $PWD/$(sed -n 's/^output_dir: *//p' build.yaml | tr -d "'\"")"
"""


def write_build_script(out_dir: Path) -> Path:
    """Write ``build.sh`` (executable) into the bundle folder ``out_dir``."""
    path = write_atomic(Path(out_dir) / "build.sh", BUILD_SH)
    os.chmod(path, 0o755)
    return path


def build_instructions(vitis_platform: str | None) -> str:
    """The README section that says what to set up and how to build (Markdown)."""
    platform = vitis_platform or "the board's Vitis platform"
    return f"""## Build (finn-plus 1.6.1 with Vivado, Vitis, Vitis HLS and XRT, e.g. on a cluster node)
Set up once on the build machine:
1. finn-plus 1.6.1 in a Python 3.11+ environment (`pip install finn-plus==1.6.1`), so that the
   `finn` command is on PATH. finn-plus fetches its own dependencies (finn-hlslib, ...) on the
   first build (`finn deps update`, needs the internet); on an offline node fetch them elsewhere
   and pass `--skip-dep-update` (and `--dependency-path DIR`).
2. Vivado, Vitis and Vitis HLS of one release: `source <Xilinx install>/Vitis/<version>/settings64.sh`
   (sets XILINX_VITIS and XILINX_HLS) and `source <Xilinx install>/Vivado/<version>/settings64.sh`
   (XILINX_VIVADO; finn-plus reads the version from that path).
3. XRT: `source /opt/xilinx/xrt/setup.sh` (sets XILINX_XRT).
4. The Vitis platform `{platform}` in `/opt/xilinx/platforms`, or set
   PLATFORM_REPO_PATHS to the folder that holds it.

Then build:
```
./build.sh                    # or: ./build.sh --skip-dep-update
```
`build.sh` checks the set-up first (`./build.sh --check` only checks): anything missing ends it
with one line naming it and what to set. Then it runs `finn build --batch build.yaml model.onnx`
here (output in `finn_build.log`; a stop of finn's is one line too, the log has the rest). `--batch` matters: without it and without a terminal (a batch job), finn-plus
opens its set-up wizard and stops with "Aborted!". As a Slurm job, after the `source` lines
(sbatch passes the environment on): `sbatch --chdir "$PWD" --time 12:00:00 --wrap ./build.sh`.
"""
