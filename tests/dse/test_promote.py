"""Promotion of Pareto candidates: hypervolume selection, bundles, local build jobs (real FINN)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from dse.errors import ConfigError
from dse.jobs import calibration_report, cancel_job, list_jobs, promote, wait_jobs
from dse.jobs.backends import _proc_alive
from dse.jobs.calibration import dataset_path
from dse.jobs.promotion import normalised_losses, pick_candidates, select_spread


def copy_study(src: Path, dst: Path) -> Path:
    """A private copy of a finished study's work directory (its own SQLite database)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("jobs", "promoted", "calibration", ".run.lock"))
    meta = json.loads((dst / "study.json").read_text())
    meta["storage"] = f"sqlite:///{dst / 'study.db'}"
    (dst / "study.json").write_text(json.dumps(meta))
    return dst


def trial_attrs(workdir: Path) -> dict[int, dict[str, object]]:
    """What readers see of each trial: its attributes with the ingested job results joined."""
    from dse.results import trial_attrs as joined
    from dse.storage.database import load_study, study_url

    return joined(load_study(workdir), study_url(workdir))


def test_selection_spreads_over_the_front() -> None:
    # 11 designs on a straight 2-D front: accuracy up, LUT up.
    acc = np.linspace(0.80, 0.98, 11)
    lut = np.linspace(1000, 21000, 11)
    losses = normalised_losses(np.column_stack([acc, lut]), ["maximize", "minimize"])
    picks = select_spread(losses, 3)
    order = [i for i, _ in picks]
    assert order[0] == 5  # the largest dominated box: the middle of a straight front
    assert min(abs(a - b) for a in order for b in order if a != b) >= 3  # spread, not neighbours
    gains = [g for _, g in picks]
    assert gains == sorted(gains, reverse=True) and all(g > 0 for g in gains)
    assert len(select_spread(losses, 50)) == 11


def test_never_trained_designs_are_not_candidates() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, lut, stopped in ((0.9, 5000.0, None), (0.0, 100.0, "estimator"), (0.95, 9000.0, None)):
        t = study.ask()
        if stopped:
            t.set_user_attr("stopped_by", stopped)
        study.tell(t, [acc, lut])
    picked, skipped, front = pick_candidates(study, 5)
    assert sorted(n for n, _, _ in picked) == [0, 2]
    assert skipped == [(1, "never trained (stopped by the estimators before training): nothing to build")]
    assert front == [0, 1, 2]
    with pytest.raises(ConfigError, match="--top must be >= 1"):
        pick_candidates(study, 0)


@pytest.mark.finn
def test_promote_runs_finn_estimate_only_builds_locally(smoke_workdir: Path, tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    start = time.monotonic()
    promotion = promote(work, top=2, backend="local", mode="estimate-only")
    assert len(promotion.selected) == 2 and all(c.submitted for c in promotion.selected)
    assert all((c.bundle / "model.onnx").exists() and (c.bundle / "build.yaml").exists() for c in promotion.selected)
    jobs = wait_jobs(work, timeout_s=600, poll_s=1)
    assert [(j.state, j.ingested) for j in jobs] == [("COMPLETED", True)] * 2, [j.reason for j in jobs]
    attrs = trial_attrs(work)
    for c in promotion.selected:
        job = next(j for j in jobs if j.trial == c.trial)
        report = Path(job.output_dir) / "report"
        assert {p.name for p in report.iterdir()} >= {"estimate_layer_resources.json", "estimate_layer_cycles.json",
                                                      "estimate_network_performance.json"}
        build = attrs[c.trial]["estimate_only_build"]
        assert isinstance(build, dict)
        # FINN's estimate flow on the bundle reproduces what the study recorded; never "synthesized".
        assert build["synthesized"] is False and build["matches_trial"] is True and build["job"] == job.id
        assert "pre-synthesis" in str(build["source"])
        assert not any(k.startswith(("synth_", "measured_")) for k in attrs[c.trial])
    assert not dataset_path(work).exists()
    assert calibration_report(work).samples == 0 and "no calibration data yet" in calibration_report(work).to_text()
    # The same candidates again: nothing is built twice.
    again = promote(work, top=2, backend="local", mode="estimate-only")
    assert [(c.trial, c.job.id if c.job else None, c.submitted) for c in again.selected] == \
        [(c.trial, c.job.id if c.job else None, False) for c in promotion.selected]
    assert len(list_jobs(work)) == 2
    print(f"two estimate-only builds, run and ingested: {time.monotonic() - start:.1f} s")


@pytest.mark.finn
def test_full_build_without_vivado_fails_with_the_reason(smoke_workdir: Path, tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    first = promote(work, top=1, backend="local", mode="full").selected[0]
    assert first.job is not None
    (job,) = wait_jobs(work, timeout_s=300, poll_s=1)
    assert job.state == "FAILED" and not job.ingested
    for missing in ("Vivado: `vivado` not on PATH and XILINX_VIVADO not set", "Vitis: `v++` not on PATH",
                    "XRT: `xbutil` not on PATH"):
        assert missing in (job.reason or "")
        assert missing in Path(job.log_path).read_text()
    assert not any(k.startswith("synth_") for k in trial_attrs(work)[first.trial])
    # A failed build does not block a new attempt (e.g. after loading the tools).
    second = promote(work, top=1, backend="local", mode="full").selected[0]
    assert second.submitted and second.job is not None and second.job.id != job.id
    wait_jobs(work, timeout_s=300, poll_s=1)


@pytest.mark.finn
def test_cancel_a_running_local_job(smoke_workdir: Path, tmp_path: Path) -> None:
    work = copy_study(smoke_workdir, tmp_path / "run")
    job = promote(work, top=1, backend="local", mode="estimate-only").selected[0].job
    assert job is not None
    deadline = time.monotonic() + 120
    while not (Path(job.job_dir) / "status.json").exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    cancelled = cancel_job(work, job.id)
    assert cancelled.state == "CANCELLED" and cancelled.reason == "cancelled by the user"
    (after,) = wait_jobs(work, timeout_s=60, poll_s=1)
    assert after.state == "CANCELLED" and not after.ingested
    pid = int(str(job.backend_id).rsplit(":", 1)[1])
    assert not _proc_alive(pid, job.job_dir), "the job's process is still running"
    with pytest.raises(ConfigError, match="already ended CANCELLED"):
        cancel_job(work, job.id)


def test_job_profiles_inherit_and_render_the_script(tmp_path: Path) -> None:
    from dse.jobs.backends import job_script
    from dse.jobs.store import JobRecord
    from dse.launch import load_profile, parse_profile
    from tests.conftest import ROOT

    noctua = load_profile(ROOT / "studies" / "clusters" / "noctua2.yaml", {"account": "hpc-prf-x"})
    measure = noctua.job_profile("measure")
    assert (measure.partition, measure.account, measure.time_min) == ("fpga", "hpc-prf-x", 30)
    assert measure.sbatch == {"constraint": "xilinx_u280_xrt2.14"} and "xilinx/xrt/2.14" in measure.modules
    build = noctua.job_profile("build")
    assert (build.partition, build.cpus, build.mem_gb) == ("normal", 16, 64.0)
    # Without sections, jobs take the cluster-level settings.
    plain = parse_profile({"partition": "p", "account": "a", "cpus": 3, "setup": ["source env.sh"]})
    assert (plain.job_profile("build").partition, plain.job_profile("build").cpus) == ("p", 3)
    with pytest.raises(ConfigError, match="build.partiton: unknown key"):
        parse_profile({"build": {"partiton": "x"}})
    profile = parse_profile({"account": "a", "build": {"partition": "big", "time_min": 600, "mem_gb": 8,
                                                       "modules": ["vivado/2022.2"], "setup": ["export A=1"],
                                                       "sbatch": {"mail_type": "END", "exclusive": True},
                                                       "container": {"image": "/c/finn.sif",
                                                                     "binds": ["/scratch", "/opt/xilinx"]},
                                                       "python": "/venv/bin/python"}}).job_profile("build")
    rec = JobRecord(id=7, token="abc", study="s", trial=3, kind="build", mode="full", backend="slurm",
                    state="SUBMITTING", backend_id=None, created_time=0.0, submit_time=None, start_time=None,
                    end_time=None, job_dir=str(tmp_path), log_path=str(tmp_path / "log.txt"),
                    output_dir=str(tmp_path / "out"), reason=None)
    script = job_script(rec, profile)
    for line in ("#SBATCH --job-name=fdse-build-abc", f"#SBATCH --output={tmp_path / 'log.txt'}",
                 "#SBATCH --partition=big", "#SBATCH --account=a", "#SBATCH --time=600", "#SBATCH --mem=8192M",
                 "#SBATCH --mail-type=END", "#SBATCH --exclusive", "module load vivado/2022.2", "export A=1",
                 f"exec apptainer exec --bind /scratch --bind /opt/xilinx /c/finn.sif /venv/bin/python -m "
                 f"dse.jobs.runner {tmp_path}"):
        assert line in script.splitlines(), (line, script)
    assert "#SBATCH" not in job_script(rec, None)
