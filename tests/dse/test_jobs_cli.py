"""The promotion commands as a user types them (real FINN estimate-only builds, local backend)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import finn_dse
from tests.dse.test_promote import copy_study


def test_promote_jobs_and_calibration_commands(smoke_workdir: Path, tmp_path: Path) -> None:
    work = str(copy_study(smoke_workdir, tmp_path / "w"))
    proc = finn_dse("promote", "--workdir", work, "--top", "1", "--mode", "estimate-only", "--wait")
    assert "COMPLETED" in proc.stdout, proc.stdout
    listed = json.loads(finn_dse("jobs", "--workdir", work, "--json").stdout)
    assert len(listed) == 1 and listed[0]["state"] == "COMPLETED" and listed[0]["mode"] == "estimate-only"
    # The same candidate again: no second build.
    finn_dse("promote", "--workdir", work, "--top", "1", "--mode", "estimate-only")
    assert len(json.loads(finn_dse("jobs", "--workdir", work, "--json").stdout)) == 1
    # A full build needs Vivado/Vitis/XRT: the job fails and says which are missing.
    finn_dse("promote", "--workdir", work, "--top", "1", "--mode", "full", "--wait")
    full = [j for j in json.loads(finn_dse("jobs", "--workdir", work, "--json").stdout) if j["mode"] == "full"]
    assert len(full) == 1 and full[0]["state"] == "FAILED" and "vivado" in (full[0]["reason"] or "").lower()
    assert "no calibration data yet" in finn_dse("calibration", "--workdir", work).stdout
    bad = finn_dse("jobs", "cancel", "999", "--workdir", work, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "999" in bad.stderr
    usage = finn_dse("jobs", check=False)
    assert usage.returncode == 2 and "--workdir" in usage.stderr
