"""The study file: what to search, how to train, which hardware to judge against."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from dse.errors import ConfigError
from estimators.devices import BOARDS
from search_spaces import Space, TFCSpace
from search_spaces.schema import Strict

# Objective name in the study file -> (trial attribute, direction).
OBJECTIVES: dict[str, tuple[str, str]] = {
    "accuracy": ("val_accuracy", "maximize"),
    "fps": ("fps", "maximize"),
    "latency_us": ("latency_us", "minimize"),
    "lut": ("lut", "minimize"),
    "bram18": ("bram18", "minimize"),
    "uram": ("uram", "minimize"),
    "dsp": ("dsp", "minimize"),
    "energy_uj": ("energy_uj", "minimize"),
}
ObjectiveName = Literal["accuracy", "fps", "latency_us", "lut", "bram18", "uram", "dsp", "energy_uj"]
SamplerName = Literal["tpe", "nsga2", "gp", "random"]
DatasetName = Literal["mnist", "fashion_mnist", "cifar10"]


class TrainingSpec(Strict):
    epochs: int = Field(default=3, ge=1, le=1000)
    batch_size: int = Field(default=128, ge=1, le=65536)
    lr: float = Field(default=0.01, gt=0, le=10)
    # Train on the first N training images only (quick studies); None = all 55k after the val split.
    train_subset: int | None = Field(default=None, ge=100)
    val_size: int = Field(default=5000, ge=100, le=30000)


class HardwareSpec(Strict):
    board: str = "U280"
    clock_ns: float = Field(default=5.0, gt=0, le=100)
    # FINN's SetFolding caps SIMD x weight bits at this (FINN default 36); raise it for faster designs.
    mvau_wwidth_max: int = Field(default=36, ge=1, le=8191)

    @field_validator("board")
    @classmethod
    def _known_board(cls, value: str) -> str:
        if value not in BOARDS:
            raise ValueError(f"unknown board {value!r}; allowed: {', '.join(sorted(BOARDS))}")
        return value


class LimitsSpec(Strict):
    """Hard limits. A design that breaks one is infeasible: never on the Pareto front, and the
    samplers see it as such. Hardware limits are checked by the estimators before any training;
    ``min_accuracy`` stops training early once it is out of reach."""

    # Fit the board with this share of every usable resource kept free (0.1 = use at most 90%).
    fit_margin: float = Field(default=0.0, ge=0, lt=1)
    min_accuracy: float | None = Field(default=None, gt=0, le=1)
    min_fps: float | None = Field(default=None, gt=0)
    max_latency_us: float | None = Field(default=None, gt=0)


class EvaluationSpec(Strict):
    # Estimate every design with the fast graph path first; stop designs that break a hardware limit.
    estimator_first: bool = True
    # Confirm trained designs with FINN's own estimate flow on the exported model (~1-3 s).
    finn_confirm: bool = True
    # Early stop: after an epoch, stop when accuracy + headroom x (epochs left / epochs) < min_accuracy.
    early_stop_headroom: float = Field(default=0.15, ge=0, le=1)
    # Export the trained model as QONNX (needed by `finn-dse export` and FINN confirmation).
    export_model: bool = True
    # Validation checks per epoch (early stopping decides at each; cheap for MLPs, ~15 s for CNV).
    checks_per_epoch: int = Field(default=1, ge=1, le=100)
    # front: the sampler proposes networks only; each is trained at most once and every design of
    # its exact hardware front (folding levels x memory styles x clocks) becomes a trial.
    # per_trial: the sampler also proposes the hardware (one folding per trial and training).
    hardware: Literal["front", "per_trial"] = "front"
    # front mode: skip (record, do not train) a network that cannot add hypervolume even at an
    # optimistic accuracy (README "Network-level studies"); the bound is a trained bigger network's
    # accuracy plus this headroom.
    defer: bool = True
    defer_headroom: float = Field(default=0.02, ge=0, le=1)


class StudySpec(Strict):  # noqa: D101 - fields documented in README "Study files"
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    dataset: DatasetName = "mnist"
    space: Space = TFCSpace()
    objectives: tuple[ObjectiveName, ...] = Field(default=("accuracy", "fps", "lut"), min_length=1)
    limits: LimitsSpec = LimitsSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    hardware: HardwareSpec = HardwareSpec()
    sampler: SamplerName = "tpe"
    n_trials: int = Field(default=40, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0)

    @field_validator("space", mode="before")
    @classmethod
    def _default_family(cls, value: Any) -> Any:
        if isinstance(value, dict) and "family" not in value:
            return {"family": "tfc", **value}
        return value

    @field_validator("objectives")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"objectives must not repeat, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _front_needs_solved_folding(self) -> StudySpec:
        if self.evaluation.hardware == "front" and self.space.folding.mode == "sampled":
            raise ValueError("space.folding.mode: sampled proposes PE/SIMD per trial; set evaluation.hardware: "
                             "per_trial to keep it, or use folding mode: solved (every folding level is swept)")
        return self

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o][1] for o in self.objectives]

    @property
    def objective_attrs(self) -> list[str]:
        return [OBJECTIVES[o][0] for o in self.objectives]

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '_', '.' and '-' only (it names a directory)")
        return value


def _format_error(err: ValidationError) -> str:
    def path(e: Any) -> tuple[Any, ...]:
        loc = tuple(e["loc"])
        # A discriminated union puts the family tag into the path: space.cnv.x -> space.x
        if len(loc) > 1 and loc[0] == "space" and loc[1] in ("tfc", "cnv", "mobilenet", "user"):
            loc = loc[:1] + loc[2:]
        return loc

    errors = err.errors()
    locs = [path(e) for e in errors]
    parts = []
    for e in errors:
        loc = path(e)
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            got = (e.get("input") or {}).get("family") if isinstance(e.get("input"), dict) else None
            parts.append(f"{'.'.join(map(str, loc))}.family: unknown model family {got!r}; allowed: tfc, cnv, mobilenet, user"
                         if got is not None else f"{'.'.join(map(str, loc))}.family: missing; allowed: tfc, cnv, mobilenet, user")
            continue
        # A bad list item also makes pydantic complain that the list is too short: say it once.
        if e["type"] == "too_short" and any(o[: len(loc)] == loc and o != loc for o in locs):
            continue
        where = ".".join(str(x) for x in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        shown = "" if e["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
        parts.append(f"{where}: {msg}{shown}")
    return "; ".join(parts)


def parse_spec(data: object, *, source: str = "study") -> StudySpec:
    """Validate already-parsed data; errors name the key, what is allowed and what was given."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return StudySpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format_error(err)}") from None


def load_spec(path: Path) -> StudySpec:
    """Read and validate a study file (YAML)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"study file not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"cannot read study file {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(err, 'problem', err)}") from None
    return parse_spec(data, source=str(path))
