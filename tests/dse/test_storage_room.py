"""dse.storage.database: study.json read in one place, with one clear error for a bad one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dse.errors import ConfigError
from dse.storage.database import load_study, read_meta, study_url


@pytest.mark.parametrize("content, words", [
    (None, "no study.json"),
    (b"", "is not a FINN-DSE study.json"),
    (b"\xff\xfe not utf-8", "is not a FINN-DSE study.json"),
    (b"[1, 2]", "is not a FINN-DSE study.json"),
    (json.dumps({"storage": "sqlite:///study.db"}).encode(), "is not a FINN-DSE study.json"),
])
def test_a_bad_study_json_is_one_line(tmp_path: Path, content: bytes | None, words: str) -> None:
    if content is not None:
        (tmp_path / "study.json").write_bytes(content)
    for call in (read_meta, load_study, study_url):
        with pytest.raises(ConfigError, match=words) as err:
            call(tmp_path)
        assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_the_override_wins_and_sqlite_stays_in_the_work_directory(tmp_path: Path) -> None:
    (tmp_path / "study.json").write_text(json.dumps({"study_name": "s", "storage": "sqlite:///study.db"}))
    assert read_meta(tmp_path)["study_name"] == "s"
    assert study_url(tmp_path, "postgresql://u@127.0.0.1:1/db") == "postgresql://u@127.0.0.1:1/db"
    assert str(tmp_path / "study.db") in study_url(tmp_path)
    with pytest.raises(ConfigError, match="'s' not found"):
        load_study(tmp_path)
