from __future__ import annotations

from pathlib import Path

import pytest

from dse.errors import ConfigError
from dse.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tfc_mnist.yaml", "smoke.yaml"])
def test_ready_study_files_validate(name: str) -> None:
    spec = load_spec(ROOT / "studies" / name)
    assert spec.hardware.board == "U280"
    assert spec.name == name.removesuffix(".yaml")


@pytest.mark.parametrize(("data", "expected"), [
    ({"name": "x", "space": {"weight_bits": [3]}}, "space.weight_bits.0: Input should be 1, 2, 4 or 8 (got 3)"),
    ({"name": "x", "trainig": {}}, "trainig: unknown key"),
    ({"name": "x", "hardware": {"board": "ZCU104"}}, "hardware.board: unknown board 'ZCU104'; allowed: U250, U280"),
    ({"name": "x", "sampler": "cmaes"}, "sampler: Input should be 'tpe', 'nsga2', 'gp' or 'random' (got 'cmaes')"),
    ({"name": "a/b"}, "name: use letters"),
    ({"space": {}}, "name: Field required"),
    ({"name": "x", "training": {"epochs": 0}}, "training.epochs: Input should be greater than or equal to 1"),
])
def test_errors_name_key_allowed_and_given(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec(data, source="s.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("s.yaml: ")
    assert "\n" not in str(info.value)


def test_bad_list_item_reported_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec({"name": "x", "space": {"weight_bits": [3]}})
    assert "too_short" not in str(info.value) and "at least 1 item" not in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("name: x\nspace: [1, 2\n")
    with pytest.raises(ConfigError, match="broken.yaml: line"):
        load_spec(f)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_spec(f)


@pytest.mark.parametrize(("fpgas", "expected"), [
    ([0], "hardware.fpgas.0: Input should be greater than or equal to 1"),
    ([1, -2], "hardware.fpgas.1: Input should be greater than or equal to 1"),
    ([1.5], "hardware.fpgas.0: Input should be a valid integer"),
    (["two"], "hardware.fpgas.0: Input should be a valid integer"),
    ([True], "hardware: fpgas: expected a number, got [true]"),
    ([], "hardware.fpgas: "),
    ([2, 2], "hardware.fpgas: list each card count once (got [2, 2])"),
    ([49], "hardware.fpgas.0: Input should be less than or equal to 48"),
])
def test_card_counts_are_whole_distinct_and_positive(fpgas: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spec({"name": "x", "hardware": {"fpgas": fpgas}}, source="s.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_card_counts_default_to_one_and_are_sorted() -> None:
    assert parse_spec({"name": "x"}).hardware.fpgas == (1,)
    assert parse_spec({"name": "x", "hardware": {"fpgas": [3, 1, 2]}}).hardware.fpgas == (1, 2, 3)


@pytest.mark.parametrize(("evaluation", "expected"), [
    ({}, 0.2),  # front: a network stopped by mistake loses its whole hardware front
    ({"hardware": "per_trial"}, 0.15),
    ({"early_stop_headroom": None}, 0.2),
    ({"hardware": "per_trial", "early_stop_headroom": 0.3}, 0.3),
    ({"early_stop_headroom": 0.0}, 0.0),
])
def test_early_stop_headroom_defaults_per_hardware_mode(evaluation: dict, expected: float) -> None:
    assert parse_spec({"name": "x", "evaluation": evaluation}).evaluation.early_stop_headroom == expected


def test_early_stop_headroom_out_of_range_is_one_line() -> None:
    with pytest.raises(ConfigError, match="evaluation.early_stop_headroom: Input should be less than or equal to 1"):
        parse_spec({"name": "x", "evaluation": {"early_stop_headroom": 1.5}})
