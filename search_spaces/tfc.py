"""The TFC (fully connected) family: bit widths, width and depth of the MLP, FINN folding target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from search_spaces.schema import FloatRange, Strict, distributions_for

Bits = Literal[1, 2, 4, 8]


@dataclass(frozen=True, slots=True)
class TFCPoint:
    """One design proposed by the sampler."""

    weight_bits: int
    act_bits: int
    hidden_width: int
    hidden_layers: int
    target_fps: float

    @property
    def hidden(self) -> tuple[int, ...]:
        return (self.hidden_width,) * self.hidden_layers


class TFCSpace(Strict):
    """Choices are lists in the study file; a single value fixes that parameter."""

    family: Literal["tfc"] = "tfc"
    weight_bits: tuple[Bits, ...] = Field(default=(1, 2, 4), min_length=1)
    act_bits: tuple[Bits, ...] = Field(default=(1, 2, 4), min_length=1)
    hidden_width: tuple[int, ...] = Field(default=(32, 64, 128, 256), min_length=1)
    hidden_layers: tuple[int, ...] = Field(default=(3,), min_length=1)
    # FINN's SetFolding gets this target; the achieved throughput is what the study optimizes.
    target_fps: FloatRange = FloatRange(low=1e4, high=2e6)

    @field_validator("hidden_width", "hidden_layers")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [v for v in value if v < 1 or v > 4096]
        if bad:
            raise ValueError(f"values must be between 1 and 4096, got {bad}")
        return value

    def _choices(self) -> dict[str, Any]:
        return {
            "weight_bits": self.weight_bits,
            "act_bits": self.act_bits,
            "hidden_width": self.hidden_width,
            "hidden_layers": self.hidden_layers,
            "target_fps": self.target_fps,
        }

    def to_distributions(self) -> dict[str, Any]:
        """Optuna distributions, one per parameter name."""
        return distributions_for(self._choices())

    def suggest(self, trial: Any) -> TFCPoint:
        """Ask an Optuna trial for one design point."""
        values: dict[str, Any] = {}
        for name, choice in self._choices().items():
            if isinstance(choice, FloatRange):
                values[name] = trial.suggest_float(name, choice.low, choice.high, log=choice.log)
            else:
                values[name] = trial.suggest_categorical(name, list(choice))
        return TFCPoint(**values)
