"""The report page in a real headless Chromium: no JS error, one marker per trial, selection works."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "benchmarks" / "results" / "report_screenshot.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs Debian chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver); "
                              "the project's set-up installs them"),
]


@pytest.fixture(scope="module")
def report(smoke_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dse.report.page import write_report
    from dse.storage.database import load_study

    return write_report(load_study(smoke_workdir), smoke_workdir, tmp_path_factory.mktemp("page") / "report.html")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1400,1800"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager must never try to download a browser or driver.
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))
    drv.set_window_size(1400, 1800)
    yield drv
    drv.quit()


def _open(driver: object, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())  # type: ignore[attr-defined]
    WebDriverWait(driver, 30).until(  # type: ignore[arg-type]
        lambda d: d.execute_script("const g = document.getElementById('layer-cycles'); return !!(g && g.data);"))


def _severe(driver: object) -> list[dict[str, object]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]


def _cycles_labels(driver: object) -> list[str]:
    return driver.execute_script("return document.getElementById('layer-cycles').data[0].x;")  # type: ignore[attr-defined]


def test_page_renders_and_selection_follows_clicks(driver: object, report: Path, smoke_workdir: Path,
                                                    tmp_path: Path) -> None:
    from dse.report.page import report_data
    from dse.storage.database import load_study

    data = report_data(load_study(smoke_workdir), smoke_workdir)
    designs = {t["number"]: [layer["name"] for layer in t["design"]["layers"]]
               for t in data["trials"] if t["state"] == "COMPLETE" and t["design"]}
    _open(driver, report)
    assert _severe(driver) == []

    traces = driver.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('pareto-2d').data.map(t => [t.name, t.customdata]);")
    marked = [n for name, nums in traces if name in ("Pareto front", "dominated") for n in nums]
    feasible = [t["number"] for t in data["trials"] if t["state"] == "COMPLETE" and t["feasible"]]
    assert sorted(marked) == sorted(feasible)  # one marker per feasible COMPLETE trial, none twice

    first = data["selection_order"][0]
    assert f"Trial {first} " in driver.find_element("id", "selected-title").text  # type: ignore[attr-defined]
    assert _cycles_labels(driver) == designs[first]
    rows = driver.find_elements("css selector", "#folding-table tbody tr")  # type: ignore[attr-defined]
    assert len(rows) == len(next(t for t in data["trials"] if t["number"] == first)["design"]["folding"])

    other = data["selection_order"][1]
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('trial-select'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));", str(other))
    assert f"Trial {other} " in driver.find_element("id", "selected-title").text  # type: ignore[attr-defined]
    assert _cycles_labels(driver) == designs[other]

    # A click on a marker: emit the event plotly sends, with the point taken from the plot's own data.
    driver.execute_script(  # type: ignore[attr-defined]
        "const g = document.getElementById('pareto-2d');"
        "const c = g.data.findIndex(t => t.customdata.includes(arguments[0]));"
        "const i = g.data[c].customdata.indexOf(arguments[0]);"
        "g.emit('plotly_click', {points: [{curveNumber: c, pointNumber: i, data: g.data[c],"
        " customdata: g.data[c].customdata[i], x: g.data[c].x[i], y: g.data[c].y[i]}]});", first)
    assert f"Trial {first} " in driver.find_element("id", "selected-title").text  # type: ignore[attr-defined]
    assert driver.find_element("id", "trial-select").get_attribute("value") == str(first)  # type: ignore[attr-defined]
    assert _cycles_labels(driver) == designs[first]

    # The axis selects redraw the plot with the same markers.
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('x-axis'); s.value = 'fps'; s.dispatchEvent(new Event('change'));")
    title = driver.execute_script("return document.getElementById('pareto-2d').layout.xaxis.title.text;")  # type: ignore[attr-defined]
    assert "throughput" in title
    assert "No synthesis or board measurements yet" in driver.find_element("id", "synthesis").text  # type: ignore[attr-defined]
    assert _severe(driver) == []

    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('x-axis'); s.value = 'lut'; s.dispatchEvent(new Event('change'));")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(tmp_path / "report_screenshot.png"))  # type: ignore[attr-defined]
    if os.environ.get("FINN_DSE_SAVE_SCREENSHOT"):  # refresh the committed one only when asked
        shutil.copyfile(tmp_path / "report_screenshot.png", SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 10_000


def test_synthesis_section_draws_table_and_parity_plot(driver: object, smoke_workdir: Path, tmp_path: Path) -> None:
    """FAKE synthesis/board figures (no real ones exist yet): only checks the page's code path."""
    from tests.dse.test_report_page import study_with_fake_synthesis

    from dse.report.page import write_report

    study = study_with_fake_synthesis(smoke_workdir)
    _open(driver, write_report(study, smoke_workdir, tmp_path / "fake_synth.html"))
    assert _severe(driver) == []
    rows = driver.find_elements("css selector", "#synthesis-table tbody tr")  # type: ignore[attr-defined]
    assert len(rows) >= 2
    n = driver.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('synthesis-parity').data.filter(t => t.mode === 'markers').length;")
    assert n >= 2


def _value(label: str) -> float:
    """A tick label as the page writes it (200k, 4.08M, 950) back to a number."""
    scale = {"k": 1e3, "M": 1e6, "G": 1e9}.get(label[-1:], 1.0)
    return float(label[:-1] if scale != 1.0 else label) * scale


def test_figures_label_real_values_and_readable_scales(driver: object, report: Path, smoke_workdir: Path) -> None:
    """Parallel coordinates: fps and LUTs on log positions labelled with real values (not log10
    numbers); 3D: short axis titles, log ticks labelled with their values; hypervolume: a y axis
    from 0 that the curve fills, in percent of the box."""
    import math

    from dse.report.page import report_data
    from dse.storage.database import load_study

    data = report_data(load_study(smoke_workdir), smoke_workdir)
    trained = [t for t in data["trials"] if t["state"] == "COMPLETE" and t["metrics"]["val_accuracy"] is not None]
    _open(driver, report)
    assert _severe(driver) == []

    dims = driver.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('parcoords').data[0].dimensions"
        ".map(d => ({label: d.label, values: d.values, tickvals: d.tickvals, ticktext: d.ticktext}));")
    by_label = {d["label"]: d for d in dims}
    assert not any("log" in d["label"] for d in dims), [d["label"] for d in dims]
    for label, metric in (("fps", "fps"), ("LUTs", "lut")):
        d = by_label[label]
        assert d["values"] == pytest.approx([math.log10(t["metrics"][metric]) for t in trained])
        assert len(d["ticktext"]) >= 2
        for pos, text in zip(d["tickvals"], d["ticktext"], strict=True):
            assert _value(text) == pytest.approx(10 ** pos, rel=0.01), (label, pos, text)
            assert min(d["values"]) - 1e-9 <= pos <= max(d["values"]) + 1e-9

    scene = driver.execute_script("return document.getElementById('pareto-3d').layout.scene;")  # type: ignore[attr-defined]
    titles = [scene[a]["title"]["text"] for a in ("xaxis", "yaxis", "zaxis")]
    assert titles == ["LUTs", "fps", "val acc. (%)"]
    for a in ("xaxis", "yaxis"):  # LUTs and fps: log axes with their ticks labelled as values
        assert scene[a]["type"] == "log"
        assert [_value(t) for t in scene[a]["ticktext"]] == pytest.approx(scene[a]["tickvals"], rel=0.01)

    hv = driver.execute_script(  # type: ignore[attr-defined]
        "const g = document.getElementById('hypervolume'); return {y: g.data[0].y, range: g.layout.yaxis.range,"
        " title: g.layout.yaxis.title.text};")
    assert hv["y"] == pytest.approx([100 * h["hypervolume"] for h in data["hypervolume"]["history"]])
    assert "%" in hv["title"]
    assert hv["range"][0] == 0 and max(hv["y"]) <= hv["range"][1] <= 1.2 * max(hv["y"])
