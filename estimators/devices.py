"""FPGA boards as data: resources per SLR, shell deductions, usable fractions, and a fit check.

Figures for the Alveo U280 follow finn-plus 1.6.1 (`finn/util/platforms.py`, Alveo_NxU280_Platform,
"observed from Vivado") and its DEFAULT_RES_LIMITS. Adding a board is one entry in BOARDS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

RESOURCE_KINDS = ("lut", "ff", "bram18", "uram", "dsp")


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of each FPGA resource (absolute counts)."""

    lut: float = 0.0
    ff: float = 0.0
    bram18: float = 0.0
    uram: float = 0.0
    dsp: float = 0.0

    def __post_init__(self) -> None:
        for kind in RESOURCE_KINDS:
            if getattr(self, kind) < 0:
                raise ValueError(f"{kind} must be >= 0, got {getattr(self, kind)}")

    def __add__(self, other: Resources) -> Resources:
        return Resources(*(getattr(self, k) + getattr(other, k) for k in RESOURCE_KINDS))

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in RESOURCE_KINDS}


@dataclass(frozen=True, slots=True)
class Board:
    """A board: its FPGA part, per-SLR resources, what the shell takes, and usable fractions."""

    name: str
    part: str
    slrs: tuple[Resources, ...]
    shell: Resources
    shell_slr: int
    # Fractions of each resource a design may use and still close timing (finn-plus defaults).
    limits: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"lut": 0.7, "ff": 0.5, "bram18": 0.8, "uram": 0.8, "dsp": 0.8}
        )
    )
    vitis_platform: str | None = None

    @property
    def total(self) -> Resources:
        out = Resources()
        for slr in self.slrs:
            out = out + slr
        return out

    def usable(self) -> Resources:
        """Whole-device budget: capacity x limit, minus the shell."""
        total, limits = self.total, self.limits
        return Resources(
            *(max(0.0, getattr(total, k) * limits[k] - getattr(self.shell, k)) for k in RESOURCE_KINDS)
        )


BOARDS: Mapping[str, Board] = MappingProxyType(
    {
        "U280": Board(
            name="U280",
            part="xcu280-fsvh2892-2L-e",
            slrs=(
                Resources(lut=400_800, ff=801_600, bram18=1200, uram=320, dsp=2736),
                Resources(lut=382_080, ff=764_160, bram18=1152, uram=320, dsp=2880),
                Resources(lut=380_640, ff=761_280, bram18=1152, uram=320, dsp=2880),
            ),
            # HBM infrastructure on SLR0 (finn-plus guide_resources prefers HBM over DDR there).
            shell=Resources(lut=10_718, ff=21_793, bram18=8),
            shell_slr=0,
            vitis_platform="xilinx_u280_gen3x16_xdma_1_202211_1",
        ),
    }
)


def get_board(name: str) -> Board:
    """Look a board up by name; the error lists the known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise KeyError(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}") from None


@dataclass(frozen=True, slots=True)
class FitReport:
    """Whether a design fits a board, and by how much each resource is used."""

    board: str
    fits: bool
    utilization: Mapping[str, float]  # used / usable budget, per resource kind
    limiting: str  # the resource with the highest utilization

    @property
    def margin(self) -> float:
        """Highest utilization minus 1: <= 0 means it fits (Optuna's constraint convention)."""
        return self.utilization[self.limiting] - 1.0

    def describe(self) -> str:
        u = self.utilization[self.limiting]
        verdict = "fits" if self.fits else "does not fit"
        return f"{verdict} {self.board}: {self.limiting} at {u:.1%} of the usable budget"


def check_fit(used: Resources, board: Board, *, safety_margin: float = 0.0) -> FitReport:
    """Compare a design's total resources with the board's usable budget.

    ``safety_margin`` shrinks every budget by that fraction (0.1 keeps 10% in reserve).
    Per-SLR placement is not modelled here: the budget is the whole device.
    """
    if not 0.0 <= safety_margin < 1.0:
        raise ValueError(f"safety_margin must be in [0, 1), got {safety_margin}")
    budget = board.usable()
    util: dict[str, float] = {}
    for kind in RESOURCE_KINDS:
        cap = getattr(budget, kind) * (1.0 - safety_margin)
        need = getattr(used, kind)
        util[kind] = (need / cap) if cap > 0 else (0.0 if need == 0 else float("inf"))
    limiting = max(util, key=lambda k: util[k])
    return FitReport(board.name, util[limiting] <= 1.0, MappingProxyType(util), limiting)
