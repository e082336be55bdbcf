"""Validate a bundle's build.yaml with finn-plus's own DataflowBuildConfig."""
from __future__ import annotations

from typing import Any

from dse.errors import ConfigError


def check_build_config(config: dict[str, Any]) -> None:
    """Let finn-plus's DataflowBuildConfig validate the options (unknown keys, wrong values)."""
    import yaml
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    try:
        DataflowBuildConfig.from_yaml(yaml.safe_dump(config))
    except Exception as err:  # mashumaro raises several types; the message names the field
        raise ConfigError(f"build options rejected by finn-plus's DataflowBuildConfig: {err}") from None
