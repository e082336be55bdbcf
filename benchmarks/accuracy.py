"""Test accuracy of the QAT families under a stated training budget, and accuracy vs pruning ratio.

Trains with dse.training.train (Adam, lr 0.01, cosine to 0 over the planned epochs, no
augmentation; ../shared/reference/TRAINING.md) and reports TEST accuracy of the final model;
the test split is never used to choose anything (only the validation split is seen during
training, and it is printed next to the test figure):
- TFC 784-64-64-64-10 w1a1 and w2a2 on MNIST (FINN references 93.17% / 96.60%);
- CNV (FINN topology) w1a1 and w2a2 on Fashion-MNIST as 3x32x32 (as_rgb32);
- accuracy vs pruning ratio for TFC w2a2 and CNV w2a2, as the DSE does it: the ratio-0 parent is
  trained once, each child is a copy of it pruned with dse.pruning (magnitude importance) and
  QAT fine-tuned for fewer epochs than the parent (ratio 0 is the parent itself);
- training throughput (samples/s, train phase only: validation/test passes excluded), overall and
  after Brevitas' 300-step activation-statistics phase.
The default CNV budget (a 15k-image training subset, 3 parent epochs, 1 fine-tune epoch; full
5k validation and 10k test sets) fits ~45 min on a 2-core CPU shared with other jobs (there,
--threads 1 was 3-10x faster than 2 threads); raise it with the flags (--cnv-train-subset 0 = all
55k) where there is more time or a GPU. --quick is a ~1-2 minute smoke run.
- the shipped recipe: CNV w2a2 on Fashion-MNIST trained exactly as the default CNV study's
  ``training:`` section says (studies/cnv_fashion.yaml: epochs, batch, lr, subset, val_size,
  augmentation, device; torch threads from --threads), the headline ``cnv_w2a2_fmnist_test_acc=``;
- training throughput per family (TFC, CNV, MobileNet; fixed-size probe of timed steps on random
  inputs) on the CPU and, where torch sees one, on CUDA, with the CUDA/CPU ratio.
--recipe runs only the TFC parents (cheap), the probe and the shipped recipe, and carries the
last full run's tables over, labelled with their date.
Usage: python benchmarks/accuracy.py [--quick] [--recipe] [--study studies/cnv_fashion.yaml] [--threads N]
       [--tfc-epochs 10] [--cnv-epochs 3] [--cnv-train-subset 15000] [--cnv-ft-epochs 1] [--ratios 0,0.25,0.5,0.75]
"""
from __future__ import annotations

import argparse
import copy
import inspect
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import Report  # noqa: E402

FINN_REFERENCE = {("tfc", 1): 0.9317, ("tfc", 2): 0.9660}  # FINN bnn_pynq TFC-w1a1 / TFC-w2a2 on MNIST
TARGETS = {("tfc", 1): 0.93, ("tfc", 2): 0.965}
STATS_STEPS = 300  # Brevitas' QuantReLU collects activation statistics for this many training steps


@dataclass
class Run:
    family: str  # "tfc" | "cnv"
    bits: int  # weights = activations
    dataset: str
    ratio: float
    widths: tuple[int, ...]
    params: int
    n_train: int
    epochs: int
    val: float = float("nan")
    test: float = float("nan")
    train_s: float = float("nan")  # train phase only
    eval_s: float = 0.0  # validation passes + the test pass inside train()
    steady_sps: float = float("nan")  # samples/s after the statistics phase
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.family.upper()} w{self.bits}a{self.bits}"

    @property
    def sps(self) -> float:
        return self.n_train * self.epochs / self.train_s


@dataclass
class _Clock:
    """Where the time of one train() call goes: eval passes vs training steps."""

    eval_s: float = 0.0
    eval_since_tick: bool = False
    ticks: list[tuple[float, int, bool]] = field(default_factory=list)  # (time, steps done, eval in between)

    def tick(self, done: int) -> None:
        self.ticks.append((time.perf_counter(), done, self.eval_since_tick))
        self.eval_since_tick = False

    def steady_steps_per_s(self, skip_steps: int) -> float:
        """Steps/s over progress intervals with no eval pass in them, after ``skip_steps`` steps."""
        steps, secs = 0, 0.0
        for (t0, d0, _), (t1, d1, ev) in zip(self.ticks, self.ticks[1:]):
            if not ev and d1 > d0 and d0 >= skip_steps:
                steps, secs = steps + d1 - d0, secs + t1 - t0
        return steps / secs if secs > 0 else float("nan")


@contextmanager
def _timed_eval(clock: _Clock) -> Iterator[None]:
    """Time dse.training.accuracy (train() looks it up at call time) so that throughput excludes it."""
    import dse.training as training

    original = training.accuracy

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            clock.eval_s += time.perf_counter() - t0
            clock.eval_since_tick = True

    training.accuracy = timed
    try:
        yield
    finally:
        training.accuracy = original


def _subset(split, n: int | None):  # noqa: ANN001, ANN202
    """The first n images (the DSE's train_subset convention: the split is already a seeded shuffle)."""
    from dse.data import Split

    if not n or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n])


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


STUDY = Path(__file__).resolve().parents[1] / "studies" / "cnv_fashion.yaml"
PROBE = {"tfc": (256, 40), "cnv": (128, 12), "mobilenet": (128, 20)}  # batch, timed steps
PROBE_WARMUP = 3
PREVIOUS_MARK = "## previous full run"


def probe_throughput(device: str) -> dict[str, float]:
    """Training samples/s of each family's unpruned w2a2 network on ``device``: PROBE timed Adam
    steps after PROBE_WARMUP, on one fixed batch of random pixel values (no data loading). A fresh
    net is in Brevitas' activation-statistics phase, as the first 300 steps of every parent are."""
    import torch

    from dse.models.cnv import CNVConfig, build_cnv
    from dse.models.mobilenet import MobileNetConfig, build_mobilenet
    from dse.models.tfc import TFCConfig, build_tfc
    from dse.training import loss

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    out: dict[str, float] = {}
    for family, (batch, steps) in PROBE.items():
        torch.manual_seed(0)
        if family == "tfc":
            model: torch.nn.Module = build_tfc(TFCConfig(hidden=(64, 64, 64), weight_bits=2, act_bits=2))
            shape: tuple[int, ...] = (batch, 784)
        elif family == "cnv":
            model, shape = build_cnv(CNVConfig(weight_bits=2, act_bits=2)), (batch, 3, 32, 32)
        else:
            model, shape = build_mobilenet(MobileNetConfig(weight_bits=2, act_bits=2)), (batch, 3, 32, 32)
        model.to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        x = torch.randint(0, 256, shape).float().to(device)
        y = torch.randint(0, 10, (batch,)).to(device)
        t0 = time.perf_counter()
        for i in range(PROBE_WARMUP + steps):
            if i == PROBE_WARMUP:
                sync()
                t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss(model(x), y).backward()
            optimizer.step()
        sync()
        out[family] = batch * steps / (time.perf_counter() - t0)
    return out


def previous_full_run(path: Path) -> list[str]:
    """The tables of the last full run in the results file at ``path``: the whole file if a full run
    wrote it, else the block a --recipe run carried over (already labelled); [] if there is none."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(PREVIOUS_MARK):  # the carried block: the mark and its indented lines
            block = [line]
            for ln in lines[i + 1:]:
                if not ln.startswith("  "):
                    break
                block.append(ln)
            return block
    if not lines or not lines[0].startswith("# accuracy") or "--recipe" in "".join(lines[:3]):
        return []
    date = lines[0].removeprefix("# accuracy").strip()
    body = [ln for ln in lines[1:] if ln.strip()]
    return [f"{PREVIOUS_MARK} ({date}), NOT re-run by this --recipe run; its figures are from that date:",
            *("  " + ln for ln in body)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="~1-2 minute smoke run (1 epoch, tiny CNV subsets); prints, does not save unless --save")
    ap.add_argument("--save", action="store_true", help="with --quick: write the results file anyway")
    ap.add_argument("--tfc-epochs", type=int, default=10)
    ap.add_argument("--tfc-ft-epochs", type=int, default=3, help="fine-tune epochs of each pruned TFC child")
    ap.add_argument("--tfc-batch", type=int, default=256)
    ap.add_argument("--tfc-train-subset", type=int, default=0, help="TFC training images (0 = all 55k)")
    ap.add_argument("--cnv-epochs", type=int, default=3)
    ap.add_argument("--cnv-ft-epochs", type=int, default=1, help="fine-tune epochs of each pruned CNV child")
    ap.add_argument("--cnv-batch", type=int, default=128)
    ap.add_argument("--cnv-train-subset", type=int, default=15_000, help="CNV training images (0 = all 55k)")
    ap.add_argument("--cnv-eval-subset", type=int, default=0,
                    help="CNV validation and test images (0 = all: 5k validation, 10k test)")
    ap.add_argument("--lr", type=float, default=0.01, help="Adam lr for parents and fine-tunes")
    ap.add_argument("--ratios", default="0,0.25,0.5,0.75", help="pruning ratios (fraction of channels removed)")
    ap.add_argument("--skip-cnv", action="store_true", help="TFC only (no CNV run, not the shipped recipe either)")
    ap.add_argument("--recipe", action="store_true",
                    help="only the TFC parents, the throughput probe and the shipped CNV w2a2 recipe; the last full "
                         "run's tables are carried over, labelled with their date")
    ap.add_argument("--study", type=Path, default=STUDY,
                    help="the study whose training: section is the shipped CNV recipe (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", type=Path, default=None, help="default: $FINN_DSE_DATA or ~/.cache/finn-dse/data")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0 = the cores this process may use; on a CPU shared with other jobs "
                         "1 can be much faster)")
    args = ap.parse_args()
    if args.quick:
        args.tfc_epochs, args.tfc_ft_epochs, args.cnv_epochs, args.cnv_ft_epochs = 1, 1, 1, 1
        args.tfc_train_subset, args.cnv_train_subset, args.cnv_eval_subset = 10_000, 512, 500
    previous = previous_full_run(Path(__file__).resolve().parent / "results" / "accuracy.txt") if args.recipe else []
    ratios = [float(r) for r in args.ratios.split(",")]
    if not ratios or ratios[0] != 0.0:
        ap.error("--ratios must start with 0 (the parent)")

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dse._quiet import captured

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    with captured(None):  # torch/brevitas print on first import
        import torch

        from dse.data import as_rgb32, default_data_root, load_fashion_mnist, load_mnist
        from dse.models.cnv import CNVConfig, build_cnv
        from dse.models.tfc import TFCConfig, build_tfc
        from dse.pruning import plan_pruning, prune
        from dse.spec import load_spec
        from dse.training import resolve_device, train
    warnings.filterwarnings("ignore", message="Named tensors")  # Brevitas internals, every step

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = args.threads or cores
    torch.set_num_threads(threads)
    want_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    train_takes_device = "device" in inspect.signature(train).parameters
    device = "cuda" if want_cuda and train_takes_device else "cpu"
    device_note = ""
    if want_cuda and not train_takes_device:
        device_note = " (CUDA present but dse.training.train has no device argument: CPU)"

    cnv_sub = args.cnv_train_subset or 55_000
    tfc_sub = args.tfc_train_subset or 55_000
    cnv_eval = f"{args.cnv_eval_subset} val / {args.cnv_eval_subset} test" if args.cnv_eval_subset \
        else "5k val / 10k test"
    settings = (f"{'QUICK SMOKE RUN; ' if args.quick else ''}Adam lr {args.lr}, cosine to 0 per run, no augmentation, "
                f"seed {args.seed}, {device}{device_note}, {threads} torch threads on {cores} cores; "
                f"TFC: MNIST {min(tfc_sub, 55_000)} train images, {args.tfc_epochs} epochs, batch {args.tfc_batch}; "
                f"CNV: Fashion-MNIST 3x32x32, {min(cnv_sub, 55_000)} train images, {args.cnv_epochs} epochs, "
                f"batch {args.cnv_batch}, {cnv_eval}; pruning ratios {ratios} with magnitude importance "
                f"(multiple 4) on the trained parent, fine-tune {args.tfc_ft_epochs} (TFC) / "
                f"{args.cnv_ft_epochs} (CNV) epochs at the same lr")
    spec = load_spec(args.study)
    tr = spec.training
    recipe_dev = str(resolve_device(tr.device)) if train_takes_device else "cpu"
    recipe_sub = min(tr.train_subset or 55_000, 55_000 + 5_000 - tr.val_size)
    recipe_eval = 500 if args.quick else None
    recipe_epochs = 1 if args.quick else tr.epochs
    if args.quick:
        recipe_sub = 512
    recipe_settings = (f"shipped CNV w2a2 recipe ({args.study.name} training:): Fashion-MNIST 3x32x32, "
                       f"{recipe_sub} train images, {recipe_epochs} epochs{' (QUICK)' if args.quick else ''}, "
                       f"batch {tr.batch_size}, Adam lr {tr.lr} cosine to 0, augment {tr.augment}, "
                       f"{tr.val_size} val held out (seed {spec.seed}), device {recipe_dev}, {threads} torch threads")
    if args.recipe:
        settings = (f"{'QUICK SMOKE RUN; ' if args.quick else ''}--recipe: TFC parents (MNIST "
                    f"{min(tfc_sub, 55_000)} train images, {args.tfc_epochs} epochs, batch {args.tfc_batch}, Adam lr "
                    f"{args.lr}, seed {args.seed}, {device}), throughput probe, and the {recipe_settings}")
    else:
        settings += f"; {recipe_settings}"
    rep = Report("accuracy", settings)
    wall0 = time.perf_counter()

    root = args.data_root or default_data_root(os.environ)
    mnist = load_mnist(root, seed=args.seed)
    if args.tfc_train_subset:
        from dse.data import Dataset

        mnist = Dataset(train=_subset(mnist.train, tfc_sub), val=mnist.val, test=mnist.test)
    jobs: list[tuple[Run, Callable[[], None]]] = []
    runs: list[Run] = []
    parents: dict[tuple[str, int], object] = {}

    def n_params(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)

    def fit(run: Run, model: torch.nn.Module, data, epochs: int, batch: int, fresh: bool, task) -> None:  # noqa: ANN001
        clock = _Clock()
        desc = f"{run.label} r={run.ratio:g}"

        def report(done: int, total: int, epoch: int, val: float | None) -> None:
            clock.tick(done)
            info = f"epoch {epoch + 1}/{epochs}" + (f", val {val:.4f}" if val is not None else "")
            progress.update(task, description=desc, completed=done, total=total, info=info)
            if clock.ticks[-1][2] and not console.is_terminal:  # just after a validation pass: log it
                console.print(f"  {desc}: {info}, {time.perf_counter() - wall0:.0f} s elapsed")

        _seed_all(args.seed)
        model.to(device)
        kwargs = {"device": device} if train_takes_device else {}
        with _timed_eval(clock):
            res = train(model, data.train, data.val, data.test, epochs=epochs, batch_size=batch, lr=args.lr,
                        seed=args.seed, progress=report, **kwargs)
        steps_per_epoch = -(-len(data.train) // batch)
        run.val, run.test, run.epochs = res.val_accuracy, res.test_accuracy, res.epochs
        run.eval_s, run.train_s = clock.eval_s, res.seconds - clock.eval_s
        run.steady_sps = clock.steady_steps_per_s(STATS_STEPS if fresh else 0) * len(data.train) / steps_per_epoch
        console.print(f"  {desc}: val {run.val:.4f} test {run.test:.4f}, train {run.train_s:.1f} s "
                      f"({run.sps:,.0f} samples/s), eval {run.eval_s:.1f} s")

    def family_runs(family: str, bits: int, data, epochs: int, ft_epochs: int, batch: int,
                    with_ratios: bool) -> None:  # noqa: ANN001
        if family == "tfc":
            cfg = TFCConfig(hidden=(64, 64, 64), weight_bits=bits, act_bits=bits)
            build, example = build_tfc, torch.zeros(1, 784)
        else:
            cfg = CNVConfig(weight_bits=bits, act_bits=bits)
            build, example = build_cnv, torch.zeros(1, 3, 32, 32)
        dataset = "MNIST" if family == "tfc" else "Fashion-MNIST 3x32x32"
        parent_run = Run(family, bits, dataset, 0.0, tuple(plan_pruning(cfg, ratio=0.0).keep), 0,
                         len(data.train), epochs)

        def parent_job(task) -> None:  # noqa: ANN001
            _seed_all(args.seed)
            model = build(cfg)
            parent_run.params = n_params(model)
            fit(parent_run, model, data, epochs, batch, fresh=True, task=task)
            parents[(family, bits)] = model

        jobs.append((parent_run, parent_job))
        if not with_ratios:
            return
        for ratio in ratios[1:]:
            plan = plan_pruning(cfg, ratio=ratio)
            child_run = Run(family, bits, dataset, ratio, plan.keep, 0, len(data.train), ft_epochs)

            def child_job(task, plan=plan, child_run=child_run) -> None:  # noqa: ANN001
                model = copy.deepcopy(parents[(family, bits)]).cpu()
                prune(model, plan, example_input=example, importance="magnitude")
                child_run.params = n_params(model)
                fit(child_run, model, data, ft_epochs, batch, fresh=False, task=task)

            jobs.append((child_run, child_job))

    family_runs("tfc", 1, mnist, args.tfc_epochs, args.tfc_ft_epochs, args.tfc_batch, with_ratios=False)
    family_runs("tfc", 2, mnist, args.tfc_epochs, args.tfc_ft_epochs, args.tfc_batch, with_ratios=not args.recipe)
    if not args.skip_cnv and not args.recipe:
        fm = load_fashion_mnist(root, seed=args.seed)
        from dse.data import Dataset

        ev = args.cnv_eval_subset or None
        fmnist = Dataset(train=as_rgb32(_subset(fm.train, cnv_sub)), val=as_rgb32(_subset(fm.val, ev)),
                         test=as_rgb32(_subset(fm.test, ev)))
        family_runs("cnv", 1, fmnist, args.cnv_epochs, args.cnv_ft_epochs, args.cnv_batch, with_ratios=False)
        family_runs("cnv", 2, fmnist, args.cnv_epochs, args.cnv_ft_epochs, args.cnv_batch, with_ratios=True)

    probe: dict[str, dict[str, float]] = {}

    def probe_job(task) -> None:  # noqa: ANN001
        progress.update(task, description="throughput probe", completed=0, total=1, info="cpu")
        probe["cpu"] = probe_throughput("cpu")
        if torch.cuda.is_available():
            probe["cuda"] = probe_throughput("cuda")
        console.print("  throughput probe: " + ", ".join(f"{dev} {fam} {sps:,.0f}/s" for dev, by in probe.items()
                                                          for fam, sps in by.items()))

    recipe_run = Run("cnv", 2, "Fashion-MNIST 3x32x32", 0.0, tuple(plan_pruning(CNVConfig(weight_bits=2, act_bits=2),
                     ratio=0.0).keep), 0, recipe_sub, recipe_epochs, note="recipe")

    def recipe_job(task) -> None:  # noqa: ANN001
        from dse.data import Dataset

        fm = load_fashion_mnist(root, val_size=tr.val_size, seed=spec.seed)
        data = Dataset(train=as_rgb32(_subset(fm.train, recipe_sub)), val=as_rgb32(_subset(fm.val, recipe_eval)),
                       test=as_rgb32(_subset(fm.test, recipe_eval)))
        clock = _Clock()
        desc = "CNV w2a2 shipped recipe"
        last_val: list[float] = []

        def report(done: int, total: int, epoch: int, val: float | None) -> None:
            clock.tick(done)
            info = f"epoch {epoch + 1}/{recipe_epochs}" + (f", val {val:.4f}" if val is not None else "")
            progress.update(task, description=desc, completed=done, total=total, info=info)
            if clock.ticks[-1][2] and val is not None and last_val[-1:] != [val]:  # a validation pass: log it
                last_val.append(val)
                console.print(f"  {desc}: {info}, {time.perf_counter() - wall0:.0f} s elapsed")

        _seed_all(spec.seed)
        model = build_cnv(CNVConfig(weight_bits=2, act_bits=2))
        recipe_run.params = n_params(model)
        kwargs = {"device": recipe_dev, "augment": tr.augment} if train_takes_device else {}
        with _timed_eval(clock):
            res = train(model, data.train, data.val, data.test, epochs=recipe_epochs, batch_size=tr.batch_size,
                        lr=tr.lr, seed=spec.seed, progress=report, **kwargs)
        steps_per_epoch = -(-len(data.train) // tr.batch_size)
        recipe_run.val, recipe_run.test, recipe_run.epochs = res.val_accuracy, res.test_accuracy, res.epochs
        recipe_run.eval_s, recipe_run.train_s = clock.eval_s, res.seconds - clock.eval_s
        recipe_run.steady_sps = clock.steady_steps_per_s(STATS_STEPS) * len(data.train) / steps_per_epoch
        recipe_run.note = "val by epoch " + " ".join(f"{v:.4f}" for v in res.val_history)
        console.print(f"  {desc}: val {recipe_run.val:.4f} test {recipe_run.test:.4f}, "
                      f"train {recipe_run.train_s:.1f} s ({recipe_run.sps:,.0f} samples/s), eval {recipe_run.eval_s:.1f} s")

    if not args.skip_cnv:
        jobs.append((Run("probe", 2, "-", 0.0, (), 0, 0, 0), probe_job))
        jobs.append((recipe_run, recipe_job))

    with progress:
        overall = progress.add_task("all runs", total=len(jobs), info="")
        task = progress.add_task("", total=1, info="")
        for i, (run, job) in enumerate(jobs):
            progress.update(overall, completed=i, info=f"{run.label} ratio {run.ratio:g}")
            job(task)
            if run.family != "probe" and run is not recipe_run:
                runs.append(run)
        progress.update(overall, completed=len(jobs))
    wall_s = time.perf_counter() - wall0

    rep.say()
    rep.say("Test accuracy (final model of each run; the validation split is the only one seen during training)")
    head = (f"{'model':<10}{'data':<23}{'ratio':>6} {'widths':<34}{'params':>10}{'train imgs x ep':>17}"
            f"{'val':>8}{'test':>8}{'FINN ref':>9}")
    rep.say(head)
    rep.say("-" * len(head))
    for r in runs:
        ref = FINN_REFERENCE.get((r.family, r.bits)) if r.ratio == 0 else None
        how = f"{r.n_train:,} x {r.epochs}" + (" ft" if r.ratio else "")
        widths = ",".join(map(str, r.widths))
        rep.say(f"{r.label:<10}{r.dataset:<23}{r.ratio:>6.2f} {widths:<34}{r.params:>10,}{how:>17}"
                f"{r.val:>8.4f}{r.test:>8.4f}{(f'{ref:.4f}' if ref else '-'):>9}")
    rep.say("(ratio > 0: the trained ratio-0 parent pruned with magnitude importance, then QAT fine-tuned "
            "'ft' for the stated epochs)")

    rep.say()
    rep.say(f"Training throughput on {device} (train phase only; samples/s overall, and 'steady': "
            f"after the first {STATS_STEPS} steps of each parent, Brevitas' slower activation-statistics phase for w2a2)")
    head = f"{'model':<10}{'ratio':>6}{'batch':>7}{'train s':>10}{'samples/s':>11}{'steady':>9}{'eval s':>9}"
    rep.say(head)
    rep.say("-" * len(head))
    for r in runs:
        batch = args.tfc_batch if r.family == "tfc" else args.cnv_batch
        steady = f"{r.steady_sps:,.0f}" if np.isfinite(r.steady_sps) else "-"
        rep.say(f"{r.label:<10}{r.ratio:>6.2f}{batch:>7}{r.train_s:>10.1f}{r.sps:>11,.0f}{steady:>9}{r.eval_s:>9.1f}")
    for fam in ("tfc", "cnv"):
        unpruned = [r for r in runs if r.family == fam and r.ratio == 0]
        if unpruned:
            tot = sum(r.n_train * r.epochs for r in unpruned) / sum(r.train_s for r in unpruned)
            rep.say(f"{fam.upper()} unpruned parents: {tot:,.0f} samples/s overall "
                    f"(one 55k epoch ~ {55_000 / tot:.0f} s)")

    if not args.skip_cnv:
        r = recipe_run
        rep.say()
        shown = args.study.resolve()
        root_dir = Path(__file__).resolve().parents[1]
        shown_s = str(shown.relative_to(root_dir)) if shown.is_relative_to(root_dir) else str(shown)
        rep.say(f"Shipped recipe: CNV w2a2 trained as {shown_s} says ({recipe_settings})")
        rep.say(f"  {r.params:,} params, {r.n_train:,} x {r.epochs} epochs: val {r.val:.4f}, TEST {r.test:.4f} "
                f"(on {recipe_eval or 10_000:,} test images, never seen in training); "
                f"{r.note}")
        rep.say(f"  train {r.train_s / 60:.1f} min ({r.sps:,.0f} samples/s overall, {r.steady_sps:,.0f} after "
                f"the statistics phase), eval passes {r.eval_s:.0f} s")
        rep.say(f"  target CNV w2a2 Fashion-MNIST >= 90.0%: {r.test:.2%} ({'met' if r.test >= 0.90 else 'MISSED'})")

        rep.say()
        rep.say(f"Training throughput per family (probe: unpruned w2a2 net, {PROBE_WARMUP} warm-up + N timed Adam "
                "steps on one random batch, Brevitas' statistics phase; samples/s)")
        head = f"{'family':<11}{'batch':>6}{'steps':>6}{'cpu':>10}{'cuda':>10}{'cuda/cpu':>10}"
        rep.say(head)
        rep.say("-" * len(head))
        for fam, (batch, steps) in PROBE.items():
            cpu, cuda = probe["cpu"][fam], probe.get("cuda", {}).get(fam)
            rep.say(f"{fam:<11}{batch:>6}{steps:>6}{cpu:>10,.0f}" + (f"{cuda:>10,.0f}{cuda / cpu:>10.1f}" if cuda
                    else f"{'-':>10}{'-':>10}"))
        if "cuda" not in probe:
            rep.say(f"CUDA column NOT MEASURED: torch sees no CUDA device on this machine (torch {torch.__version__}, "
                    f"CUDA build {torch.version.cuda or 'none'}); nothing is estimated in its place")

    if previous:
        rep.say()
        for line in previous:
            rep.say(line)

    rep.say()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rep.say(f"wall time {wall_s / 60:.1f} min, {threads} torch threads on {cores} cores (load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: the machine is shared, so times are upper bounds)")
    accs = {(r.family, r.bits): r.test for r in runs if r.ratio == 0}
    for key, target in TARGETS.items():
        if key in accs:
            ok = "met" if accs[key] >= target else "MISSED"
            rep.say(f"target TFC w{key[1]}a{key[1]} >= {target:.1%}: {accs[key]:.2%} ({ok})")
    cnv_key = "" if args.skip_cnv else f" cnv_w2a2_fmnist_test_acc={recipe_run.test:.4f}"
    rep.say(f"tfc_w2a2_test_acc={accs[('tfc', 2)]:.4f} tfc_w1a1_test_acc={accs[('tfc', 1)]:.4f}{cnv_key}")
    if args.quick and not args.save:
        console.print("quick smoke run: results not saved (add --save to write them)")
    else:
        console.print(f"wrote {rep.save()}")


if __name__ == "__main__":
    main()
