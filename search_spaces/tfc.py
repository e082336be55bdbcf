"""The TFC family (FINN's fully connected MLPs: TFC/SFC/LFC): width and depth of the hidden layers."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from search_spaces.base import SpaceBase
from search_spaces.schema import suggest


class TFCSpace(SpaceBase):
    """784-(width x layers)-10 MLPs. FINN's TFC is 3x64, SFC 3x256, LFC 3x1024."""

    family: Literal["tfc"] = "tfc"
    hidden_width: tuple[int, ...] = Field(default=(32, 64, 128, 256), min_length=1)
    hidden_layers: tuple[int, ...] = Field(default=(3,), min_length=1)

    @field_validator("hidden_width", "hidden_layers")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [v for v in value if v < 1 or v > 4096]
        if bad:
            raise ValueError(f"values must be between 1 and 4096, got {bad}")
        return value

    def family_choices(self) -> dict[str, Any]:
        return {"hidden_width": self.hidden_width, "hidden_layers": self.hidden_layers}

    def suggest_widths(self, trial: Any) -> tuple[int, ...]:
        width = int(suggest(trial, "hidden_width", self.hidden_width))
        return (width,) * int(suggest(trial, "hidden_layers", self.hidden_layers))

    def n_weight_layers(self, widths: tuple[int, ...]) -> int:
        return len(widths) + 1
