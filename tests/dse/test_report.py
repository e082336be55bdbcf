from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from dse.report import pareto_info, pareto_table, write_pareto_html
from dse.report.figures import pareto_figure
from dse.report.pareto import PANELS, fmt_count, fmt_pct, fmt_si, hover_text, out_label

NAN = math.nan


def row(number: int, state: str = "COMPLETE", *, feasible: bool = True, pareto: bool = False, **kw: object) -> dict:
    base: dict[str, object] = {
        "number": number, "state": state, "feasible": feasible, "pareto": pareto,
        "weight_bits": 4, "act_bits": 4, "hidden_width": 256, "hidden_layers": 3, "target_fps": 100_000.0,
        "val_accuracy": 0.95, "test_accuracy": 0.94, "fps": 111_600.0, "latency_us": 9.0,
        "lut": 12_345.0, "bram18": 4.0, "uram": 0.0, "dsp": 0.0, "max_cycles": 896,
        "bottleneck": "MVAU_hls_0", "fits": feasible, "limiting_resource": "LUT",
        "train_s": 10.0, "export_s": 1.0, "finn_s": 30.0, "reason": None,
    }
    base.update(kw)
    return base


def failed(number: int, state: str = "FAIL") -> dict:
    r = row(number, state, feasible=False, reason="boom" if state == "FAIL" else None)
    for c in ("val_accuracy", "test_accuracy", "fps", "latency_us", "lut", "bram18", "dsp"):
        r[c] = NAN
    r["bottleneck"] = None
    return r


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame([
        row(0, pareto=True, val_accuracy=0.9731, fps=1_234_567.0, lut=5_000.0),
        row(1),  # dominated
        row(2, pareto=True, val_accuracy=0.9812, fps=111_600.0, lut=40_000.0, hidden_layers=2, hidden_width=512),
        # Infeasible but with a (wrong) pareto flag: must never reach the front.
        row(3, feasible=False, pareto=True, lut=900_000.0, reason="LUT 900000 > 70560", bottleneck="MVAU<1>"),
        failed(4),
        failed(5, "RUNNING"),
        row(6, "PRUNED", feasible=False, pareto=True),
        row(7, pareto=True, val_accuracy=0.96),
    ])


def test_groups_partition_complete_trials(df: pd.DataFrame) -> None:
    info = pareto_info(df)
    assert info.pareto.numbers == (0, 2, 7)
    assert info.dominated.numbers == (1,)
    assert info.infeasible.numbers == (3,)
    assert (info.n_trials, info.n_complete, info.n_pareto) == (8, 5, 3)
    drawn = {n for g in info.groups for n in g.numbers}
    assert drawn.isdisjoint({4, 5, 6})  # only COMPLETE trials are drawn
    expected = df[df["pareto"] & df["feasible"] & (df["state"] == "COMPLETE")]["number"]
    assert set(info.pareto.numbers) == set(expected)


def test_out_label_comes_from_the_recorded_reason() -> None:
    slow = "throughput 625,000 fps is below the minimum 1,000,000 fps"
    assert out_label("COMPLETE", False, "estimator", slow) == "stopped before training: too slow"
    assert out_label("COMPLETE", False, "estimator", "does not fit U280: LUT at 130% of the usable budget") == \
        "stopped before training: too big"
    assert out_label("COMPLETE", False, None, "fit limit broken; min_fps limit broken") == "too big and too slow"
    assert out_label("COMPLETE", False, None, "validation accuracy 80.00% below the minimum 90.00%") == \
        "too inaccurate"
    assert out_label("COMPLETE", False, "accuracy", "stopped after 1 epoch(s): validation accuracy 11.00% ...") == \
        "stopped early (accuracy too low to go on)"
    assert out_label("FAIL", False, None, "FINN build failed") == "failed"
    assert out_label("COMPLETE", True, None, None) is None
    assert out_label("COMPLETE", False, None, None) == "infeasible"


def test_legend_names_why_designs_are_out() -> None:
    frame = pd.DataFrame([
        row(0, pareto=True),
        row(1, feasible=False, stopped_by="estimator", reason="throughput 5 fps is below the minimum 10 fps"),
        row(2, feasible=False, stopped_by="estimator", reason="throughput 6 fps is below the minimum 10 fps"),
        row(3, feasible=False, stopped_by="accuracy", reason="stopped after 1 epoch(s): accuracy 10%"),
    ])
    info = pareto_info(frame)
    assert {g.label: g.numbers for g in info.out} == {"stopped before training: too slow": (1, 2),
                                                      "stopped early (accuracy too low to go on)": (3,)}
    assert info.infeasible.numbers == (1, 2, 3)
    legend = {t.name for t in pareto_figure(info).data if t.showlegend}
    # No dominated design here: the legend lists only what is drawn.
    assert legend == {"Pareto front", "stopped before training: too slow",
                      "stopped early (accuracy too low to go on)"}
    assert not any("does not fit" in name for name in legend)


def test_a_panel_lists_only_the_groups_it_draws() -> None:
    # A design stopped before training has no accuracy: it is drawn (and listed) in fps vs LUTs only.
    frame = pd.DataFrame([row(0, pareto=True), row(1), row(2, feasible=False, stopped_by="estimator", val_accuracy=NAN,
                                                         test_accuracy=NAN, reason="throughput 5 fps is below the minimum 10 fps")])
    info = pareto_info(frame)
    names = [{t.name for t in pareto_figure(info, panels=(k,), height=450).data if t.showlegend} for k in range(3)]
    assert names[0] == names[1] == {"Pareto front", "dominated"}
    assert names[2] == {"Pareto front", "dominated", "stopped before training: too slow"}
    both = pareto_figure(info)  # three panels: each group listed once
    assert sorted(t.name for t in both.data if t.showlegend) == sorted(names[2])
    one = pareto_figure(info, panels=(2,), height=450)
    assert one.layout.height == 450 and not one.layout.annotations and "throughput vs LUTs" in one.layout.title.text


def test_panel_values_in_percent_and_aligned(df: pd.DataFrame) -> None:
    info = pareto_info(df)
    assert [(p.x, p.y) for p in info.panels] == [("lut", "val_accuracy"), ("fps", "val_accuracy"), ("lut", "fps")]
    (x0, y0), (x1, y1), (x2, y2) = info.pareto.xy
    assert x0 == (5_000.0, 40_000.0, 12_345.0)
    assert y0 == pytest.approx((97.31, 98.12, 96.0))
    assert x1 == (1_234_567.0, 111_600.0, 111_600.0) and y1 == y0
    assert x2 == x0 and y2 == x1
    for g in info.groups:
        assert len(g.xy) == len(PANELS)
        assert all(len(x) == len(y) == len(g.numbers) == len(g.hover) for x, y in g.xy)


def test_flags_given_as_none_count_as_false(df: pd.DataFrame) -> None:
    df["pareto"] = df["pareto"].astype(object)
    df.loc[0, "pareto"] = None
    df["feasible"] = df["feasible"].astype(object)
    df.loc[1, "feasible"] = None
    info = pareto_info(df)
    assert info.pareto.numbers == (2, 7)
    assert info.dominated.numbers == (0,)
    assert info.infeasible.numbers == (1, 3)


def test_hover_text(df: pd.DataFrame) -> None:
    info = pareto_info(df)
    h = info.pareto.hover[0]
    for part in ("trial 0", "W 4", "A 4", "layers 3", "width 256", "target fps 100.0k",
                 "val 97.31%", "test 94.00%", "fps 1.2M", "latency µs 9.0", "LUT 5,000",
                 "BRAM18 4", "DSP 0", "bottleneck MVAU_hls_0"):
        assert part in h, part
    bad = info.infeasible.hover[0]
    assert "reason: LUT 900000 &gt; 70560" in bad and "MVAU&lt;1&gt;" in bad  # free text is escaped


def test_hover_uses_only_present_columns() -> None:
    old = pd.DataFrame([row(0, pareto=True)]).drop(columns=["test_accuracy", "bottleneck", "target_fps", "reason"])
    h = pareto_info(old).pareto.hover[0]
    assert "val 95.00%" in h and "test" not in h and "bottleneck" not in h and "target fps" not in h
    minimal = pd.DataFrame([{"number": 3, "state": "COMPLETE", "feasible": True, "pareto": True}])
    info = pareto_info(minimal)
    assert info.pareto.numbers == (3,) and hover_text(minimal.iloc[0]) == "<b>trial 3</b>"
    assert all(math.isnan(v) for x, y in info.pareto.xy for v in (*x, *y))


def test_empty_frame() -> None:
    empty = pd.DataFrame(columns=["number", "state", "feasible", "pareto"])
    info = pareto_info(empty)
    assert (info.n_trials, info.n_complete, info.n_pareto) == (0, 0, 0)
    assert all(g.numbers == () for g in info.groups)


def test_formatters() -> None:
    assert fmt_pct(0.97312) == "97.31%" and fmt_pct(None) == "—"
    assert fmt_si(1_234_567) == "1.2M" and fmt_si(111_600) == "111.6k" and fmt_si(999_960) == "1.0M"
    assert fmt_si(12.5) == "12.5" and fmt_si(NAN) == "—"
    assert fmt_count(12_345.0) == "12,345" and fmt_count(2.5) == "2.5"


def render(table: object) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_table_rows_sorted_by_val_accuracy(df: pd.DataFrame) -> None:
    table = pareto_table(df, title="tfc_mnist")
    assert table.row_count == 3 and len(table.columns) == 11
    text = render(table)
    lines = [ln for ln in text.splitlines() if "%" in ln]
    assert [ln.split()[1] for ln in lines] == ["2", "0", "7"]  # 98.12 > 97.31 > 96.00
    assert "2x512" in lines[0] and "98.12%" in lines[0] and "111.6k" in lines[0] and "40,000" in lines[0]
    assert "97.31%" in lines[1] and "1.2M" in lines[1] and "5,000" in lines[1] and "3x256" in lines[1]
    assert "tfc_mnist" in text and "MVAU_hls_0" in text and "MVAU<1>" not in text


def test_table_empty_front_has_caption() -> None:
    df = pd.DataFrame([row(0, feasible=False, pareto=True), failed(1)])
    table = pareto_table(df)
    assert table.row_count == 0
    assert "no feasible completed trial yet" in render(table)


def test_import_does_not_load_plotly() -> None:
    code = "import sys, dse.report; assert 'plotly' not in sys.modules, 'plotly imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_write_pareto_html(df: pd.DataFrame, tmp_path: Path) -> None:
    out = write_pareto_html(df, tmp_path / "reports" / "pareto.html", title="tfc_mnist")
    assert out == tmp_path / "reports" / "pareto.html"
    html = out.read_text(encoding="utf-8")
    assert "plotly" in html and "<html>" in html
    assert "tfc_mnist" in html and "8 trials (5 complete), 3 on the Pareto front" in html  # JSON escapes the dash
    for n in (0, 1, 2, 3, 7):
        assert f"trial {n}" in html
    assert "trial 4" not in html and "trial 5" not in html
    assert [p.name for p in out.parent.iterdir()] == ["pareto.html"]  # no temp file left behind


def test_counts_read_in_the_right_number() -> None:
    from dse.text import plural

    assert (plural(1, "trial"), plural(0, "trial"), plural(12_500, "trial")) == ("1 trial", "0 trials", "12,500 trials")
    title = pareto_figure(pareto_info(pd.DataFrame([row(0, pareto=True)]))).layout.title.text
    assert "— 1 trial, 1 on the Pareto front" in title and "1 trials" not in title
