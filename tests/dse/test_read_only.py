"""A read-only file system (issue 13 item 9), on a real read-only mount: every command that has to
write there stops with one line naming the file and the file system, exit 1 (an environment
failure, not bad input), and never a temporary name; reading a study from it still works."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import finn_dse

pytestmark = [pytest.mark.slow, pytest.mark.finn]


def _mount(where: Path, *options: str) -> None:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=64m", *options)), "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")


@pytest.fixture(scope="module")
def read_only(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A read-only mount holding a copy of the smoke study's work directory as ``w``."""
    mnt = tmp_path_factory.mktemp("ro") / "disk"
    mnt.mkdir()
    _mount(mnt)
    try:
        shutil.copytree(smoke_workdir, mnt / "w")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


CASES = [
    # (id, argv, the path the line must name)
    ("run-new-workdir", ["run", "studies/smoke.yaml", "--workdir", "{ro}/new"], "{ro}/new"),
    ("run-resume", ["run", "studies/smoke.yaml", "--workdir", "{ro}/w", "--n-trials", "8"], "{ro}/w/.run.lock"),
    ("report-default", ["report", "--workdir", "{ro}/w"], "{ro}/w/report.html"),
    ("report-out", ["report", "--workdir", "{smoke}", "-o", "{ro}/r.html"], "{ro}/r.html"),
    ("trials-csv", ["trials", "--workdir", "{smoke}", "--csv", "{ro}/t.csv"], "{ro}/t.csv"),
    ("export-out", ["export", "--workdir", "{ro}/w", "--trial", "{trial}", "--out", "{ro}/bundle"], "{ro}/bundle"),
    ("estimate-save-folding", ["estimate", "{model}", "--save-folding", "{ro}/f.json"], "{ro}/f.json"),
    ("front-out", ["front", "{model}", "--out", "{ro}/front"], "{ro}/front/"),
]


@pytest.mark.parametrize(("argv", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_read_only_file_system_is_one_line(argv: list[str], path: str, read_only: Path, smoke_workdir: Path) -> None:
    model = next((read_only / "w" / "trials").glob("*/model.onnx"))
    fields = {"ro": str(read_only), "smoke": str(smoke_workdir), "model": str(model),
              "trial": str(int(model.parent.name))}
    proc = finn_dse(*(a.format(**fields) for a in argv), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: read-only file system: cannot write ") and proc.stderr.count("\n") == 1, \
        proc.stderr[:2000]
    assert path.format(**fields) in proc.stderr
    assert f"(file system {read_only}: " in proc.stderr
    assert ".tmp" not in proc.stderr and f"{read_only}/." not in proc.stderr  # never a temporary name


def test_a_study_on_a_read_only_disk_can_still_be_read(read_only: Path) -> None:
    proc = finn_dse("trials", "--workdir", str(read_only / "w"))
    assert "COMPLETE" in proc.stdout
