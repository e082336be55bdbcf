"""Which work directory a command means when the user gives none.

`finn-dse run STUDY.yaml` puts a study in runs/<study name>/; every later command finds it from
--workdir, or from a study name / study file (runs/<name>), or, with neither, as the only study
under runs/. Anything ambiguous is one line listing the candidates (a ConfigError).
"""
from __future__ import annotations

from pathlib import Path

from dse.artifacts import StudyLayout
from dse.errors import ConfigError

RUNS = Path("runs")  # relative to the current directory, as `finn-dse run` writes it


def studies_under(runs: Path = RUNS) -> list[Path]:
    """The work directories directly under ``runs`` that hold a study (their study.json)."""
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and StudyLayout(p).meta.is_file())


def resolve_workdir(workdir: Path | None, study: str | None = None, *, runs: Path = RUNS) -> Path:
    """``workdir`` if given; else runs/<name> for ``study`` (a study name or a study file, whose
    ``name`` is read); else the only study under ``runs``."""
    if workdir is not None:
        return Path(workdir)
    if study is not None:
        path = Path(study)
        if path.suffix in (".yaml", ".yml") or path.is_file():
            from dse.spec import load_spec

            return runs / load_spec(path).name
        return runs / study
    found = studies_under(runs)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(f"no study under {runs}/ (none run from this directory yet); pass --workdir DIR, "
                          "or run one first: finn-dse run STUDY.yaml")
    names = ", ".join(str(p) for p in found)
    raise ConfigError(f"{len(found)} studies under {runs}/ ({names}); pass --workdir DIR or --study NAME")
