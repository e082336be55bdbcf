"""The study file: what to search, how to train, which hardware to judge against."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from dse.errors import ConfigError
from estimators.devices import BOARDS
from search_spaces.schema import Strict
from search_spaces.tfc import TFCSpace


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


class StudySpec(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    dataset: Literal["mnist"] = "mnist"
    space: TFCSpace = TFCSpace()
    training: TrainingSpec = TrainingSpec()
    hardware: HardwareSpec = HardwareSpec()
    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    n_trials: int = Field(default=40, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '_', '.' and '-' only (it names a directory)")
        return value


def _format_error(err: ValidationError) -> str:
    errors = err.errors()
    locs = [tuple(e["loc"]) for e in errors]
    parts = []
    for e in errors:
        loc = tuple(e["loc"])
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
