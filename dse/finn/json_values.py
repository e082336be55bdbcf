"""FINN's analyses return numpy values; the reports and folding configs are written as JSON."""
from __future__ import annotations

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """numpy scalars/arrays -> JSON-friendly Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
