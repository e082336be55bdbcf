"""What every family's search space shares: bit widths, pruning, folding, clock.

A space is data (validated by pydantic, frozen) plus ``suggest(trial)``, which asks an Optuna
trial for one :class:`DesignPoint`. Parameter names are stable, so studies can be resumed and
compared: ``weight_bits``/``act_bits`` (or ``weight_bits_<i>``/``act_bits_<i>`` per layer),
``prune_ratio`` (or ``prune_ratio_<i>``), ``target_fps`` or ``budget`` (solved folding),
``pe_<i>``/``simd_<i>`` (sampled folding), ``ram_style``, ``res_type``, ``clock_ns``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from search_spaces.schema import FloatRange, Strict, UnitRange, distributions_for, suggest

Bits = Literal[1, 2, 4, 8]
RamStyle = Literal["auto", "block", "distributed", "ultra"]
ResType = Literal["auto", "lut", "dsp"]


@dataclass(frozen=True, slots=True)
class FoldingPoint:
    """How the design is folded: solved by the estimators' solver, or sampled per layer."""

    mode: Literal["solved", "sampled"]
    target_fps: float | None = None  # solved: cheapest folding reaching this throughput
    budget: float | None = None  # solved: fastest folding within this share of the usable device
    # sampled: per weight layer, a position in [0, 1] along the layer's valid PE (SIMD) divisors
    pe: tuple[float, ...] = ()
    simd: tuple[float, ...] = ()
    ram_style: str = "auto"  # "auto": the solver picks per layer
    res_type: str = "auto"


@dataclass(frozen=True, slots=True)
class DesignPoint:
    """One design proposed by the sampler, before pruning is applied.

    ``widths`` are the prunable layers' widths of the parent network; ``weight_bits`` has one
    entry per weight layer (classifier included), ``act_bits`` one per activated layer, and
    ``prune_ratios`` one per prunable layer.
    """

    family: str
    widths: tuple[int, ...]
    weight_bits: tuple[int, ...]
    act_bits: tuple[int, ...]
    prune_ratios: tuple[float, ...]
    folding: FoldingPoint
    clock_ns: float
    extra: tuple[tuple[str, Any], ...] = field(default=())  # family-specific fixed settings

    @property
    def pruned(self) -> bool:
        return any(r > 0 for r in self.prune_ratios)

    @property
    def uniform_bits(self) -> tuple[int, int] | None:
        """(w, a) when every layer has the same bits, else None."""
        if len(set(self.weight_bits)) == 1 and len(set(self.act_bits)) <= 1:
            return self.weight_bits[0], (self.act_bits[0] if self.act_bits else self.weight_bits[0])
        return None

    def label(self) -> str:
        u = self.uniform_bits
        bits = f"w{u[0]}a{u[1]}" if u else "w" + "/".join(map(str, self.weight_bits)) + "a" + "/".join(
            map(str, self.act_bits))
        prune = f" pruned {max(self.prune_ratios):.0%}" if self.pruned else ""
        shape = "-".join(map(str, self.widths)) or str(dict(self.extra).get("model", ""))
        return f"{self.family} {shape} {bits}{prune}"


class PruningSpace(Strict):
    """Structured pruning of a trained parent network (torch-pruning), then QAT fine-tuning."""

    ratio: tuple[float, ...] | UnitRange = (0.0,)
    per_layer: bool = False
    importance: Literal["magnitude", "taylor"] = "magnitude"
    multiple: int = Field(default=4, ge=1, le=64)  # kept widths rounded to a multiple of this
    finetune_epochs: int = Field(default=1, ge=0, le=1000)

    @field_validator("ratio")
    @classmethod
    def _ratios(cls, value: tuple[float, ...] | UnitRange) -> tuple[float, ...] | UnitRange:
        if isinstance(value, UnitRange):
            if value.high >= 1:
                raise ValueError("ratio high must be < 1 (1 would remove every channel)")
            return value
        if not value:
            raise ValueError("give at least one ratio")
        bad = [r for r in value if not 0 <= r < 1]
        if bad:
            raise ValueError(f"ratios must be in [0, 1), got {bad}")
        return value

    @property
    def enabled(self) -> bool:
        return isinstance(self.ratio, UnitRange) or any(r > 0 for r in self.ratio)


class FoldingSpace(Strict):
    """``solved``: the sampler proposes a throughput target (``objective: target_fps``) or a share
    of the device (``objective: budget``) and the estimators' solver picks PE/SIMD and memory
    styles. ``sampled``: the sampler proposes PE and SIMD per layer among the divisors valid after
    pruning."""

    mode: Literal["solved", "sampled"] = "solved"
    objective: Literal["target_fps", "budget"] = "target_fps"
    target_fps: FloatRange = FloatRange(low=1e4, high=2e6)
    budget: UnitRange = UnitRange(low=0.02, high=1.0)
    ram_style: tuple[RamStyle, ...] = Field(default=("auto",), min_length=1)
    res_type: tuple[ResType, ...] = Field(default=("auto",), min_length=1)


class SpaceBase(Strict):
    """Fields shared by every family. Lists are choices; a single value fixes that parameter."""

    weight_bits: tuple[Bits, ...] = Field(default=(1, 2, 4), min_length=1)
    act_bits: tuple[Bits, ...] = Field(default=(1, 2, 4), min_length=1)
    per_layer_bits: bool = False
    pruning: PruningSpace = PruningSpace()
    folding: FoldingSpace = FoldingSpace()
    clock_ns: tuple[float, ...] | None = None  # choices; None: the study's hardware.clock_ns

    @model_validator(mode="before")
    @classmethod
    def _legacy_target_fps(cls, data: Any) -> Any:
        # Early study files had target_fps at the top of the space.
        if isinstance(data, dict) and "target_fps" in data:
            data = dict(data)
            folding = dict(data.get("folding") or {})
            if "target_fps" in folding:
                raise ValueError("target_fps is given twice (space.target_fps and space.folding.target_fps)")
            folding["target_fps"] = data.pop("target_fps")
            data["folding"] = folding
        return data

    @field_validator("clock_ns")
    @classmethod
    def _clocks(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and (not value or any(not 0.5 <= c <= 100 for c in value)):
            raise ValueError(f"clock periods must be between 0.5 and 100 ns, got {list(value)}")
        return value

    # --- per family -------------------------------------------------------------------------
    def suggest_widths(self, trial: Any) -> tuple[int, ...]:
        """The parent network's prunable widths."""
        raise NotImplementedError

    def n_weight_layers(self, widths: tuple[int, ...]) -> int:
        raise NotImplementedError

    def extra(self) -> tuple[tuple[str, Any], ...]:
        return ()

    def family_choices(self) -> dict[str, Any]:
        return {}

    # --- shared -------------------------------------------------------------------------------
    def to_distributions(self) -> dict[str, Any]:
        """Optuna distributions of the global (not per-layer) parameters."""
        choices = dict(self.family_choices())
        if not self.per_layer_bits:
            choices.update(weight_bits=self.weight_bits, act_bits=self.act_bits)
        if self.pruning.enabled and not self.pruning.per_layer:
            choices["prune_ratio"] = self.pruning.ratio
        f = self.folding
        if f.mode == "solved":
            choices[f.objective] = f.target_fps if f.objective == "target_fps" else f.budget
        for name in ("ram_style", "res_type"):
            if len(getattr(f, name)) > 1:
                choices[name] = getattr(f, name)
        if self.clock_ns is not None and len(self.clock_ns) > 1:
            choices["clock_ns"] = self.clock_ns
        return distributions_for(choices)

    def suggest(self, trial: Any, *, clock_ns: float = 5.0, hardware: bool = True) -> DesignPoint:
        """Ask an Optuna trial for one design point.

        ``hardware=False``: the network only (widths, bits, pruning); the folding, memory styles
        and clock are left at their first choice, to be swept per network (dse.networks).
        """
        widths = self.suggest_widths(trial)
        n_w = self.n_weight_layers(widths)
        if self.per_layer_bits:
            wb = tuple(int(suggest(trial, f"weight_bits_{i}", self.weight_bits)) for i in range(n_w))
            ab = tuple(int(suggest(trial, f"act_bits_{i}", self.act_bits)) for i in range(n_w - 1))
        else:
            w, a = int(suggest(trial, "weight_bits", self.weight_bits)), int(suggest(trial, "act_bits", self.act_bits))
            wb, ab = (w,) * n_w, (a,) * (n_w - 1)
        p = self.pruning
        if not p.enabled:
            ratios: tuple[float, ...] = (0.0,) * len(widths)
        elif p.per_layer:
            ratios = tuple(float(suggest(trial, f"prune_ratio_{i}", p.ratio)) for i in range(len(widths)))
        else:
            ratios = (float(suggest(trial, "prune_ratio", p.ratio)),) * len(widths)
        f = self.folding
        if not hardware:
            return DesignPoint(family=self.family_name(), widths=widths, weight_bits=wb, act_bits=ab,
                               prune_ratios=ratios, folding=FoldingPoint(mode=f.mode), clock_ns=clock_ns,
                               extra=self.extra())
        ram_style = str(suggest(trial, "ram_style", f.ram_style)) if len(f.ram_style) > 1 else f.ram_style[0]
        res_type = str(suggest(trial, "res_type", f.res_type)) if len(f.res_type) > 1 else f.res_type[0]
        if f.mode == "solved":
            value = float(suggest(trial, f.objective, f.target_fps if f.objective == "target_fps" else f.budget))
            folding = FoldingPoint(mode="solved", target_fps=value if f.objective == "target_fps" else None,
                                   budget=value if f.objective == "budget" else None,
                                   ram_style=ram_style, res_type=res_type)
        else:
            unit = UnitRange(low=0.0, high=1.0)
            folding = FoldingPoint(mode="sampled", pe=tuple(float(suggest(trial, f"pe_{i}", unit)) for i in range(n_w)),
                                   simd=tuple(float(suggest(trial, f"simd_{i}", unit)) for i in range(n_w)),
                                   ram_style=ram_style, res_type=res_type)
        if self.clock_ns is None:
            clock = clock_ns
        else:
            clock = float(suggest(trial, "clock_ns", self.clock_ns)) if len(self.clock_ns) > 1 else self.clock_ns[0]
        return DesignPoint(family=self.family_name(), widths=widths, weight_bits=wb, act_bits=ab,
                           prune_ratios=ratios, folding=folding, clock_ns=clock, extra=self.extra())

    def family_name(self) -> str:
        return str(getattr(self, "family"))
