"""Building blocks of a search-space file. Unknown keys are rejected, values are frozen."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Base for anything a user writes: typos fail loudly, objects never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
