"""Model families FINN-DSE can search over (Brevitas networks FINN accepts)."""
from __future__ import annotations
