"""Words a user reads: counts with the right plural ("1 trial", "2 trials")."""
from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "trial") == "1 trial"``, ``plural(3, "trial") == "3 trials"``; ``many`` for an
    irregular plural. Thousands are separated (``12,500 trials``)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
