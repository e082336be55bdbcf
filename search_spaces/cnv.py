"""The CNV family (FINN's CIFAR-10 CNN): six 3x3 convs with two max-pools, then FC layers.

The topology is fixed (FINN's 64-64/128-128/256-256, FC 512-512); pruning varies the widths.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from search_spaces.base import SpaceBase


class CNVSpace(SpaceBase):
    family: Literal["cnv"] = "cnv"
    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256)
    fc: tuple[int, ...] = Field(default=(512, 512), min_length=1)

    @field_validator("channels")
    @classmethod
    def _six(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) != 6 or any(not 1 <= c <= 4096 for c in value):
            raise ValueError(f"CNV has six convs: give 6 widths between 1 and 4096, got {list(value)}")
        return value

    @field_validator("fc")
    @classmethod
    def _fc(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= c <= 8192 for c in value):
            raise ValueError(f"FC widths must be between 1 and 8192, got {list(value)}")
        return value

    def suggest_widths(self, trial: Any) -> tuple[int, ...]:
        return self.channels + self.fc

    def n_weight_layers(self, widths: tuple[int, ...]) -> int:
        return len(widths) + 1
