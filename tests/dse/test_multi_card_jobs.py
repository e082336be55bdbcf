"""Jobs of multi-card bundles (`finn-dse export --fpgas K`): nodes, cards and links from the cluster profile."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dse.errors import ConfigError
from dse.jobs.backends import job_script
from dse.jobs.store import JobRecord
from dse.launch import JobProfile, load_profile, parse_profile
from tests.conftest import ROOT, finn_dse
from tests.dse.test_workers_postgres import STUDY
from tests.services import SlurmCluster

PROFILES = ROOT / "studies" / "clusters"


def _record(tmp_path: Path) -> JobRecord:
    return JobRecord(id=5, token="k4", study="s", trial=2, kind="measure", mode="throughput", backend="slurm",
                     state="SUBMITTING", backend_id=None, created_time=0.0, submit_time=None, start_time=None,
                     end_time=None, job_dir=str(tmp_path), log_path=str(tmp_path / "log.txt"),
                     output_dir=str(tmp_path / "out"), reason=None)


def _sbatch(script: str) -> list[str]:
    return [ln.removeprefix("#SBATCH ") for ln in script.splitlines() if ln.startswith("#SBATCH ")]


def test_noctua2_places_k_cards_on_ceil_k_over_3_nodes(tmp_path: Path) -> None:
    measure = load_profile(PROFILES / "noctua2.yaml", {"account": "hpc-prf-x"}).job_profile("measure")
    assert measure.fpga is not None and (measure.fpga.cards_per_node, measure.fpga.ports_per_card) == (3, 2)
    for cards, nodes in ((1, None), (2, 1), (3, 1), (4, 2), (6, 2), (7, 3)):
        opts = _sbatch(job_script(_record(tmp_path), measure, cards=cards))
        assert "--partition=fpga" in opts and "--constraint=xilinx_u280_xrt2.14" in opts
        assert not any(o.startswith("--gres") for o in opts)  # whole exclusive nodes, chosen by constraint
        if nodes is None:
            assert "--ntasks=1" in opts and not any(o.startswith("--nodes") for o in opts)
        else:
            assert {f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1"} <= set(opts), opts
    script = job_script(_record(tmp_path), measure, cards=4).splitlines()
    # The chain over two nodes: acl2 of the first node to acl0 of the second, before the runner starts.
    link = ("changeFPGAlinks --fpgalink=n00:acl0:ch1-n00:acl1:ch0 --fpgalink=n00:acl1:ch1-n00:acl2:ch0 "
            "--fpgalink=n00:acl2:ch1-n01:acl0:ch0")
    assert link in script and script.index(link) < next(i for i, ln in enumerate(script) if "dse.jobs.runner" in ln)
    assert not any("changeFPGAlinks" in ln for ln in job_script(_record(tmp_path), measure, cards=1).splitlines())


def test_cards_as_gres() -> None:
    profile = JobProfile.model_validate({"fpga": {"cards_per_node": 4, "gres": "fpga"}})
    assert profile.multi_card_sbatch(3) == {"nodes": 1, "ntasks": 1, "ntasks-per-node": 1, "gres": "fpga:3"}
    assert profile.multi_card_sbatch(9)["gres"] == "fpga:4" and profile.multi_card_sbatch(9)["nodes"] == 3


def test_multi_card_profile_errors_name_the_key() -> None:
    for fpga, message in (({"cards_per_node": 0}, r"measure.fpga.cards_per_node: Input should be greater than or "
                                                   r"equal to 1 \(got 0\)"),
                          ({"out_port": 2}, r"out_port must be below ports_per_card \(2\)"),
                          ({"in_port": 1, "out_port": 1}, "in_port and out_port must differ"),
                          ({"link_command": "changeFPGAlinks"}, r"link_command must contain \{links\}"),
                          ({"topology": "ring"}, "measure.fpga.topology: Input should be 'chain'"),
                          ({"cards_per_node": 3, "gres": "fpga"}, "give cards either as fpga")):
        with pytest.raises(ConfigError, match=message):
            parse_profile({"measure": {"fpga": fpga, "sbatch": {"gres": "fpga:1"}}})
    plain = parse_profile({}).job_profile("measure")
    assert plain.multi_card_sbatch(1) == {}
    with pytest.raises(ConfigError, match="a 2-card job needs `fpga: {cards_per_node: ...}`"):
        plain.multi_card_sbatch(2)
    single_port = parse_profile({"measure": {"fpga": {"ports_per_card": 1, "out_port": 0}}}).job_profile("measure")
    assert single_port.multi_card_sbatch(2)["nodes"] == 2
    with pytest.raises(ConfigError, match="a chain of 3 cards needs 2 link ports per card"):
        single_port.multi_card_sbatch(3)


def test_bad_multi_card_profile_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("account: a\nmeasure:\n  fpga: {cards_per_node: 3, in_port: 5}\n")
    proc = finn_dse("launch", str(STUDY), "--slurm", "--workers", "1", "--storage", "postgresql://u:p@nohost/d",
                    "--profile", str(bad), "--workdir", str(tmp_path / "w"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "in_port and out_port must be below ports_per_card (2)" in proc.stderr


@pytest.mark.service
def test_local_slurm_accepts_or_refuses_the_nodes(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    # The test cluster has one node: cards that fit on it are accepted, a second node is refused.
    def test_only(fpga: dict[str, object], cards: int) -> subprocess.CompletedProcess[str]:
        profile = parse_profile({"partition": "debug", "time_min": 5, "measure": {"fpga": fpga}})
        script = tmp_path / f"job-{cards}.sh"
        script.write_text(job_script(_record(tmp_path), profile.job_profile("measure"), cards=cards))
        return subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, text=True, timeout=60)

    ok = test_only({"cards_per_node": 3}, 3)
    assert ok.returncode == 0 and "using 1 processors on nodes" in ok.stderr, ok.stderr
    two_nodes = test_only({"cards_per_node": 3}, 4)
    assert two_nodes.returncode != 0 and "Requested node configuration is not available" in two_nodes.stderr
    gres = test_only({"cards_per_node": 3, "gres": "fpga"}, 2)  # the node has no FPGA gres
    assert gres.returncode != 0 and "Invalid generic resource (gres) specification" in gres.stderr, gres.stderr
