"""Storage URLs: what may be shown and kept (never a password), and which URLs workers can share.

A URL's password lives only in the process that was given it: files, job arguments, logs and
messages get `without_password` / `redact`; jobs get it as PGPASSWORD (`job_password`), and later
commands find it in PGPASSWORD or a libpq password file (~/.pgpass, $PGPASSFILE).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from dse.errors import ConfigError

SERVER_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb")


def without_password(url: str) -> str:
    """The URL to keep in files and job arguments: no password (libpq finds it in PGPASSWORD or
    a password file, ~/.pgpass or $PGPASSFILE, when the URL has none)."""
    from sqlalchemy.engine import URL, make_url

    try:
        parsed = make_url(url).difference_update_query(["password"])
    except Exception:  # not a database URL: nothing to strip that we could recognise
        return redact(url)
    return URL.create(parsed.drivername, username=parsed.username, host=parsed.host, port=parsed.port,
                      database=parsed.database, query=parsed.query).render_as_string(hide_password=False)


def url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    password = parsed.password or parsed.query.get("password")
    return str(password) if isinstance(password, str) and password else None


def password_hint(url: str, detail: str) -> str:
    """What to do when the server wants a password that the URL (e.g. from study.json) lacks."""
    if "password" in detail.lower() and url_password(url) is None:
        return (" (study.json and job files keep no password: set PGPASSWORD, or add the server to ~/.pgpass or "
                "the file $PGPASSFILE names, or give --storage with the password)")
    return ""


@contextlib.contextmanager
def job_password(url: str) -> Iterator[None]:
    """PGPASSWORD set to the URL's password while jobs are submitted: Slurm hands the submitting
    environment to the jobs (sbatch --export=ALL, its default), so no file holds the password."""
    password = url_password(url)
    if password is None:
        yield
        return
    before = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = password
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = before


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL: show nothing secret either
        return url.split("@", 1)[-1] if "@" in url else url


def require_server_storage(url: str | None) -> str:
    """Workers on several nodes need a database server; SQLite files are not safe to share."""
    why = ("workers on several nodes need one database server that every node reaches; a SQLite file "
           "(the default storage) cannot be shared safely between them: its locks do not work on network "
           "filesystems, so trials are lost or the database is corrupted")
    if not url:
        raise ConfigError(f"launch needs --storage postgresql://USER:PASSWORD@HOST:PORT/DB: {why}. "
                          "On one machine, scripts/services/postgres.sh starts a PostgreSQL server and prints its URL")
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in SERVER_SCHEMES:
        raise ConfigError(f"launch needs a database server URL (postgresql://...), got {redact(url)!r}: {why}")
    return url
