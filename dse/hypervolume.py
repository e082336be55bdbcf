"""The one hypervolume used by FINN-DSE: report, promotion and benchmarks all call `hypervolume`.

Exact (moocore's C implementation, the one Optuna's own docs point to) for any number of
objectives. Points are losses (smaller is better); a point that is not strictly better than the
reference in every objective adds nothing, as in the usual definition. Optuna has no public
hypervolume call, and its private module is not ours to use.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def hypervolume(points: npt.ArrayLike, reference: Sequence[float] | npt.ArrayLike) -> float:
    """Volume dominated by ``points`` (an n x d array of losses) and bounded by ``reference``."""
    import moocore  # a compiled extension: loaded only when a volume is asked for

    ref = np.asarray(reference, dtype=float).reshape(-1)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(moocore.hypervolume(pts, ref=ref))
