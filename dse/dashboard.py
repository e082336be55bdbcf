"""optuna-dashboard for a FINN-DSE study: our hardware plots stored in the study, and a local server.

optuna-dashboard keeps custom plotly figures as study system attributes and shows them on the
study's "Plot" page; it has no per-trial figures, so the per-layer view is one study-level figure
of the Pareto-front designs. optuna-dashboard, plotly and wsgiref are imported inside functions.

optuna-dashboard 0.21 reads constraints only in the list form of the samplers' old
``constraints_func`` (system attr ``constraints``), not the named ones ``Trial.set_constraint``
stores, and ranks its "Best Trials" over every COMPLETE trial, constraints ignored: a design the
estimators stopped (accuracy 0, high fps, few LUTs) came out "best". Storing the list as well
would double every constraint in Optuna's own ``trial.constraints`` (it merges both forms), so
:func:`feasible_view` puts them into the dashboard's study API instead, with Optuna's feasible
Pareto front (``study.best_trials``) as its best trials.
"""
from __future__ import annotations

import json
import logging
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.artifacts import TrialFiles
from dse.errors import ConfigError
from dse.storage.database import name_objectives
from dse.storage.urls import redact
from dse.report import pareto_figure, pareto_info
from dse.results import pareto_numbers, trials_frame

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    import plotly.graph_objects

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

logger = logging.getLogger(__name__)

# Fixed ids: saving under the same id overwrites the old figure instead of adding a copy.
# optuna-dashboard draws each in a half-width card 450 px high, so one panel per figure: the
# three-panel Pareto figure and the two-row layer bars had their titles run into each other there.
# The first ids are those of the earlier combined figures, so an older study's get replaced.
PARETO_PLOT_ID = "finn-dse-pareto"  # accuracy vs LUTs
PARETO_PLOT_IDS = (PARETO_PLOT_ID, "finn-dse-pareto-fps", "finn-dse-pareto-fps-lut")  # one per Pareto panel
LAYERS_PLOT_ID = "finn-dse-layers"  # LUTs per layer
LAYERS_PLOT_IDS = {"lut": LAYERS_PLOT_ID, "cycles": "finn-dse-layers-cycles"}
CARD_HEIGHT = 450  # optuna-dashboard's plot card
_LAYER_TITLES = {"lut": "LUTs per layer", "cycles": "cycles per frame per layer"}


def _layers(workdir: Path, artifact_dir: Any) -> list[dict[str, Any]]:
    if not isinstance(artifact_dir, str):
        return []
    path = TrialFiles(workdir / artifact_dir).estimate
    try:
        return list(json.loads(path.read_text()).get("layers", []))
    except (OSError, ValueError) as err:  # an old or half-written trial: skip it, keep the others
        logger.warning("no per-layer estimate for %s: %s", path, err)
        return []


def layers_figure(df: pd.DataFrame, workdir: Path, *, keys: tuple[str, ...] = ("lut", "cycles"),
                  height: int | None = None) -> plotly.graph_objects.Figure | None:
    """LUTs and cycles per layer (one bar group per layer) for each Pareto-front trial, one row per
    key of ``keys``; None if no data."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(keys), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[_LAYER_TITLES[k] for k in keys] if len(keys) > 1 else None)
    front = df[df["pareto"].eq(True)].sort_values("number")
    for _, row in front.iterrows():
        layers = _layers(workdir, row["artifact_dir"])
        names = [str(la.get("name")) for la in layers]
        for r, key in enumerate(keys, start=1):
            vals = [la.get(key, math.nan) for la in layers]
            fig.add_trace(go.Bar(x=names, y=vals, name=f"trial {int(row['number'])}", showlegend=r == 1,
                                 legendgroup=str(row["number"])), row=r, col=1)
    if not fig.data:
        return None
    fig.update_yaxes(type="log", dtick="D2")  # layers differ by orders of magnitude; 1, 2, 5 labelled per decade
    fig.update_xaxes(tickangle=-30)  # five layer names side by side ran into each other in a half-width card
    title = ("Per-layer estimates of the Pareto-front designs" if len(keys) > 1
             else f"{_LAYER_TITLES[keys[0]]}, Pareto-front designs (log scale)")
    fig.update_layout(title=title, barmode="group", template="plotly_white", height=height or 320 * len(keys))
    return fig


def attach_plots(study: optuna.Study, *, workdir: Path | None = None) -> None:
    """Store the Pareto figures (one per panel) and, given the study's work directory, the
    per-layer bars (LUTs, cycles) in the study, and name its objectives.

    Calling it again replaces the figures. The per-layer figure reads each trial's estimate.json,
    which lives in the work directory, not in the storage.
    """
    from optuna_dashboard import save_plotly_graph_object

    name_objectives(study)
    df = trials_frame(study)
    info = pareto_info(df)
    ids = list(PARETO_PLOT_IDS)
    for k, plot_id in enumerate(PARETO_PLOT_IDS):
        save_plotly_graph_object(study, pareto_figure(info, panels=(k,), height=CARD_HEIGHT), graph_object_id=plot_id)
    for key, plot_id in LAYERS_PLOT_IDS.items():
        if workdir is not None and (fig := layers_figure(df, Path(workdir), keys=(key,), height=CARD_HEIGHT)) is not None:
            save_plotly_graph_object(study, fig, graph_object_id=plot_id)
            ids.append(plot_id)
    logger.info("attached %s to study %s for optuna-dashboard", ", ".join(ids), study.study_name)


def dashboard_url(host: str, port: int) -> str:
    """The browser address of a dashboard served on host:port (IPv6 hosts in brackets)."""
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{port}/dashboard/"


_STUDY_DETAIL = re.compile(r"/api/studies/(\d+)")


def _feasible_detail(detail: dict[str, Any], storage: optuna.storages.BaseStorage, study_id: int,
                     after: int) -> dict[str, Any]:
    """The dashboard's study detail with every trial's constraint values and the feasible front as
    its best trials (the trials from ``after`` on, as the dashboard itself answers)."""
    import optuna

    frozen = storage.get_all_trials(study_id, deepcopy=False)
    names = list(dict.fromkeys(k for t in frozen for k in t.constraints))  # one order for all trials
    values = {t.number: [float(t.constraints[k]) for k in names if k in t.constraints] for t in frozen}
    front = pareto_numbers(optuna.load_study(study_name=detail["name"], storage=storage))
    trials = detail["trials"]
    for t in trials:
        t["constraints"] = values.get(t["number"], [])
    detail["best_trials"] = [t for t in trials if t["number"] in front]
    detail["trials"] = trials[after:]
    return detail


def feasible_view(app: WSGIApp, storage: optuna.storages.BaseStorage) -> WSGIApp:
    """WSGI middleware over optuna-dashboard's app: its study API (``GET /api/studies/<id>``)
    answers each trial's constraints and only feasible designs as best trials (see the module
    doc). Every other request goes to the dashboard untouched."""
    def view(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _STUDY_DETAIL.fullmatch(environ.get("PATH_INFO", ""))
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        after = query.pop("after", ["0"])[-1]
        if environ.get("REQUEST_METHOD") != "GET" or match is None or not after.isdigit():
            return app(environ, start_response)  # a bad `after` gets the dashboard's own 400
        # All trials from the dashboard (the front may hold any of them), cut to `after` here.
        inner = {**environ, "QUERY_STRING": urllib.parse.urlencode(query, doseq=True)}
        got: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            got.update(status=status, headers=headers)
            return lambda _data: None

        result = app(inner, keep)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if got["status"].startswith("200"):
            detail = _feasible_detail(json.loads(body), storage, int(match.group(1)), int(after))
            body = json.dumps(detail).encode()
            got["headers"] = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in got["headers"]]
        start_response(got["status"], got["headers"])
        return [body]

    return view


def serve(storage_url: str, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve optuna-dashboard for ``storage_url`` on host:port until interrupted (Ctrl-C).

    Loopback by default: the dashboard can rename and delete studies and has no login.
    Binds before serving, so a port in use is a one-line ConfigError, not a traceback.
    """
    import socket
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from optuna_dashboard import wsgi

    from dse.storage.database import make_storage

    class _Handler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
            logger.debug("%s %s", self.address_string(), format % args)  # not stderr: keep the console quiet

    class _Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    storage = make_storage(storage_url)
    app = feasible_view(wsgi(storage), storage)
    try:
        server = make_server(host, port, app, server_class=_Server, handler_class=_Handler)
    except OSError as err:
        raise ConfigError(f"cannot serve the dashboard on {host}:{port}: {err.strerror or err} "
                          f"(choose another --port)") from None
    url = dashboard_url(host, server.server_address[1])  # the real port, should port be 0
    logger.info("optuna-dashboard for %s at %s (Ctrl-C to stop)", redact(storage_url), url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how a user stops it: not an error, no traceback
        logger.info("dashboard stopped")
    finally:
        server.server_close()
