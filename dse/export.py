"""Deployment bundles: what a user hands to `finn build` on a machine with Vivado/Vitis.

A bundle is read from what the study recorded (never retrained): the trained QONNX model, the
FINN folding config its estimate used, a DataflowBuildConfig (build.yaml) for the U280 Vitis
flow at the study's clock, the estimates, and a README with the build command. Files carry no
timestamps, so exporting the same trial twice gives the same bundle.

One job (why it is over 400 lines): writing a deployment bundle, every file of it, in its one- and multi-card forms.

``fpgas=K`` (``finn-dse export --fpgas K``) exports the design split over a chain of K cards:
our exact partition (``estimators.partition``, exactly K cards as finn-plus's ``num_fpgas``) goes
into build.yaml as finn-plus's ``partitioning_configuration`` (see ``partitioning_configuration``
for the form and why), estimates.json gains the per-card figures, the README the multi-card steps.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dse.artifacts import StudyLayout, TrialFiles, naming, write_atomic, write_json
from dse.build_script import build_instructions, write_build_script
from dse.errors import ConfigError
from dse.finn.build_config import check_build_config

if TYPE_CHECKING:
    import optuna

    from estimators.partition import Partition

logger = logging.getLogger(__name__)

BUNDLE_FILES = ("model.onnx", "folding_config.json", "build.yaml", "build.sh", "estimates.json", "README.md")


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    trial: int
    on_pareto_front: bool
    kept_build_yaml: Path | None = None  # build.yaml.previous: an edited build.yaml a re-export kept
    edited_now: bool = False  # kept_build_yaml is the build.yaml this export replaced (else an earlier one)


# A forced re-export keeps the old bundle's build.yaml here when it differs from the new one.
PREVIOUS_BUILD_YAML = "build.yaml.previous"


# Keys the bundle fixes because the estimate depends on them: changing them builds another design.
FIXED_KEYS = ("synth_clk_period_ns", "board", "shell_flow_type", "folding_config_file", "mvau_wwidth_max",
              "standalone_thresholds", "minimize_bit_width")
PROVENANCE_PACKAGES = ("finn-dse", "finn-plus", "qonnx", "brevitas", "torch", "optuna")


def build_config(*, board: str, clock_ns: float, mvau_wwidth_max: int, vitis_platform: str | None,
                 options: Mapping[str, Any] | None = None,
                 partitioning: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A finn-plus DataflowBuildConfig (as YAML data) that builds exactly the estimated design.

    ``options`` adds or overrides other DataflowBuildConfig fields (FIFO sizing, outputs, ...);
    ``partitioning`` is a multi-card ``partitioning_configuration`` (``partitioning_configuration``).
    Everything is checked against finn-plus's own DataflowBuildConfig.
    """
    config: dict[str, Any] = {
        "output_dir": "build",
        "synth_clk_period_ns": clock_ns,
        "board": board,
        "shell_flow_type": "vitis_alveo",
        "folding_config_file": "folding_config.json",
        "mvau_wwidth_max": mvau_wwidth_max,
        "generate_outputs": ["estimate_reports", "bitfile", "pynq_driver", "deployment_package"],
        "auto_fifo_depths": True,
        "auto_fifo_strategy": "distributed_sim",
    }
    if vitis_platform:
        config["vitis_platform"] = vitis_platform
    for key, value in (options or {}).items():
        if key in FIXED_KEYS:
            raise ConfigError(f"build option {key!r} is fixed by the study (it changes the estimated design)")
        if key == "partitioning_configuration" and partitioning is not None:
            raise ConfigError("build option 'partitioning_configuration' is set by --fpgas (our partition); "
                              "give one or the other")
        config[key] = value
    if partitioning is not None:
        config["partitioning_configuration"] = dict(partitioning)
    check_build_config(config)
    return config


def partitioning_configuration(p: Partition) -> dict[str, Any]:
    """finn-plus 1.6.1's ``partitioning_configuration`` that builds the partition ``p``.

    Our cut points are given as ``custom_partitioning_constraints`` (node -> card for every node of
    the folded dataflow graph), not as a full ``partitioning`` mapping. A full mapping goes to
    ApplyPartitioning, which requires a card for every node of the graph at step_prepare_synthesis:
    FIFOs, width converters and IODMAs included, which FIFO sizing and IODMA insertion create and
    number during the build (StreamingFIFO_rtl_N, ...), so a mapping written now would name nodes
    we can only guess. The constraints name only the compute nodes, by the names FINN gives them and
    folding_config.json already relies on (GiveUniqueNodeNames numbers per op type in graph order;
    inserting FIFOs and DWCs does not renumber them), and finn-plus's partitioner adds them as
    equalities. Its chain topology keeps every successor on the same or a later card, so a node
    between two pinned nodes of card c is on card c: only the FIFOs/DWCs at a cut are left to its
    solver (either side of the link). ``single_stream_network`` as our cuts (one stream crosses).
    """
    if not p.feasible or p.n_cards < 2:
        raise ValueError("a multi-card partitioning configuration needs a feasible partition over 2+ cards")
    return {
        "num_fpgas": p.n_cards,
        "topology": "chain",
        "communication_kernel": "aurora",
        "single_stream_network": True,
        "partition_strategy": "resource_utilization",
        "custom_partitioning_constraints": {name: c.index for c in p.cards for name in c.layers},
    }


def parse_build_options(pairs: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE strings from the command line; VALUE is read as YAML (numbers, true/false, lists)."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"build option {pair!r} is not KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"build option {key!r}: cannot read value {value!r}") from None
    return options


def provenance() -> dict[str, str]:
    """Versions of the packages that produced the bundle."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _model_io(model_path: Path) -> tuple[str | None, str]:
    """The exported graph input's shape as "1x784" (None if the file does not say) and what it outputs."""
    try:
        import onnx

        graph = onnx.load(str(model_path), load_external_data=False).graph
        dims = graph.input[0].type.tensor_type.shape.dim
        shape = "x".join(str(d.dim_value) for d in dims) if dims and all(d.dim_value for d in dims) else None
        topk = any(n.op_type == "TopK" for n in graph.node)
        return shape, "class index" if topk else "BIPOLAR class, +1 for class 1 (a sign on the one logit)"
    except Exception:  # the README's shape is a courtesy; the bundle stands without it
        return None, "class index"


def _readme(study: str, trial: int, design: str, dataset: str, input_shape: str, hw: dict[str, Any],
            acc: dict[str, float], vitis_platform: str | None, input_datatype: str = "UINT8",
            output: str = "class index") -> str:
    source = "FINN estimate" if hw.get("source", "finn") == "finn" else "FINN-DSE estimators' estimate"
    return f"""# FINN-DSE bundle: study `{study}`, trial {trial}

Design: {design}.
Accuracy ({dataset}): validation {acc['val_accuracy']:.2%}, test {acc['test_accuracy']:.2%}.
{source} for the {hw['board']} at {hw['clock_ns']} ns: {hw['fps']:,.0f} fps,
{hw['latency_ns'] / 1000:.1f} us latency, {hw['lut']:,.0f} LUT, {hw['bram18']:,.0f} BRAM18,
{hw['uram']:,.0f} URAM, {hw['dsp']:,.0f} DSP (bottleneck: {hw['bottleneck']}).
These are FINN's pre-synthesis estimates, not measurements.

## Files
- `model.onnx`: the trained network in QONNX (input: {input_datatype}{' pixels' if input_datatype == 'UINT8' else ''}, shape {input_shape}; output: {output}).
- `folding_config.json`: PE/SIMD and memory styles per layer (FINN ApplyConfig format).
- `build.yaml`: finn-plus DataflowBuildConfig (Vitis Alveo shell flow, U280, clock, folding file).
- `estimates.json`: FINN's per-layer and total estimates, the fit check, the accuracies, and
  provenance (study, trial, package versions).
- `build.sh`: checks the build machine's set-up, then runs `finn build --batch build.yaml model.onnx`.

{build_instructions(vitis_platform)}
Outputs go to `build/` (bitfile, PYNQ driver, deployment package). FIFO depths are sized by
FINN's simulation-based sizing (`auto_fifo_depths`, `auto_fifo_strategy`). Other build options
can be set at export (`finn-dse export ... --build-option KEY=VALUE`) or edited in `build.yaml`;
the clock, board, shell flow and folding file are fixed because the estimates depend on them.
"""


def _multi_card_readme(p: Partition) -> str:
    """The README section of a bundle split over several cards (Markdown)."""
    rows = "\n".join(
        f"| {c.index} | {c.layers[0]} .. {c.layers[-1]} ({len(c.layers)}) | {c.used.lut:,.0f} | {c.used.bram18:,.0f} "
        f"| {c.used.uram:,.0f} | {c.used.dsp:,.0f} | {c.utilization:.0%} | {c.power_w:.1f} |" for c in p.cards)
    links = "\n".join(f"- card {i} -> card {i + 1}: `{c.producer}` -> `{c.consumer}`, {c.gbit_per_s:.3g} Gbit/s "
                       f"({c.link_share:.1%} of one {p.link.name} link's {p.link.gbit_per_s:g} Gbit/s)"
                       for i, c in enumerate(p.cuts))
    last = p.n_cards - 1
    return f"""
## Several cards: this design over {p.n_cards} {p.board} cards in a chain
FINN-DSE's exact partition (contiguous layers per card, cut where one stream crosses; pre-synthesis
estimates of FINN-DSE's estimators, not measurements; `estimates.json` key `multi_fpga`):

| Card | Layers | LUT | BRAM18 | URAM | DSP | Fullest resource (of its budget) | Power W |
|---|---|---|---|---|---|---|---|
{rows}

{links}

All cards: {p.fps:,.0f} fps, {p.latency_ns / 1000:.1f} us latency (one {p.link.latency_ns / 1000:.2f} us link hop per
cut), {p.power_w or 0:.1f} W, {p.energy_uj or 0:.1f} uJ per inference.

`build.yaml` asks finn-plus for it with `partitioning_configuration` (finn-plus's multi-FPGA flow):
`num_fpgas: {p.n_cards}`, `topology: chain`, `communication_kernel: aurora`, and
`custom_partitioning_constraints` pinning every compute layer to its card. Pins, not a full
`partitioning` mapping: a full mapping must name every node finn-plus has when it partitions, FIFOs,
width converters and IODMAs included, and those are created and numbered during the build (FIFO
sizing, IODMA insertion); the layers keep the names `folding_config.json` uses. With the chain
topology a node between two layers of one card stays on that card, so finn-plus's partitioner
only places the FIFOs and width converters at each cut (either side of the link).

Build as above (`./build.sh`, i.e. `finn build --batch build.yaml model.onnx`, with the same
Vivado/Vitis/XRT set-up); finn-plus switches to its multi-FPGA flow by itself:
- AuroraFlow, the link kernel, is one of finn-plus's own dependencies (`finn deps update`; offline:
  fetch it elsewhere with the others and pass `--skip-dep-update`); finn-plus packages it with Vivado.
- One synthesis per card: `partitioning_configuration.parallel_synthesis_workers` in `build.yaml`
  (default 1) runs several at once; finn-plus notes one synthesis can take ~100 GB of memory.
- Outputs: `build/bitfile/finn-accel-<card>.xclbin` for cards 0..{last}; finn-plus's partition report in
  `build/report/partitioning_report.txt` and `partitioning.yaml` (every node's card), the links
  (Aurora kernels, TX/RX, partner card) in the network `metadata.yaml` it writes.

Run: {p.n_cards} {p.board}s whose QSFP ports are cabled as a chain (card c to card c + 1), card c
programmed with `finn-accel-<c>.xclbin`; input goes into card 0, the result comes out of card {last}.
finn-plus's C++ driver knows every card's xclbin (`driver/cpp/acceleratorconfig.json`); ask for it
at export with `--build-option 'generate_outputs=[estimate_reports, bitfile, cpp_driver, deployment_package]'`
(the PYNQ driver drives one card).
"""


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; give a directory for the bundle")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ConfigError(f"--out {out_dir} is not empty; give an empty or new directory, or --force to replace it "
                          f"(a build.yaml you edited there is kept as {PREVIOUS_BUILD_YAML})")


def _publish(tmp: Path, out_dir: Path) -> None:
    """Put the finished bundle ``tmp`` at ``out_dir`` by renames, replacing what was there."""
    old = None
    if out_dir.exists():
        old = tmp.with_name(tmp.name + ".old")
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _partition_design(model: Path, folding: dict[str, Any], *, board: str, clock_ns: float, fpgas: int,
                      trial: int) -> Partition:
    """The trial's design (its model and folding, as FINN converts it) over exactly ``fpgas`` cards."""
    import tempfile

    import estimators as est
    from dse._quiet import captured
    from dse.errors import BackendError
    from dse.finn.graph import graph_from_finn
    from dse.finn.hw_graph import to_hw_graph

    dev = est.get_board(board)
    with tempfile.TemporaryDirectory(prefix="finn-dse-export-") as tmp:
        log = Path(tmp) / "finn.log"
        try:
            with captured(log):
                hw = to_hw_graph(model, part=dev.part, work_dir=Path(tmp))
        except Exception as err:  # FINN raises plain exceptions; the bundle is not written
            raise BackendError(f"FINN could not convert trial {trial}'s model for partitioning: {err}") from None
        graph = est.apply_folding_config(graph_from_finn(hw), folding)
    # Exactly K cards, as finn-plus's num_fpgas. Each card within the same usable budget a one-card
    # design is judged against (finn-plus's usable fractions and shell, per SLR); that budget is
    # below finn-plus's partitioner cap (max_utilization 0.8 of the raw card) for every resource.
    p = est.partition(graph, dev, cards=fpgas, clock_ns=clock_ns, exact=True)
    if not p.feasible:
        raise ConfigError(f"trial {trial}'s design does not split over {fpgas} {board} cards: {p.reason}")
    return p


def export_bundle(study: optuna.Study, workdir: Path, trial_number: int, out_dir: Path, *,
                  build_options: Mapping[str, Any] | None = None, force: bool = False,
                  fpgas: int | None = None) -> Bundle:
    """Write the bundle of ``trial_number`` to ``out_dir``: built in a temporary directory beside it
    and renamed into place, so a failure leaves no partial bundle. A non-empty ``out_dir`` is
    refused unless ``force`` (then it is replaced; its build.yaml, where it differs from the new
    one, e.g. edited by hand, is kept in the new bundle as build.yaml.previous). ``fpgas`` K >= 2:
    the design split over a chain of K cards (module docstring); 1 is the one-card bundle."""
    import tempfile

    from dse.estimate import check_fpgas
    from dse.spec import parse_spec
    from estimators.devices import get_board

    check_fpgas(fpgas)
    _check_out_dir(out_dir, force)

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if trial_number not in trials:
        known = f"0..{max(trials)}" if trials else "none yet"
        raise ConfigError(f"study {study.study_name!r} has no trial {trial_number} (trials: {known})")
    trial = trials[trial_number]
    if trial.state.name != "COMPLETE":
        raise ConfigError(f"trial {trial_number} is {trial.state.name}, only COMPLETE trials can be exported")
    stopped = trial.user_attrs.get("stopped_by")
    if stopped is not None:
        why = "the estimators stopped it before training" if stopped == "estimator" else "its training was stopped early"
        raise ConfigError(f"trial {trial_number} has no trained model to export: {why} "
                          f"({trial.user_attrs.get('reason', 'no reason recorded')})")
    files = TrialFiles(StudyLayout(Path(workdir)).root / trial.user_attrs["artifact_dir"])
    missing = [p.name for p in (files.model, files.folding, files.estimate) if not p.exists()]
    if missing:
        raise ConfigError(f"trial {trial_number}'s artifacts are missing in {files.root}: {', '.join(missing)}")
    on_front = trial_number in {t.number for t in study.best_trials}
    if not on_front:
        logger.warning("trial %d is not on the Pareto front; exporting it anyway", trial_number)

    spec = parse_spec(study.user_attrs["spec"], source=f"study {study.study_name}")
    hw = spec.hardware
    estimate = json.loads(files.estimate.read_text())
    accuracy = {k: float(trial.user_attrs[k]) for k in ("val_accuracy", "test_accuracy")}
    clock_ns = float(estimate.get("clock_ns", hw.clock_ns))  # the design's own clock (the space may vary it)
    placed = None
    if fpgas is not None and fpgas > 1:
        if build_options and "partitioning_configuration" in build_options:
            raise ConfigError("build option 'partitioning_configuration' is set by --fpgas (our partition); "
                              "give one or the other")
        placed = _partition_design(files.model, json.loads(files.folding.read_text()), board=hw.board,
                                   clock_ns=clock_ns, fpgas=fpgas, trial=trial_number)
    config = build_config(board=hw.board, clock_ns=clock_ns, mvau_wwidth_max=hw.mvau_wwidth_max,
                          vitis_platform=get_board(hw.board).vitis_platform, options=build_options,
                          partitioning=partitioning_configuration(placed) if placed is not None else None)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as err:
        raise naming(err, out_dir) from None
    tmp.chmod(0o755)  # mkdtemp's 0700 would make the bundle private
    try:
        _write_bundle(tmp, study, trial, files, spec, estimate, accuracy, config, on_front, placed)
        edited_now = _keep_edited_build_yaml(out_dir, tmp)
        kept = out_dir / PREVIOUS_BUILD_YAML if (tmp / PREVIOUS_BUILD_YAML).exists() else None
        _publish(tmp, out_dir)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and err.filename and str(err.filename).startswith(str(tmp)):
            raise naming(err, out_dir / Path(err.filename).relative_to(tmp)) from None  # the name it would have
        raise
    if edited_now:
        logger.warning("the build.yaml in %s differed from the new one (edited?): kept as %s", out_dir, kept)
    return Bundle(out_dir, trial_number, on_front, kept, edited_now)


def _keep_edited_build_yaml(out_dir: Path, new: Path) -> bool:
    """Copy ``out_dir``'s build.yaml into the new bundle ``new`` as build.yaml.previous if it
    differs from the new build.yaml (a forced re-export must not lose a user's edits silently);
    else carry over a build.yaml.previous an earlier re-export kept. True when this one was edited."""
    old, previous = out_dir / "build.yaml", out_dir / PREVIOUS_BUILD_YAML
    if old.is_file() and old.read_bytes() != (new / "build.yaml").read_bytes():
        shutil.copyfile(old, new / PREVIOUS_BUILD_YAML)
        return True
    if previous.is_file():
        shutil.copyfile(previous, new / PREVIOUS_BUILD_YAML)
    return False


def _write_bundle(out_dir: Path, study: optuna.Study, trial: Any, files: TrialFiles, spec: Any,
                  estimate: dict[str, Any], accuracy: dict[str, float], config: dict[str, Any],
                  on_front: bool, placed: Partition | None = None) -> None:
    import yaml

    from dse.estimate import multi_fpga_record

    trial_number, hw = trial.number, spec.hardware
    shutil.copyfile(files.model, out_dir / "model.onnx")
    shutil.copyfile(files.folding, out_dir / "folding_config.json")
    header = (f"# FINN DataflowBuildConfig (finn-plus 1.6.1) for study {study.study_name}, trial {trial_number}.\n"
              "# Build with: ./build.sh (checks the set-up, then: finn build --batch build.yaml model.onnx)\n")
    write_atomic(out_dir / "build.yaml", header + yaml.safe_dump(config, sort_keys=False))
    write_build_script(out_dir)
    write_json(out_dir / "estimates.json", {
        "study": study.study_name, "trial": trial_number, "params": dict(trial.params),
        # network-level studies: the trained network and which design of its hardware front this is
        **{k: trial.user_attrs[k] for k in ("network_id", "hardware_design_id") if k in trial.user_attrs},
        "accuracy": accuracy, "hardware": estimate,
        "source": ("FINN estimate (pre-synthesis)" if estimate.get("source", "finn") == "finn"
                   else "FINN-DSE estimators (pre-synthesis; FINN confirmation was off)"),
        "mvau_wwidth_max": hw.mvau_wwidth_max, "on_pareto_front": on_front,
        # per card: layers, resources, utilization, power; the links' load (estimators.partition)
        **({"multi_fpga": multi_fpga_record(placed, fpgas=placed.n_cards, exact=True)} if placed is not None else {}),
        "provenance": {"study": study.study_name, "trial": trial_number, "dataset": spec.dataset_label, "input_datatype": spec.input_datatype,
                       "packages": provenance()},
    })
    from dse.families import get_family

    family = spec.space.family
    shape, output = _model_io(files.model)
    shape = shape or ("1x784" if not get_family(family).image else "1x3x32x32")
    design = trial.user_attrs.get("design") or (f"weight bits {trial.params.get('weight_bits')}, activation bits "
                                                f"{trial.params.get('act_bits')}")
    readme = _readme(study.study_name, trial_number, str(design), spec.dataset_label, shape, estimate, accuracy,
                     config.get("vitis_platform"), spec.input_datatype, output)
    if placed is not None:
        readme += _multi_card_readme(placed)
    write_atomic(out_dir / "README.md", readme)
