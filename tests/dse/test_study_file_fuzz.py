"""Fuzzing the study-file loader: whatever a study file holds (random keys, types, nesting,
aliases, sizes, mutated real studies), loading it either works or raises the one user-error type,
and memory stays bounded (the alias bomb of issue 13 took ~10.8 GB and printed a 2 GB line)."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.errors import ConfigError
from dse.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "studies").glob("*.yaml"))
KEYS = sorted({k for f in STUDIES for k in yaml.safe_load(f.read_text()) or {}}
              | {"space", "family", "folding", "target_fps", "low", "high", "epochs", "seed", "weight_bits",
                 "pruning", "ratio", "limits", "min_accuracy", "hardware", "board", "module", "<<"})
MAX_PEAK = 64 << 20  # bytes traced while loading one document
MAX_MESSAGE = 4000
# tracemalloc sees Python objects only (not pydantic-core's Rust side): the process peak is checked too.

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["tfc", "cnv", "mobilenet", "user", "mnist", "cifar10", "tpe", "front", "U280", ".inf", "~"]))
values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=6), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), kids, max_size=6)),
    max_leaves=40)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def _check(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    tracemalloc.start()
    try:
        load_spec(path)
    except ConfigError as err:
        assert len(str(err)) < MAX_MESSAGE, str(err)[:300]
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"loading took {peak >> 20} MiB"


SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@SETTINGS
@given(doc=documents, name=st.one_of(st.just("fuzz"), st.text(max_size=5)))
def test_generated_documents(tmp_path_factory: pytest.TempPathFactory, doc: dict, name: str) -> None:
    doc.setdefault("name", name)
    _check(tmp_path_factory.getbasetemp() / "gen.yaml", yaml.safe_dump(doc, allow_unicode=True))


def _mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "value", "indent", "alias", "anchor", "garbage"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(st.sampled_from(['true', '.inf', '.nan', '2e400', str(2**70), '-1', '[]', '{}', '~', '*x', 'a: b']))}"
        elif op == "indent":
            lines[i] = "  " + line
        elif op == "alias" and ":" in line:
            lines[i] = line.split(":", 1)[0] + ": *a"
        elif op == "anchor" and ":" in line:
            key, rest = line.split(":", 1)
            lines[i] = f"{key}: &a {rest.strip() or '[1]'}"
        elif op == "garbage":
            lines[i] = line[: len(line) // 2] + data.draw(st.text(max_size=6))
    return "\n".join(lines) + "\n"


@SETTINGS
@given(data=st.data())
def test_mutated_real_studies(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(STUDIES)).read_text(encoding="utf-8")
    _check(tmp_path_factory.getbasetemp() / "mut.yaml", _mutate(text, data))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(width=st.integers(2, 12), depth=st.integers(1, 12), raw=st.binary(max_size=64))
def test_alias_bombs_and_bytes(tmp_path_factory: pytest.TempPathFactory, width: int, depth: int, raw: bytes) -> None:
    lines = ["name: bomb", f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    _check(tmp_path_factory.getbasetemp() / "bomb.yaml", "\n".join(lines) + "\n")
    _check(tmp_path_factory.getbasetemp() / "raw.yaml", raw)


def test_the_issue_bomb_is_one_short_error(tmp_path: Path) -> None:
    lines = ["name: bomb", "a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    lines += [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
    text = "\n".join(lines) + "\n"
    assert len(text) < 800
    f = tmp_path / "bomb.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match="expands to more than 100,000 values"):
        load_spec(f)


@pytest.mark.parametrize(("text", "message"), [
    ("name: s\nseed: 1\nseed: 2\n", "line 3: duplicate key 'seed'"),
    ("name: s\ntraining:\n  epochs: true\n", "epochs: expected a number, got true"),
    ("name: s\nseed: 1180591620717411303424\n", "seed: Input should be less than 4294967296"),
    ("name: s\nspace:\n  folding:\n    target_fps: {low: 1, high: .inf}\n", "target_fps.high: Input should be a finite"),
    ("name: s\nx: " + "[" * 200 + "]" * 200 + "\n", "nested deeper than 64 levels"),
    ("name: s\na: &a [*a]\n", "line 2: an alias refers to a node that contains it"),
    ("name: s\ndescription: " + "x" * (1 << 20) + "\n", "larger than 1 MiB"),
    ("name: s\nseed: [" + ", ".join(["'" + "y" * 50 + "'"] * 400) + "]\n", "seed: Input should be a valid integer"),
])
def test_hostile_documents_give_short_errors(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_spec(f)
    assert message in str(err.value) and len(str(err.value)) < 500, str(err.value)[:500]
