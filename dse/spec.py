"""The study file: what to search, how to train, which hardware to judge against.

One job (why it is over 400 lines): the study file's schema, its validation and its one-line errors.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from dse.errors import ConfigError, cut, shorten
from estimators.devices import BOARDS
from search_spaces import Space, TFCSpace
from search_spaces.schema import Strict

# The families a study file may name: the tags of search_spaces.Space (each family's space);
# a study file without space.family gets the default space's.
SPACE_FAMILIES: tuple[str, ...] = tuple(cls.model_fields["family"].default for cls in get_args(get_args(Space)[0]))
DEFAULT_SPACE = TFCSpace()

# Objective name in the study file -> (trial attribute, direction).
OBJECTIVES: dict[str, tuple[str, Literal["minimize", "maximize"]]] = {
    "accuracy": ("val_accuracy", "maximize"),
    "fps": ("fps", "maximize"),
    "latency_us": ("latency_us", "minimize"),
    "lut": ("lut", "minimize"),
    "bram18": ("bram18", "minimize"),
    "uram": ("uram", "minimize"),
    "dsp": ("dsp", "minimize"),
    "energy_uj": ("energy_uj", "minimize"),
}
ObjectiveName = Literal["accuracy", "fps", "latency_us", "lut", "bram18", "uram", "dsp", "energy_uj"]
SamplerName = Literal["tpe", "nsga2", "gp", "random"]
DatasetName = Literal["mnist", "fashion_mnist", "cifar10"]
_REF = re.compile(r"^[^:\s]+:[A-Za-z_][A-Za-z0-9_.]*$")
# FINN datatypes a dataset's inputs may be declared as (qonnx.core.datatype names).
_DATATYPE = re.compile(r"^(UINT8|BIPOLAR|BINARY|FLOAT32|U?INT([1-9]|1[0-6]))$")


def datatype_range(datatype: str) -> tuple[int, int] | None:
    """The integer values a FINN datatype holds (lowest, highest); None for FLOAT32."""
    if datatype == "FLOAT32":
        return None
    if datatype == "BIPOLAR":
        return -1, 1
    if datatype == "BINARY":
        return 0, 1
    bits = int(datatype.removeprefix("U").removeprefix("INT"))
    return (0, 2**bits - 1) if datatype.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)



class _OwnDataset(Strict):
    """A dataset the user brings. Relative paths are taken from the directory `finn-dse` runs in
    (as user model paths are); what the files hold is checked when they are loaded (dse/user_data.py)."""

    num_classes: int = Field(ge=2, le=65536)
    # What FINN sees at the graph input: UINT8 pixels, BIPOLAR (+-1), BINARY (0/1), INTn / UINTn
    # integer features, or FLOAT32 for floats the model quantizes itself (its own input quantizer).
    input_datatype: str
    # One sample's shape without the batch, e.g. [32] or [1, 28, 28]: optional, checked against the
    # data; filled in from the data when the study starts (the networks are shaped by it).
    input_shape: tuple[int, ...] | None = Field(default=None, min_length=1, max_length=3)

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and any(d < 1 for d in value):
            raise ValueError(f"dimensions must be >= 1, got {list(value)}")
        return value

    @field_validator("input_datatype", mode="before")
    @classmethod
    def _datatype(cls, value: Any) -> Any:
        name = value.upper() if isinstance(value, str) else value
        if not isinstance(name, str) or not _DATATYPE.match(name) or name == "INT1":
            raise ValueError("expected a FINN datatype: UINT8, BIPOLAR, BINARY, INT2..INT16, UINT1..UINT16 or FLOAT32")
        return name


class NpzDataset(_OwnDataset):
    """Arrays in one .npz file: x_train, y_train, x_test, y_test, optionally x_val and y_val."""

    kind: Literal["npz"]
    path: str = Field(min_length=1)


class FunctionDataset(_OwnDataset):
    """``package.module:function`` (or ``file.py:function``) called without arguments; returns a dict
    with the .npz's keys, or {"train": ..., "test": ..., "val": ...} of (x, y) pairs or torch Datasets."""

    kind: Literal["function"]
    function: str

    @field_validator("function")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not _REF.match(value):
            raise ValueError("expected 'package.module:function' or 'path/to/file.py:function'")
        return value


class ImageFolderDataset(_OwnDataset):
    """``path/train/<class>/*.png`` and ``path/test/<class>/*.png`` (optionally ``path/val/``): one
    sub-folder per class, classes in sorted name order; PNG, JPEG, BMP or PPM/PGM images of one size."""

    kind: Literal["image_folder"]
    path: str = Field(min_length=1)
    # Images are converted to this mode: L gives 1 x H x W, RGB 3 x H x W.
    mode: Literal["L", "RGB"] = "RGB"

    @model_validator(mode="after")
    def _pixels(self) -> ImageFolderDataset:
        if self.input_datatype != "UINT8":
            raise ValueError(f"image folders hold 8-bit pixels: input_datatype must be UINT8, got {self.input_datatype}")
        return self


DATASET_KINDS = ("npz", "function", "image_folder")


def _dataset_tag(value: Any) -> str | None:
    # A name is a built-in dataset; a mapping is the user's own, told apart by its kind.
    if isinstance(value, dict):
        return value.get("kind") if isinstance(value.get("kind"), str) else None
    return str(getattr(value, "kind")) if isinstance(value, _OwnDataset) else "builtin"


DatasetSpec = Annotated[
    Annotated[DatasetName, Tag("builtin")] | Annotated[NpzDataset, Tag("npz")]
    | Annotated[FunctionDataset, Tag("function")] | Annotated[ImageFolderDataset, Tag("image_folder")],
    Discriminator(_dataset_tag, custom_error_type="dataset_kind",
                  custom_error_message=f"a built-in name or a mapping with kind: {', '.join(DATASET_KINDS)}"),
]


class TrainingSpec(Strict):
    epochs: int = Field(default=3, ge=1, le=1000)
    batch_size: int = Field(default=128, ge=1, le=65536)
    lr: float = Field(default=0.01, gt=0, le=10)
    # Train on the first N training images only (quick studies); None = all 55k after the val split.
    train_subset: int | None = Field(default=None, ge=100)
    val_size: int = Field(default=5000, ge=100, le=30000)
    # auto: a CUDA GPU when torch sees one, else the CPU. Weights are saved and exported from the CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # crop_flip: random crop after zero-padding by 4 + horizontal flip, on training batches only, for
    # photos such as CIFAR-10. Off by default: a mirrored digit (MNIST-like sets) is no digit, and
    # features that are not images cannot be cropped.
    augment: Literal["none", "crop_flip"] = "none"
    # torch's CPU threads; None: OMP_NUM_THREADS if set, else the cores this process may run on.
    threads: int | None = Field(default=None, ge=1, le=1024)
    # The validation score the search optimizes instead of top-1 accuracy (objective "accuracy",
    # limits.min_accuracy, early stopping, deferral): ``package.module:function`` or
    # ``path/to/file.py:function``, called as fn(predictions or logits, labels) on numpy arrays of the
    # validation and test splits, returning a float in [0, 1], higher is better (dse/user_metric.py).
    metric: str | None = None
    # What the metric gets first: class indices (N,), or the network's logits (N, classes or 1).
    metric_on: Literal["predictions", "logits"] = "predictions"

    @field_validator("metric")
    @classmethod
    def _metric_ref(cls, value: str | None) -> str | None:
        if value is not None and not _REF.match(value):
            raise ValueError("expected 'package.module:function' or 'path/to/file.py:function'")
        return value

    def identity(self) -> dict[str, Any]:
        """What decides the trained weights and their recorded score (network keys): not where or on
        how many threads it runs; augment and metric only when set, so networks trained before they
        existed keep their keys."""
        ident = self.model_dump(mode="json", exclude={"device", "threads"})
        if self.augment == "none":
            del ident["augment"]
        if self.metric is None:
            del ident["metric"], ident["metric_on"]
        return ident

    @property
    def metric_label(self) -> str:
        """What the validation score is, in reasons and reports: accuracy or the metric's name."""
        return "accuracy" if self.metric is None else self.metric.rpartition(":")[2].rpartition(".")[2]


MAX_FPGAS = 48  # cards in one chain: as many as AuroraFlow was tested on


class HardwareSpec(Strict):
    board: str = "U280"
    clock_ns: float = Field(default=5.0, gt=0, le=100)
    # FINN's SetFolding caps SIMD x weight bits at this (FINN default 36); raise it for faster designs.
    mvau_wwidth_max: int = Field(default=36, ge=1, le=8191)
    # Card counts to judge each network on (a chain of cards over Aurora links, estimators.partition).
    # Front mode adds each network's fastest design on K > 1 cards (dse.networks.multi_card_designs);
    # per-trial designs are still judged on one card (see README "Study files").
    fpgas: tuple[Annotated[int, Field(ge=1, le=MAX_FPGAS)], ...] = Field(default=(1,), min_length=1)

    @field_validator("fpgas")
    @classmethod
    def _distinct_counts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("list each card count once")
        return tuple(sorted(value))

    @field_validator("board")
    @classmethod
    def _known_board(cls, value: str) -> str:
        if value not in BOARDS:
            raise ValueError(f"unknown board {value!r}; allowed: {', '.join(sorted(BOARDS))}")
        return value


class LimitsSpec(Strict):
    """Hard limits. A design that breaks one is infeasible: never on the Pareto front, and the
    samplers see it as such. Hardware limits are checked by the estimators before any training;
    ``min_accuracy`` stops training early once it is out of reach."""

    # Fit the board with this share of every usable resource kept free (0.1 = use at most 90%).
    fit_margin: float = Field(default=0.0, ge=0, lt=1)
    min_accuracy: float | None = Field(default=None, gt=0, le=1)
    min_fps: float | None = Field(default=None, gt=0)
    max_latency_us: float | None = Field(default=None, gt=0)


FRONT_STOP_HEADROOM = 0.2
PER_TRIAL_STOP_HEADROOM = 0.15


class EvaluationSpec(Strict):
    # Estimate every design with the fast graph path first; stop designs that break a hardware limit.
    estimator_first: bool = True
    # Confirm trained designs with FINN's own estimate flow on the exported model (~1-3 s).
    finn_confirm: bool = True
    # Early stop: at a validation check, stop when accuracy + headroom x (share of training left) <
    # min_accuracy. Default 0.2 with hardware: front (a network stopped by mistake loses its whole
    # front; fold_many measured 0.15 stopping networks that end above the minimum), 0.15 per_trial.
    early_stop_headroom: float = Field(default=FRONT_STOP_HEADROOM, ge=0, le=1)  # left out or null: the mode's (_mode_headroom)
    # Export the trained model as QONNX (needed by `finn-dse export` and FINN confirmation).
    export_model: bool = True
    # Validation checks per epoch (early stopping decides at each; cheap for MLPs, ~15 s for CNV).
    checks_per_epoch: int = Field(default=1, ge=1, le=100)
    # front: the sampler proposes networks only; each is trained at most once and every design of
    # its exact hardware front (folding levels x memory styles x clocks) becomes a trial.
    # per_trial: the sampler also proposes the hardware (one folding per trial and training).
    hardware: Literal["front", "per_trial"] = "front"
    # front mode: defer (record, train only once every other network was proposed) a network that
    # cannot add hypervolume even at an optimistic accuracy (README "Network-level studies"): a
    # fully trained bigger network's accuracy plus this headroom, or what the accuracy check let a
    # bigger one it stopped still reach.
    defer: bool = True
    defer_headroom: float = Field(default=0.02, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _mode_headroom(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("early_stop_headroom") is None:
            front = data.get("hardware", "front") == "front"
            return {**data, "early_stop_headroom": FRONT_STOP_HEADROOM if front else PER_TRIAL_STOP_HEADROOM}
        return data


class StudySpec(Strict):  # noqa: D101 - fields documented in README "Study files"
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    dataset: DatasetSpec = "mnist"
    space: Space = DEFAULT_SPACE
    objectives: tuple[ObjectiveName, ...] = Field(default=("accuracy", "fps", "lut"), min_length=1)
    limits: LimitsSpec = LimitsSpec()
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    hardware: HardwareSpec = HardwareSpec()
    sampler: SamplerName = "tpe"
    n_trials: int = Field(default=40, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, lt=2**32)  # numpy/torch seeds are 32-bit

    @field_validator("space", mode="before")
    @classmethod
    def _default_family(cls, value: Any) -> Any:
        if isinstance(value, dict) and "family" not in value:
            return {"family": DEFAULT_SPACE.family, **value}
        return value

    @field_validator("objectives")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"objectives must not repeat, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _front_needs_solved_folding(self) -> StudySpec:
        if self.evaluation.hardware == "front" and self.space.folding.mode == "sampled":
            raise ValueError("space.folding.mode: sampled proposes PE/SIMD per trial; set evaluation.hardware: "
                             "per_trial to keep it, or use folding mode: solved (every folding level is swept)")
        return self

    @property
    def num_classes(self) -> int:
        return 10 if isinstance(self.dataset, str) else self.dataset.num_classes

    @property
    def input_datatype(self) -> str:
        """The FINN datatype of the graph input: UINT8 pixels for the built-in datasets."""
        return "UINT8" if isinstance(self.dataset, str) else self.dataset.input_datatype

    @property
    def dataset_label(self) -> str:
        """The dataset in a few words (reports, bundles): its name, or its kind and file."""
        d = self.dataset
        if isinstance(d, str):
            return d
        return f"{d.kind} {d.function if isinstance(d, FunctionDataset) else d.path}"

    @property
    def directions(self) -> list[Literal["minimize", "maximize"]]:
        return [OBJECTIVES[o][1] for o in self.objectives]

    @property
    def objective_attrs(self) -> list[str]:
        return [OBJECTIVES[o][0] for o in self.objectives]

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '_', '.' and '-' only (it names a directory)")
        return value


_MAX_PARTS = 8  # errors shown per message; a list of 10k bad items must not print 10k lines' worth
# A study file is a few kB; these bounds keep a hostile one (alias bomb, deep nesting) cheap.
MAX_FILE_BYTES = 1 << 20
MAX_NODES = 100_000  # YAML nodes after expanding aliases
MAX_DEPTH = 64


class _StudyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting and documents that expand beyond
    ``MAX_NODES`` nodes through aliases (a 700-byte alias bomb otherwise takes gigabytes)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: SafeLoader reports it
                continue
            if duplicate:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {shorten(key)}")
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Any) -> int:
    """Nodes of the document with every alias expanded, counted without expanding (memoised per node)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"line {node.start_mark.line + 1}: an alias refers to a node that contains it")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total = min(total, MAX_NODES + 1)
        return total

    return size(root)


def _load_yaml(text: str) -> object:
    loader = _StudyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise ConfigError(f"expands to more than {MAX_NODES:,} values (aliases); a study file needs far fewer")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _format_error(err: ValidationError) -> str:
    def path(e: Any) -> tuple[Any, ...]:
        loc = tuple(e["loc"])
        # A discriminated union puts the family tag into the path: space.cnv.x -> space.x
        if len(loc) > 1 and loc[0] == "space" and loc[1] in SPACE_FAMILIES:
            loc = loc[:1] + loc[2:]
        if len(loc) > 1 and loc[0] == "dataset" and loc[1] in ("builtin", *DATASET_KINDS):
            loc = loc[:1] + loc[2:]
        return loc

    errors = err.errors()
    locs = [path(e) for e in errors]
    parts = []
    for e in errors:
        loc = path(e)
        if e["type"] == "dataset_kind":
            got = e["input"].get("kind") if isinstance(e.get("input"), dict) else None
            parts.append(f"dataset.kind: {'unknown dataset kind ' + shorten(got) if got is not None else 'missing'}; "
                         f"allowed: {', '.join(DATASET_KINDS)} (or a built-in name: mnist, fashion_mnist, cifar10)")
            continue
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            got = (e.get("input") or {}).get("family") if isinstance(e.get("input"), dict) else None
            allowed = ", ".join(SPACE_FAMILIES)
            parts.append(f"{'.'.join(map(str, loc))}.family: unknown model family {shorten(got)}; allowed: {allowed}"
                         if got is not None else f"{'.'.join(map(str, loc))}.family: missing; allowed: {allowed}")
            continue
        # A bad list item also makes pydantic complain that the list is too short: say it once.
        if e["type"] == "too_short" and any(o[: len(loc)] == loc and o != loc for o in locs):
            continue
        where = ".".join(str(x) for x in loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        shown = "" if e["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {shorten(got)})"
        parts.append(f"{cut(where, 120)}: {msg}{shown}")
    more = f"; and {len(parts) - _MAX_PARTS} more errors" if len(parts) > _MAX_PARTS else ""
    return "; ".join(parts[:_MAX_PARTS]) + more


def parse_spec(data: object, *, source: str = "study") -> StudySpec:
    """Validate already-parsed data; errors name the key, what is allowed and what was given."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        return StudySpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_format_error(err)}") from None


def load_spec(path: Path) -> StudySpec:
    """Read and validate a study file (YAML)."""
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"study file not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"cannot read study file {path}: {err.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; a study file is a few kB of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    try:
        data = _load_yaml(text)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {cut(str(getattr(err, 'problem', err)), 200)}") from None
    return parse_spec(data, source=str(path))
