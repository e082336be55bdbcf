"""The database password stays out of every file and message FINN-DSE writes (real PostgreSQL).

study.json, the trial files, the dashboard's log line and the error messages keep the storage
URL without its password; later commands read it from a libpq password file (PGPASSFILE,
~/.pgpass) or PGPASSWORD.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, finn_dse
from tests.services import assert_no_password, pgpass_env

pytestmark = [pytest.mark.service]

STUDY = ROOT / "studies" / "smoke_workers.yaml"


@pytest.mark.slow
def test_password_is_in_no_file_and_no_message(postgres_db: str, mnist_root: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    run = finn_dse("run", str(STUDY), "--storage", postgres_db, "--workdir", str(workdir), "--data-root",
                   str(mnist_root), "--n-trials", "1", timeout=600)
    assert_no_password(postgres_db, run.stdout, run.stderr, workdir)
    meta = json.loads((workdir / "study.json").read_text())
    assert meta["storage"] == postgres_db.replace(":finn_dse@", "@")  # user, host, port, database: all but it

    # Later commands find the password in a password file ...
    env = pgpass_env(postgres_db, tmp_path)
    listed = finn_dse("trials", "--workdir", str(workdir), env=env)
    assert "COMPLETE" in listed.stdout
    # ... and without one say where to put it, in one line.
    bare = {**env, "PGPASSFILE": str(tmp_path / "none")}
    proc = finn_dse("trials", "--workdir", str(workdir), env=bare, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "no password supplied" in proc.stderr and "PGPASSWORD" in proc.stderr and "~/.pgpass" in proc.stderr

    # The objectives-mismatch message names the storage without the password.
    other = tmp_path / "other.yaml"
    other.write_text(STUDY.read_text() + "objectives: [accuracy, lut]\n")
    proc = finn_dse("run", str(other), "--storage", postgres_db, "--workdir", str(tmp_path / "w2"), check=False)
    assert proc.returncode != 0 and "has objectives" in proc.stderr, proc.stderr
    assert_no_password(postgres_db, proc.stdout, proc.stderr, tmp_path / "w2")

    # The dashboard's log line too.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("finn-dse")
    dash = subprocess.Popen([str(exe), "dashboard", "--workdir", str(workdir), "--storage", postgres_db, "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert dash.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 300
        while not any("Ctrl-C to stop" in line for line in lines):
            assert time.monotonic() < deadline and dash.poll() is None, lines
            lines.append(dash.stdout.readline())
    finally:
        dash.kill()
        dash.communicate()
    assert any("finn_dse@127.0.0.1" in line or "finn_dse:***@" in line for line in lines), lines
    assert_no_password(postgres_db, "".join(lines))
