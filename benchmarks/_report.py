"""Shared by the benchmarks: print and also write benchmarks/results/<name>.txt with a header."""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class Report:
    """Collects what a benchmark prints; `save()` writes it under results/ (last line = headline)."""

    def __init__(self, name: str, settings: str) -> None:
        self.name = name
        self.lines: list[str] = []
        cpu = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        self.say(f"# {name}  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
        self.say(f"# machine: {platform.node()} {cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        self.say(f"# settings: {settings}")

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.txt"
        path.write_text("\n".join(self.lines) + "\n")
        return path
