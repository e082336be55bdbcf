"""FPGA boards as data: resources per SLR, shell deductions, usable fractions, and fit checks.

Figures follow finn-plus 1.6.1: per-SLR resources from `finn/util/platforms.py` (the Alveo_Nx*_Platform
classes, "observed from Vivado" where finn-plus has such figures), DEFAULT_RES_LIMITS and
DEFAULT_AVG_CONSTRAINTS from the same file, parts and Vitis platforms from `finn/util/basic.py`
(alveo_part_map, alveo_default_platform). Adding a board is one entry in BOARDS.

Two checks: `check_fit` compares a design's total with the whole device; `place_in_slrs` assigns a
dataflow chain to SLRs in order and checks each SLR, as finn-plus's SLR partitioner does.
`check_fit(..., layers=...)` does both, with the same safety margin, for one verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

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


# Memory-controller costs that finn-plus's Platform.guide_resources subtracts from an SLR
# (HBM_RESOURCE_REQUIREMENTS / DDR_RESOURCE_REQUIREMENTS in platforms.py).
HBM_SHELL = Resources(lut=10_718, ff=21_793, bram18=8)
DDR_SHELL = Resources(lut=33_256, ff=44_889, bram18=199, dsp=3)


def _default_limits() -> Mapping[str, float]:
    return MappingProxyType({"lut": 0.7, "ff": 0.5, "bram18": 0.8, "uram": 0.8, "dsp": 0.8})


@dataclass(frozen=True, slots=True)
class Board:
    """A board: its FPGA part, per-SLR resources, what the shell takes, and usable fractions."""

    name: str
    part: str
    slrs: tuple[Resources, ...]
    # One memory controller, the one FINN's Vitis link connects the DMAs to (see each entry).
    # finn-plus's guide_resources also charges controllers in further SLRs (e.g. U280 DDR in SLR1,
    # U250 DDR in SLR1-3); Vitis instantiates those only when something is linked to them, so they
    # are left out here, which also keeps the U280 whole-device budget the callers already use.
    shell: Resources
    shell_slr: int
    # Fractions of each resource a design may use and still close timing (finn-plus defaults).
    limits: Mapping[str, float] = field(default_factory=_default_limits)
    vitis_platform: str | None = None
    # finn-plus DEFAULT_AVG_CONSTRAINTS ((2, 3, 4), 0.7): per SLR, the mean utilization of these
    # kinds (over capacity minus shell, without the limits above) must stay <= the bound.
    avg_limits: tuple[tuple[tuple[str, ...], float], ...] = ((("bram18", "uram", "dsp"), 0.7),)

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

    def slr_shell(self, slr: int) -> Resources:
        return self.shell if slr == self.shell_slr else Resources()

    def slr_usable(self, slr: int) -> Resources:
        """One SLR's budget: its capacity x limit, minus the shell if it sits there.

        Same convention as `usable` (finn-plus applies the limit after the deduction, which is
        looser by shell x (1 - limit), e.g. 3.2k LUT for HBM); the SLR budgets sum to `usable()`.
        """
        cap, shell = self.slrs[slr], self.slr_shell(slr)
        return Resources(
            *(max(0.0, getattr(cap, k) * self.limits[k] - getattr(shell, k)) for k in RESOURCE_KINDS)
        )

    def slr_guide(self, slr: int) -> Resources:
        """Capacity minus shell: finn-plus's guide_resources row, the average constraint's denominator."""
        cap, shell = self.slrs[slr], self.slr_shell(slr)
        return Resources(*(max(0.0, getattr(cap, k) - getattr(shell, k)) for k in RESOURCE_KINDS))


def _slr(lut: int, ff: int, bram18: int, uram: int, dsp: int) -> Resources:
    # Same column order as finn-plus's compute_resources rows: [LUT, FF, BRAM_18K, URAM, DSP].
    return Resources(lut=lut, ff=ff, bram18=bram18, uram=uram, dsp=dsp)


# Shell choice: guide_resources charges HBM where an SLR has HBM ("if we have a choice between DDR
# and HBM, use HBM"), else DDR. FINN's Vitis linking (VitisLinkingConfiguration) connects DMAs to
# HBM[0] on U50/U280/U55C and to DDR[0] on U250, so each board is charged that one controller.
# U200 is left out: finn-plus defines its resources but its Vitis linking rejects the board.
BOARDS: Mapping[str, Board] = MappingProxyType(
    {
        "U280": Board(
            name="U280",
            part="xcu280-fsvh2892-2L-e",
            slrs=(
                _slr(400_800, 801_600, 1200, 320, 2736),
                _slr(382_080, 764_160, 1152, 320, 2880),
                _slr(380_640, 761_280, 1152, 320, 2880),
            ),
            shell=HBM_SHELL,  # hbm_slr=0 (SLR0 also has DDR; HBM wins there), FINN links HBM[0]
            shell_slr=0,
            vitis_platform="xilinx_u280_gen3x16_xdma_1_202211_1",
        ),
        "U250": Board(
            name="U250",
            part="xcu250-figd2104-2L-e",
            slrs=tuple(_slr(375_000, 750_000, 1152, 320, 2880) for _ in range(4)),
            shell=DDR_SHELL,  # no HBM; ddr_slr=[0..3], FINN links unplaced DMAs to DDR[0] in SLR0
            shell_slr=0,
            vitis_platform="xilinx_u250_gen3x16_xdma_4_1_202210_1",
        ),
        "U55C": Board(
            name="U55C",
            part="xcu55c-fsvh2892-2L-e",
            slrs=(  # finn-plus takes these from UG1120 (no Vivado-observed figures for U55C)
                _slr(386_000, 773_000, 1200, 320, 2664),
                _slr(364_000, 729_000, 1152, 320, 2784),
                _slr(381_000, 763_000, 1200, 320, 2856),
            ),
            shell=HBM_SHELL,  # HBM only (ddr_slr=[]), hbm_slr=0, FINN links HBM[0]
            shell_slr=0,
            vitis_platform="xilinx_u55c_gen3x16_xdma_3_202210_1",
        ),
        "U50": Board(
            name="U50",
            part="xcu50-fsvh2104-2L-e",
            slrs=(
                _slr(374_400, 748_800, 1128, 304, 2592),
                _slr(368_160, 736_320, 1128, 304, 2760),
            ),
            shell=HBM_SHELL,  # HBM only (ddr_slr=[]), hbm_slr=0, FINN links HBM[0]
            shell_slr=0,
            vitis_platform="xilinx_u50_gen3x16_xdma_5_202210_1",
        ),
    }
)


def get_board(name: str) -> Board:
    """Look a board up by name; the error lists the known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise KeyError(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}") from None


def _check_margin(safety_margin: float) -> None:
    if not 0.0 <= safety_margin < 1.0:
        raise ValueError(f"safety_margin must be in [0, 1), got {safety_margin}")


def _ratio(need: float, cap: float) -> float:
    return (need / cap) if cap > 0 else (0.0 if need == 0 else float("inf"))


@dataclass(frozen=True, slots=True)
class SLRPlacement:
    """A dataflow chain cut into contiguous SLR segments, and whether every SLR stays in budget."""

    board: str
    slr_of: tuple[int, ...]  # SLR index per layer, non-decreasing
    used: tuple[Resources, ...]  # per SLR
    utilization: tuple[Mapping[str, float], ...]  # per SLR: used / (SLR budget x (1 - margin))
    avg_utilization: tuple[float, ...]  # per SLR: worst mean-constraint value / its bound
    fits: bool
    problem: str | None = None  # why not, for the first layer that broke a budget
    safety_margin: float = 0.0  # the margin every SLR budget was shrunk by

    @property
    def margin(self) -> float:
        """Worst utilization over SLRs, kinds and mean constraints, minus 1 (<= 0: fits)."""
        worst = max((max(u.values()) for u in self.utilization), default=0.0)
        return max(worst, max(self.avg_utilization, default=0.0)) - 1.0

    def peak(self, slr: int) -> float:
        return max(max(self.utilization[slr].values()), self.avg_utilization[slr])

    @property
    def limiting_slr(self) -> int:
        """The fullest SLR: the one that limits the design."""
        return max(range(len(self.used)), key=self.peak) if self.used else 0

    def describe(self) -> str:
        if not self.fits:
            return f"does not fit {self.board}: {self.problem}"
        n = len(set(self.slr_of)) or 1
        slrs = ", ".join(f"SLR{i} {self.peak(i):.0%}" for i in range(len(self.used)))
        budget = (f" of each SLR's budget less the {self.safety_margin:.0%} margin" if self.safety_margin
                  else " of each SLR's budget")
        return (f"fits {self.board} in {n} SLR{'s' if n > 1 else ''} ({slrs}{budget}; "
                f"SLR{self.limiting_slr} limits)")


def place_in_slrs(
    layer_resources: Sequence[Resources],
    board: Board,
    *,
    safety_margin: float = 0.0,
    names: Sequence[str] | None = None,
) -> SLRPlacement:
    """Assign a dataflow chain's layers, in order, to contiguous SLR segments (next-fit greedy).

    Layers go into the current SLR (starting at SLR0) while they fit its budget
    (`Board.slr_usable` x (1 - safety_margin) for each kind, and finn-plus's mean constraint on
    BRAM/URAM/DSP, its bound also x (1 - safety_margin)). A layer that does not fit moves on to
    the first later SLR it fits (SLRs are never revisited: a chain crosses each boundary once).
    If none takes it, it stays in the current SLR, overflowing it, and the placement fails.
    Widening budgets never moves a layer of a chain that fits to a later SLR, so `fits` is
    monotone in safety_margin.
    """
    _check_margin(safety_margin)
    layers = tuple(layer_resources)
    labels = tuple(names) if names is not None else tuple(f"#{i}" for i in range(len(layers)))
    if len(labels) != len(layers):
        raise ValueError(f"{len(labels)} names for {len(layers)} layers")
    keep = 1.0 - safety_margin
    nslr = len(board.slrs)
    budgets = [board.slr_usable(i) for i in range(nslr)]
    guides = [board.slr_guide(i) for i in range(nslr)]

    def util(used: Resources, slr: int) -> dict[str, float]:
        return {k: _ratio(getattr(used, k), getattr(budgets[slr], k) * keep) for k in RESOURCE_KINDS}

    def avg_util(used: Resources, slr: int) -> float:
        worst = 0.0
        for kinds, bound in board.avg_limits:
            # finn-plus skips zero-capacity kinds in the sum but still divides by len(kinds).
            mean = sum(getattr(used, k) / getattr(guides[slr], k) for k in kinds
                       if getattr(guides[slr], k) > 0) / len(kinds)
            worst = max(worst, mean / (bound * keep))
        return worst

    def fits_in(used: Resources, slr: int) -> bool:
        return max(util(used, slr).values()) <= 1.0 and avg_util(used, slr) <= 1.0

    used = [Resources() for _ in range(nslr)]
    slr_of: list[int] = []
    problem: str | None = None
    problem_slr = -1
    cur = 0
    for layer, label in zip(layers, labels):
        if not fits_in(used[cur] + layer, cur):
            nxt = next((s for s in range(cur + 1, nslr) if fits_in(layer, s)), None)
            if nxt is not None:
                cur = nxt
            elif problem is None:
                problem_slr = cur
                problem = _explain(label, layer, used[cur], cur, budgets, guides, board, keep)
        used[cur] = used[cur] + layer
        slr_of.append(cur)

    utils = tuple(MappingProxyType(util(used[s], s)) for s in range(nslr))
    avgs = tuple(avg_util(used[s], s) for s in range(nslr))
    if problem is not None:  # say how full the other SLRs are, as a hint where room is left
        peaks = [max(max(utils[s].values()), avgs[s]) for s in range(nslr)]
        others = ", ".join(f"SLR{s} {peaks[s]:.0%}" for s in range(nslr) if s != problem_slr)
        problem = f"{problem} ({others})" if others else problem
    return SLRPlacement(board.name, tuple(slr_of), tuple(used), utils, avgs, problem is None, problem, safety_margin)


def _explain(label: str, layer: Resources, used: Resources, slr: int, budgets: list[Resources],
             guides: list[Resources], board: Board, keep: float) -> str:
    """Say which budget of which SLR the layer breaks (the first kind that overflows, else the mean)."""
    for k in RESOURCE_KINDS:
        left = getattr(budgets[slr], k) * keep - getattr(used, k)
        need = getattr(layer, k)
        if need > left:
            most = max(getattr(b, k) for b in budgets) * keep
            alone = f", and no SLR has more than {most:,.0f}" if need > most else ""
            return (f"layer {label!r} needs {k} {need:,.0f} but SLR{slr} has {max(left, 0.0):,.0f} "
                    f"left{alone}")
    after = used + layer
    for kinds, bound in board.avg_limits:
        g = guides[slr]
        mean = sum(getattr(after, k) / getattr(g, k) for k in kinds if getattr(g, k) > 0) / len(kinds)
        if mean > bound * keep:
            return (f"layer {label!r} raises the mean {'/'.join(kinds)} utilization of SLR{slr} "
                    f"to {mean:.0%}, above {bound * keep:.0%}")
    return f"layer {label!r} does not fit SLR{slr}"  # unreachable: fits_in failed on one of the above


@dataclass(frozen=True, slots=True)
class FitReport:
    """Whether a design fits a board, and by how much each resource is used."""

    board: str
    fits: bool
    utilization: Mapping[str, float]  # used / usable budget, per resource kind
    limiting: str  # the resource with the highest utilization
    # Optional per-SLR verdict (see place_in_slrs). Given to check_fit as layers, `fits` and
    # `margin` need both the whole device and every SLR within the (margin-reduced) budget.
    slr_placement: SLRPlacement | None = None

    @property
    def margin(self) -> float:
        """Highest utilization minus 1: <= 0 means it fits (Optuna's constraint convention)."""
        device = self.utilization[self.limiting] - 1.0
        return device if self.slr_placement is None else max(device, self.slr_placement.margin)

    @property
    def reason(self) -> str | None:
        """Why it does not fit, naming the resource and, when an SLR limits, the SLR (None: fits)."""
        if self.fits:
            return None
        u = self.utilization[self.limiting]
        if u > 1.0 or self.slr_placement is None or self.slr_placement.fits:
            return f"does not fit {self.board}: {self.limiting} at {u:.0%} of the usable budget"
        return self.slr_placement.describe()

    def describe(self) -> str:
        if not self.fits:
            return str(self.reason)
        u = self.utilization[self.limiting]
        out = f"fits {self.board}: {self.limiting} at {u:.1%} of the usable budget"
        if self.slr_placement is not None:
            out += f"; per SLR: {self.slr_placement.describe()}"
        return out


def check_fit(used: Resources, board: Board, *, safety_margin: float = 0.0,
              layers: Sequence[Resources] | None = None, names: Sequence[str] | None = None) -> FitReport:
    """Compare a design's total resources with the board's usable budget.

    ``safety_margin`` shrinks every budget by that fraction (0.1 keeps 10% in reserve).
    Without ``layers`` the budget is the whole device. With the dataflow chain's per-layer
    resources (in order), the chain is also placed in SLRs (`place_in_slrs`, same margin) and
    the design fits only if the whole device and every SLR stay within budget: one SLR at 98%
    of its raw budget will not close timing, however empty the others are.
    """
    _check_margin(safety_margin)
    budget = board.usable()
    util: dict[str, float] = {}
    for kind in RESOURCE_KINDS:
        cap = getattr(budget, kind) * (1.0 - safety_margin)
        need = getattr(used, kind)
        util[kind] = _ratio(need, cap)
    limiting = max(util, key=lambda k: util[k])
    placement = None if layers is None else place_in_slrs(layers, board, safety_margin=safety_margin, names=names)
    fits = util[limiting] <= 1.0 and (placement is None or placement.fits)
    return FitReport(board.name, fits, MappingProxyType(util), limiting, placement)
