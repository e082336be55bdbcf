"""The MobileNet-style family: a 3x3 conv, depthwise-separable blocks, one FC classifier.

Exercises FINN's VVAU path. Binary activations are not offered (see dse/models/mobilenet.py).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from search_spaces.base import SpaceBase


class MobileNetSpace(SpaceBase):
    family: Literal["mobilenet"] = "mobilenet"
    act_bits: tuple[Literal[2, 4, 8], ...] = Field(default=(2, 4), min_length=1)
    channels: tuple[int, ...] = (16, 32, 64, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2, 2, 2)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) < 2 or any(not 1 <= c <= 4096 for c in value):
            raise ValueError(f"give at least 2 widths between 1 and 4096, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _strides(self) -> MobileNetSpace:
        if len(self.strides) != len(self.channels) or any(s not in (1, 2) for s in self.strides):
            raise ValueError(f"strides needs one entry (1 or 2) per channel entry ({len(self.channels)}), "
                             f"got {list(self.strides)}")
        return self

    def suggest_widths(self, trial: Any) -> tuple[int, ...]:
        return self.channels

    def n_weight_layers(self, widths: tuple[int, ...]) -> int:
        return 2 * len(widths)  # first conv, (depthwise + pointwise) per block, classifier

    def extra(self) -> tuple[tuple[str, Any], ...]:
        return (("strides", self.strides),)
