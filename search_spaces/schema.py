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


def distributions_for(fields: dict[str, Any]) -> dict[str, Any]:
    """Map tuples of choices and FloatRanges onto Optuna distributions (imported lazily)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, FloatRange):
            out[name] = FloatDistribution(value.low, value.high, log=value.log)
        else:
            out[name] = CategoricalDistribution(tuple(value))
    return out
