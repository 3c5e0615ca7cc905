"""``taskonomy serve``: the JSON API in-process (fastapi's TestClient), against the CLI's answers,
and the page in a real headless Chromium (Debian's chromium + chromium-driver, via Selenium)."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from taskonomy.cli import main as taskonomy
from taskonomy.serve.app import MAX_BODY_BYTES, MAX_GRID, MAX_TASKS, create_app
from taskonomy.serve.cli import is_loopback, running
from taskonomy.supervision import bip
from taskonomy.supervision.sweep import write_csv
from taskonomy.supervision.tables import paper_dir

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A results folder with one run's table (the paper's 1k files under the pipeline's names),
    and a folder whose name is not a plain name (not offered)."""
    root = tmp_path_factory.mktemp("results")
    for run in ("myrun", "bad run"):
        d = root / run / "tables" / "1k"
        d.mkdir(parents=True)
        for src, dst in [("affinity_1k.csv", "affinity.csv"), ("wins_vs_task_1k.csv", "wins_vs_task.csv"),
                         ("wins_vs_pixels_1k.csv", "wins_vs_pixels.csv")]:
            shutil.copy(paper_dir() / src, d / dst)
    return root


@pytest.fixture(scope="module")
def client(results):
    with TestClient(create_app(results=results)) as c:
        yield c


def cli_json(capsys, command: str, *argv) -> dict:
    assert taskonomy([command, *argv]) == 0
    return json.loads(capsys.readouterr().out)


def without_time(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "solve_time_s"}


def problems(r) -> list[dict]:
    """The 422's list of problems; never a traceback."""
    assert r.status_code == 422, r.text
    assert "Traceback" not in r.text
    return r.json()["detail"]


# ---------------------------------------------------------------- the API

def test_tables_and_tasks(client, results):
    tables = client.get("/api/tables").json()["tables"]
    assert [t["name"] for t in tables] == ["paper-16k", "paper-1k", "paper", "myrun:1k"]
    by = {t["name"]: t for t in tables}
    assert by["paper-16k"]["max_order"] == 24 and len(by["paper-16k"]["default_targets"]) == 22
    assert by["myrun:1k"]["kind"] == "results" and by["myrun:1k"]["targets"] == by["paper-1k"]["targets"]
    assert str(results) not in json.dumps(tables)         # tables are named, their paths not shown
    tasks = client.get("/api/tasks").json()
    assert len(tasks["tasks"]) == 26 and tasks["metrics"] == list(bip.METRICS)
    assert tasks["defaults"]["budget"] == bip.DEFAULT_BUDGET


QUERIES = [  # (CLI options, the same query as JSON)
    ([], {}),
    (["--targets", "normal", "depth_zbuffer", "reshading", "--budget", "2", "--max-order", "3"],
     {"targets": ["normal", "depth_zbuffer", "reshading"], "budget": 2, "max_order": 3}),
    (["--affinities", "paper-1k", "--targets", "rgb2sfnorm", "rgb2depth", "class_1000", "--budget", "1",
      "--importance", "rgb2sfnorm=2", "--cost", "reshade=0.5", "--metric", "quality",
      "--source-only", "colorization", "jigsaw", "--sources", "normal", "reshading", "keypoints3d",
      "depth_zbuffer", "class_object", "class_scene"],
     {"affinities": "paper-1k", "targets": ["rgb2sfnorm", "rgb2depth", "class_1000"], "budget": 1,
      "importance": {"rgb2sfnorm": 2}, "cost": {"reshade": 0.5}, "metric": "quality",
      "source_only": ["colorization", "jigsaw"],
      "sources": ["normal", "reshading", "keypoints3d", "depth_zbuffer", "class_object", "class_scene"]}),
]


@pytest.mark.parametrize("argv, body", QUERIES)
def test_solve_equals_cli(client, capsys, argv, body):
    r = client.post("/api/solve", json=body)
    assert r.status_code == 200, r.text
    assert without_time(r.json()) == without_time(cli_json(capsys, "solve", *argv, "--json"))
    assert r.json()["status"] == "optimal"


def test_results_table_equals_cli_on_its_path(client, capsys, results):
    api = client.post("/api/solve", json={"affinities": "myrun:1k", "budget": 3, "max_order": 2}).json()
    cli = cli_json(capsys, "solve", "--affinities", str(results / "myrun/tables/1k/affinity.csv"),
                   "--budget", "3", "--max-order", "2", "--json")
    assert api["query"].pop("table") == "myrun:1k"
    cli["query"].pop("table")
    assert without_time(api) == without_time(cli)


def test_sweep_equals_cli(client, tmp_path):
    argv = ["--affinities", "paper-1k", "--budgets", "0", "2", "5", "--max-orders", "1", "2"]
    assert taskonomy(["sweep", *argv, "--out", str(tmp_path / "cli.csv")]) == 0
    r = client.post("/api/sweep", json={"affinities": "paper-1k", "budgets": [0, 2, 5], "max_orders": [1, 2]})
    assert r.status_code == 200, r.text
    write_csv(r.json()["rows"], tmp_path / "api.csv")        # the CLI's writer on the API's rows
    assert (tmp_path / "api.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    with open(tmp_path / "api.csv") as f:
        assert {row["status"] for row in csv.DictReader(f)} == {"infeasible", "optimal"}


def test_tree_equals_cli(client, capsys):
    assert client.get("/api/tree", params={"affinities": "paper-1k"}).json() == \
        cli_json(capsys, "tree", "--affinities", "paper-1k", "--json")
    groups = client.get("/api/tree", params={"groups": 4}).json()["groups"]
    assert groups == cli_json(capsys, "tree", "--groups", "4", "--json")["groups"]


def test_figures(client):
    png = b"\x89PNG\r\n\x1a\n"
    for r in (client.post("/api/solve/figure?color_by=quality", json={"budget": 3, "max_order": 1}),
              client.post("/api/sweep/figure", json={"budgets": [2, 4], "max_orders": [1]}),
              client.get("/api/tree/figure", params={"affinities": "paper-1k"})):
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
        assert r.content.startswith(png) and len(r.content) > 10_000
    assert problems(client.post("/api/solve/figure?color_by=colour", json={}))[0]["loc"] == ["query", "color_by"]


@pytest.mark.parametrize("body, field, match", [
    ({"budget": -1}, "budget", "greater than or equal to 0"),
    ({"budget": "lots"}, "budget", "valid number"),
    ({"max_order": 0}, "max_order", "greater than or equal to 1"),
    ({"targets": ["normal", "sfnorm"]}, "targets", r"unknown task\(s\) 'sfnorm'; valid tasks"),
    ({"source_only": ["jigsaw", "puzzle"]}, "source_only", "unknown task"),
    ({"importance": {"sfnorm": 2}}, "importance", "unknown task"),
    ({"cost": {"normal": -2}}, "cost", "greater than or equal to 0"),
    ({"affinities": "paper-2k"}, "affinities", r"unknown table 'paper-2k'; offered: paper-16k, paper-1k, paper, myrun:1k"),
    ({"affinities": "bad run:1k"}, "affinities", "never a path"),
    ({"metric": "accuracy"}, "metric", "'sqrt_affinity', 'affinity', 'quality' or 'gain'"),
    ({"budgets": [2]}, "budgets", "Extra inputs are not permitted"),
    ({"importance": {f"t{i}": 1 for i in range(MAX_TASKS + 1)}}, "importance", "at most"),
])
def test_bad_input_names_the_field(client, body, field, match):
    (p,) = problems(client.post("/api/solve", json=body))
    assert p["loc"][:2] == ["body", field] and re.search(match, p["msg"]), p


def test_queries_the_solver_refuses(client):
    (p,) = problems(client.post("/api/solve", json={"budget": 0}))
    assert p["type"] == "infeasible" and "cannot be served" in p["msg"]
    assert p["targets"] == bip.default_targets(bip.as_tableset("paper-16k").affinity)
    (p,) = problems(client.post("/api/solve", json={"targets": ["normal", "jigsaw"]}))
    assert "source-only task(s) cannot be targets: jigsaw" in p["msg"]
    (p,) = problems(client.post("/api/solve", json={"targets": ["normal"], "importance": {"reshading": 2}}))
    assert "importance given for non-target(s): reshading" in p["msg"]


@pytest.mark.parametrize("name", [
    "../../../../etc/passwd", "/etc/passwd", str(paper_dir() / "affinity_16k.csv"),
    "myrun/tables/1k/affinity.csv", "myrun/1k", "..", "paper-16k/../paper-1k", "~root", "C:\\x"])
def test_a_path_is_never_a_table(client, name):
    for r in (client.post("/api/solve", json={"affinities": name}),
              client.get("/api/tree", params={"affinities": name}),
              client.get("/api/tree/figure", params={"affinities": name})):
        (p,) = problems(r)
        assert p["loc"][-1] == "affinities" and ("never a path" in p["msg"] or "unknown table" in p["msg"])


def test_request_size_and_work_are_bounded(client, results):
    r = client.post("/api/solve", content=b"{" + b" " * MAX_BODY_BYTES + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    (p,) = problems(client.post("/api/sweep", json={"budgets": list(range(MAX_GRID)), "max_orders": [1, 2]}))
    assert "budgets x max_orders" in p["msg"] and f"at most {MAX_GRID}" in p["msg"]
    problems(client.post("/api/solve", json={"budget": 1e9}))
    # a solve that runs past the time limit is cut off: 503 and a message, not a hung worker
    with TestClient(create_app(results=results, solve_timeout_s=1e-6)) as slow:
        r = slow.post("/api/solve", json={"max_order": 24})
    assert r.status_code == 503 and "did not prove optimality within" in r.json()["detail"]


def test_page_ships_its_assets(client):
    html = client.get("/").text
    assert 'src="static/app.js"' in html and 'href="static/app.css"' in html
    for asset in ("/static/app.js", "/static/app.css"):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) < 20_000
        html += r.text
    # nothing from the internet: no absolute URL is loaded 
    assert not re.search(r"""(src|href)=["']?(https?:)?//|@import|fetch\(["']https?:""", html)
    assert client.get("/static/../app.py").status_code == 404
    # FastAPI's CDN-loaded pages are off; the schema is served locally
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 200


def test_cli_options():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(SystemExit):
        taskonomy(["serve", "--help"])


# ---------------------------------------------------------------- the page in a browser

@pytest.fixture
def server(results, tmp_path):
    """`taskonomy serve` on a free port, in its own process; stopped after the test."""
    with running(results, log=tmp_path / "serve.log") as url:
        yield url


def chromium(tmp_path):
    """Headless Chromium through chromedriver (Debian's packages; Selenium Manager is not used)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(f"no {' and no '.join(missing)}: install Debian's chromium and chromium-driver "
                    f"(apt-get install chromium chromium-driver; .ci/run does) to run the browser test")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1400", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_page_in_chromium(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium(tmp_path)
    try:
        text = lambda id_: driver.find_element(By.ID, id_).text.strip()  # noqa: E731
        wait = WebDriverWait(driver, 60)
        driver.get(server)
        first = " ".join(bip.solve("paper-16k", budget=6, max_order=5).supervised)
        wait.until(lambda d: text("supervised") == first)
        # change the budget: the new supervised set appears without a reload
        marker = driver.execute_script("window.notReloaded = true; return window.notReloaded")
        budget = driver.find_element(By.ID, "budget")
        budget.clear()
        budget.send_keys("2", Keys.ENTER)
        second = " ".join(bip.solve("paper-16k", budget=2, max_order=5).supervised)
        assert second != first
        wait.until(lambda d: text("supervised") == second and "budget 2," in text("status"))
        assert marker and driver.execute_script("return window.notReloaded") is True
        rows = driver.find_elements(By.CSS_SELECTOR, "#targets tbody tr")
        assert len(rows) == 22
        wait.until(lambda d: d.execute_script(
            "const i = document.getElementById('taxonomy'); return i.complete && i.naturalWidth > 0"))
        if os.environ.get("TASKONOMY_SCREENSHOT"):      # how docs/serve.png was taken (README)
            driver.save_screenshot(os.environ["TASKONOMY_SCREENSHOT"])
        # the sweep and the tree of the chosen table
        loaded = "const i = document.getElementById(arguments[0]); return !i.hidden && i.complete && i.naturalWidth > 0"
        budgets = driver.find_element(By.ID, "budgets")
        budgets.clear()
        budgets.send_keys("2 4")
        driver.find_element(By.ID, "sweep").click()
        driver.find_element(By.ID, "tree").click()
        wait.until(lambda d: d.execute_script(loaded, "sweep-img") and d.execute_script(loaded, "tree-img"))
        # a budget that cannot serve every target: the page names them, as the CLI does
        budget.clear()
        budget.send_keys("0", Keys.ENTER)
        wait.until(lambda d: "cannot be served" in text("error"))
        assert "autoencoding" in text("error") and text("supervised") == ""
    finally:
        driver.quit()
