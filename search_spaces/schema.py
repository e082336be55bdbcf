"""Building blocks of a search-space file. Unknown keys are rejected, values are frozen."""
from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _leaf_types(annotation: Any) -> set[Any]:
    """The scalar types an annotation admits (through Optional, unions, tuples, Literal)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {type(a) for a in typing.get_args(annotation)}
    if origin in (Union, types.UnionType, tuple, list, typing.Annotated):
        return set().union(*(_leaf_types(a) for a in typing.get_args(annotation) if a is not Ellipsis))
    return {annotation}


class Strict(BaseModel):
    """Base for anything a user writes: typos fail loudly, objects never change after validation.
    No inf/nan (no range or budget is infinite) and no booleans where a number is meant
    (``epochs: true`` would otherwise become 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_number(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None:
                continue
            leaves = _leaf_types(field.annotation)
            if bool in leaves or Any in leaves or not leaves & {int, float}:
                continue
            items = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, bool) for v in items):
                raise ValueError(f"{name}: expected a number, got {str(value).lower()}")
        return data


class FloatRange(Strict):
    """A continuous range, sampled on a log scale by default (throughputs span decades)."""

    low: float = Field(gt=0)
    high: float = Field(gt=0)
    log: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self


class UnitRange(Strict):
    """A linear range inside [0, 1] (shares, ratios)."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> UnitRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self


def distributions_for(fields: dict[str, Any]) -> dict[str, Any]:
    """Map tuples of choices and ranges onto Optuna distributions (imported lazily)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, FloatRange):
            out[name] = FloatDistribution(value.low, value.high, log=value.log)
        elif isinstance(value, UnitRange):
            out[name] = FloatDistribution(value.low, value.high)
        else:
            out[name] = CategoricalDistribution(tuple(value))
    return out


def suggest(trial: Any, name: str, choice: Any) -> Any:
    """Ask an Optuna trial for one parameter: a range or a tuple of choices."""
    if isinstance(choice, FloatRange):
        return trial.suggest_float(name, choice.low, choice.high, log=choice.log)
    if isinstance(choice, UnitRange):
        return trial.suggest_float(name, choice.low, choice.high)
    return trial.suggest_categorical(name, list(choice))
