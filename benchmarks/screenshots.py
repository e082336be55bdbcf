"""Screenshots of what a user sees: the report page and optuna-dashboard of a small real study.

Runs studies/tfc_mnist.yaml (the default study: same space, limits, board and estimators) on a
tiny budget (--trials, --epochs, --train-subset), through the console script as a user would,
writes its report.html, serves it with `finn-dse dashboard` on a free loopback port, and saves
full-page PNGs from headless Chromium (Debian's chromium + chromium-driver, as
scripts/install-browser.sh installs them) under benchmarks/results/:
report_screenshot.png, dashboard_study.png (history, Pareto front, FINN-DSE's attached figures,
best trials) and dashboard_trials.png (the trial list with a Pareto design open, one 1300 px window:
the list is one long column), plus screenshots.txt.
Usage: python benchmarks/screenshots.py [--trials 12] [--epochs 1] [--train-subset 4000]
       [--workdir DIR (kept; default a temporary one)]
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import RESULTS, Report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "studies" / "tfc_mnist.yaml"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WIDTH = 1400


def finn_dse(*args: str) -> str:
    exe = Path(sys.executable).with_name("finn-dse")
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"finn-dse {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def small_study(where: Path, *, trials: int, epochs: int, train_subset: int) -> Path:
    spec = yaml.safe_load(STUDY.read_text())
    spec["name"] = "tfc_mnist_small"
    spec["n_trials"] = trials
    spec["training"].update(epochs=epochs, train_subset=train_subset, val_size=1000)
    path = where / "tfc_mnist_small.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_json(url: str, server: subprocess.Popen[bytes], log: Path, wait_s: float = 90) -> Any:
    """GET url as JSON, retrying while the server starts; fails at once if it exited."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp)
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                sys.exit(f"the dashboard exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                sys.exit(f"the dashboard did not answer within {wait_s:.0f} s")
            time.sleep(0.3)


def browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        sys.exit("needs Debian chromium + chromium-driver: run scripts/install-browser.sh (as root)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={WIDTH},1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager must never try to download a browser or driver.
    return webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))


def wait_for(driver: Any, script: str, what: str, wait_s: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, wait_s).until(lambda d: d.execute_script(script), message=f"page never showed {what}")


def shoot(driver: Any, url: str, ready: str, what: str, path: Path, *, full: bool = True) -> None:
    """Open url, wait for ``ready`` (a JS condition) and save a PNG; ``full``: of the whole page:
    grow the window by what its scrolling box hides (the dashboard scrolls an inner box, the report
    the document) and open it again at that size, so every plot is drawn for it (no relayout in flight)."""
    driver.set_window_size(WIDTH, 1000 if full else 1300)
    driver.get(url)
    wait_for(driver, ready, what)
    if not full:
        driver.save_screenshot(str(path))
        return
    hidden = driver.execute_script(
        "const boxes = [document.scrollingElement, ...[...document.querySelectorAll('*')].filter(e =>"
        " ['auto', 'scroll'].includes(getComputedStyle(e).overflowY))];"
        "return Math.max(0, ...boxes.map(e => e.scrollHeight - e.clientHeight));")
    driver.set_window_size(WIDTH, min(1000 + int(hidden), 8000))
    driver.get(url)
    wait_for(driver, ready, what)
    driver.save_screenshot(str(path))


def severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-subset", type=int, default=4000)
    ap.add_argument("--workdir", type=Path, help="keep the study here (default: a temporary directory)")
    args = ap.parse_args()

    rep = Report("screenshots", f"{STUDY.relative_to(ROOT)} with n_trials={args.trials}, epochs={args.epochs}, "
                                f"train_subset={args.train_subset}, val_size=1000 (everything else as in the file); "
                                f"headless Debian chromium, window {WIDTH} px wide, full-page PNGs "
                                f"(the trial list: one window 1300 px high)")
    tmp = tempfile.TemporaryDirectory(prefix="finn-dse-shots-")
    workdir = args.workdir or Path(tmp.name) / "run"
    study = small_study(Path(tmp.name), trials=args.trials, epochs=args.epochs, train_subset=args.train_subset)
    t0 = time.monotonic()
    finn_dse("run", str(study), "--workdir", str(workdir))
    run_s = time.monotonic() - t0
    report = workdir / "report.html"
    finn_dse("report", "--workdir", str(workdir), "--out", str(report))

    port, log = free_port(), Path(tmp.name) / "dashboard.log"
    exe = Path(sys.executable).with_name("finn-dse")
    with log.open("wb") as out:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen([str(exe), "dashboard", "--workdir", str(workdir), "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    written: list[Path] = []
    driver = browser(Path(tmp.name) / "profile")
    try:
        written.append(RESULTS / "report_screenshot.png")
        shoot(driver, report.resolve().as_uri(), "const g = document.getElementById('layer-cycles');"
              " return !!(g && g.data) && !!document.getElementById('hypervolume').data;", "the design panel",
              written[-1])
        errors = severe(driver)

        base = f"http://127.0.0.1:{port}"
        (summary,) = wait_json(f"{base}/api/studies", server, log)["study_summaries"]
        sid = summary["study_id"]
        # Every attached figure drawn (a plotly div with data each), besides the history and Pareto plots.
        detail = wait_json(f"{base}/api/studies/{sid}", server, log)
        n_figs = len(detail["plotly_graph_objects"])
        rep.say(f"study: n_trials={args.trials} sampler proposals, {len(detail['trials'])} trials (designs), "
                f"run in {run_s:.0f} s; work dir {args.workdir or '(temporary)'}")
        written.append(RESULTS / "dashboard_study.png")
        shoot(driver, f"{base}/dashboard/studies/{sid}",
              f"return [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.data).length >= {n_figs + 2};",
              "the history, Pareto front and attached figures", written[-1])
        written.append(RESULTS / "dashboard_trials.png")
        # A design on the front, in the trial list (the list itself is one long column: no full page).
        best = min(t["number"] for t in detail["best_trials"])
        shoot(driver, f"{base}/dashboard/studies/{sid}/trials?numbers={best}",
              f"return document.body.innerText.includes('Trial {best} (trial_id');", "the trial list", written[-1],
              full=False)
        errors += severe(driver)
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
    for e in errors:
        rep.say(f"browser error: {e}")
    for p in written:
        rep.say(f"{p.relative_to(ROOT)}: {p.stat().st_size:,} bytes")
    rep.say(f"files={','.join(p.name for p in written)} browser_errors={len(errors)}")
    rep.save()


if __name__ == "__main__":
    main()
