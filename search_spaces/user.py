"""A user's own Brevitas network (``package.module:function``, see docs/user-models.md).

Only what the contract lets FINN-DSE vary: global weight/activation bits, the folding target
(solved) and the clock. Its dataflow graph comes from FINN's conversion of the untrained model
(seconds, once per bit width) instead of a fast path; pruning and per-layer choices need the
layer structure FINN-DSE knows only for its own families.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from search_spaces.base import SpaceBase

_REF = re.compile(r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_]*$")


class UserSpace(SpaceBase):
    family: Literal["user"] = "user"
    model: str = Field(description="package.module:function or path/to/file.py:function")

    @field_validator("model")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not _REF.match(value):
            raise ValueError(f"expected 'package.module:function' or 'path/to/file.py:function', got {value!r}")
        return value

    @model_validator(mode="after")
    def _supported(self) -> UserSpace:
        if self.per_layer_bits:
            raise ValueError("per_layer_bits is not available for user models (the contract takes one "
                             "weight_bits and one act_bits)")
        if self.pruning.enabled:
            raise ValueError("pruning is available for the tfc, cnv and mobilenet families only")
        if self.folding.mode != "solved":
            raise ValueError("folding.mode 'sampled' is available for the tfc, cnv and mobilenet families only")
        return self

    def suggest_widths(self, trial: Any) -> tuple[int, ...]:
        return ()

    def n_weight_layers(self, widths: tuple[int, ...]) -> int:
        return 2  # one global weight_bits entry and one act_bits entry

    def extra(self) -> tuple[tuple[str, Any], ...]:
        return (("model", self.model),)
