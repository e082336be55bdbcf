"""Model families FINN-DSE can search over (Brevitas networks FINN accepts).

The built-in families live in ``dse.models.tfc``, ``cnv`` and ``mobilenet``; a user's own
network is loaded and checked by ``dse.models.user`` (see docs/user-models.md). Importing this
package stays light: torch and Brevitas load when a model is built.
"""
from __future__ import annotations

from dse.models.user import (
    USER_MODEL_KEYWORDS,
    UserModelEstimate,
    check_user_model,
    estimate_user_model,
    load_user_model,
    resolve_user_model,
)

__all__ = ["USER_MODEL_KEYWORDS", "UserModelEstimate", "check_user_model", "estimate_user_model",
           "load_user_model", "resolve_user_model"]
