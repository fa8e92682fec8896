"""The trace explorer: its JSON API over the compiled model, the command's bad input, and the page
end to end in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oomcheck.catalog import model_for
from oomcheck.checker.language.lang import ModelError
from oomcheck.checker.render import trace_text
from oomcheck.cli import EXIT_USAGE, main
from oomcheck.explore.server import make_server
from oomcheck.explore.session import Session


def _session(variant: str = "pre", threads: int = 3) -> Session:
    model, _ = model_for("freezer", variant, None, {"threads": threads}, {})
    return Session(model, model.select([]))


@pytest.fixture(scope="module")
def pre() -> Session:
    return _session()


@pytest.fixture(scope="module")
def server(pre: Session) -> Iterator[str]:
    srv = make_server(pre, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_counterexample_is_the_text_views_and_replays(pre: Session) -> None:
    cex = pre.counterexample("victim-exits")
    r = pre.results()["victim-exits"]
    assert cex["verdict"] == "violated" and cex["stutter"] is True
    assert len(cex["steps"]) == len(r.trace.steps) == len(cex["states"]) - 1  # type: ignore[union-attr]
    assert trace_text(r.trace) in cex["text"]  # type: ignore[arg-type]
    for j, step in enumerate(cex["steps"]):
        assert (step["from"], step["to"]) == (cex["states"][j], cex["states"][j + 1])
        # every step of the trace is one of the enabled steps of the state before it
        here = pre.state(step["from"])
        assert any(s["id"] == step["id"] and s["to"] == step["to"] for s in here["successors"])
        assert step["function"] == r.trace.steps[j].func  # type: ignore[union-attr]
    assert cex["states"][0] in pre.overview()["initial"]
    last = pre.state(cex["states"][-1])
    assert not any(s["fair"] for s in last["successors"])  # stuck: nothing fair is enabled
    goal = next(p for p in last["properties"] if p["name"] == "victim-exits")
    assert goal["ok"] is False and goal["text"] == "premise true, goal pending"


def test_state_values_and_branches(pre: Session) -> None:
    over = pre.overview()
    assert over["actors"] == ["OOM killer", "thread 0", "thread 1", "thread 2"]
    st = pre.state(over["initial"][0])
    assert {v["name"] for v in st["vars"]} >= {"pc", "frozen", "oom_pc"}
    assert st["successors"] and not st["deadlock"]
    # a branch: the successor's token is a state whose variables are the step's new values
    s = st["successors"][-1]
    after = {(v["name"] if v["index"] is None else f"{v['name']}[{v['index']}]"): v["value"]
             for v in pre.state(s["to"])["vars"]}
    assert all(after[k] == c["new"] for k, c in s["changes"].items())
    holds = pre.counterexample("oom-victims-balance")
    assert holds["verdict"] == "holds" and "states" not in holds


@pytest.mark.parametrize("token", ["zz", "", "-1", "f" * 40])
def test_bad_tokens_are_refused(pre: Session, token: str) -> None:
    with pytest.raises(ModelError):
        pre.state(token)


def test_server_json_and_errors(server: str) -> None:
    code, model = _get(server + "/api/model")
    assert code == 200 and model["variant"] == "pre" and model["initial"]
    code, verdicts = _get(server + "/api/verdicts")
    assert code == 200 and {v["property"]: v["verdict"] for v in verdicts}["victim-exits"] == "violated"
    code, body = _get(server + "/api/state?s=nothex")
    assert code == 400 and "not a state token" in body["error"]
    code, body = _get(server + "/api/trace?property=nope")
    assert code == 400 and "no property" in body["error"]
    code, body = _get(server + "/api/trace")
    assert code == 400 and "missing" in body["error"]
    code, body = _get(server + "/nowhere")
    assert code == 404
    with urllib.request.urlopen(server + "/", timeout=30) as r:
        assert b"explore.js" in r.read()


@pytest.mark.parametrize("argv, text", [
    (["--port", "70000"], "not a port"),
    (["--variant", "nope"], "no variant"),
    (["--property", "nope"], "no property"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], text: str) -> None:
    args = ["explore", "freezer", "--no-browser", "--threads", "2", *argv]
    if "--variant" not in argv:
        args += ["--variant", "pre"]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and HAVE_SELENIUM),
    reason="end-to-end explorer test needs Debian's chromium and chromium-driver "
           "(apt-get install chromium chromium-driver; .ci/run installs them as root) and the "
           "selenium package (test extra)")


@browser
def test_page_in_headless_chromium(server: str, pre: Session, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1700,1000"):
        opts.add_argument(a)
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    try:
        wait = WebDriverWait(drv, 60)
        drv.get(server + "/?property=victim-exits")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        n = len(pre.counterexample("victim-exits")["steps"])

        def text(id_: str) -> str:
            return drv.find_element(By.ID, id_).text

        def current() -> str:
            return drv.find_element(By.CSS_SELECTOR, "#trace tr.current").get_attribute("data-step")

        def after(k: int) -> None:  # the state panel has caught up with step k
            want = "initial state" if k == 0 else f"state after step {k}"
            wait.until(lambda d: d.find_element(By.ID, "here").text == want)

        assert "freezer pre (threads=3)" in text("title")
        assert "counterexample of victim-exits" in text("status")
        heads = [th.text for th in drv.find_elements(By.CSS_SELECTOR, "#trace th")]
        assert heads == ["#", "OOM killer", "thread 0", "thread 1", "thread 2"]
        assert len(drv.find_elements(By.CSS_SELECTOR, "#trace tr[data-step]")) == n + 1
        assert "stuck" in text("ending")
        # step: buttons, the arrow keys and the slider
        for _ in range(3):
            drv.find_element(By.ID, "next").click()
        after(3)
        assert text("position") == f"step 3 of {n}" and current() == "3"
        drv.find_element(By.TAG_NAME, "body").send_keys("\ue014")  # right arrow
        after(4)
        k = 7  # branch off here
        drv.execute_script("const s = document.getElementById('slider'); s.value = arguments[0];"
                           "s.dispatchEvent(new Event('input'));", k)
        after(k)
        assert text("position") == f"step {k} of {n}"
        changed = drv.find_elements(By.CSS_SELECTOR, "#vars td.changed")
        assert changed, "the variables the step changed are highlighted"
        # branch: an enabled step that the counterexample does not take
        succ = drv.find_elements(By.CSS_SELECTOR, "#succ button.succ")
        on_path = [b for b in succ if "onpath" in b.get_attribute("class")]
        off_path = [b for b in succ if "onpath" not in b.get_attribute("class")]
        assert len(on_path) == 1 and off_path
        label = off_path[0].text
        off_path[0].click()
        after(k + 1)
        assert f"branched off the counterexample of victim-exits at step {k}" in text("status")
        assert text("position") == f"step {k + 1} of {k + 1}"
        assert "branched off the counterexample here" in text("trace")
        row = drv.find_element(By.CSS_SELECTOR, f'#trace tr[data-step="{k + 1}"]').text
        assert label.split(": ", 1)[1].split("\n")[0].split("(")[0] in row
        # walk on by hand from there
        drv.find_element(By.CSS_SELECTOR, "#succ button.succ").click()
        after(k + 2)
        assert text("position") == f"step {k + 2} of {k + 2}"
        shot = tmp_path / "explorer.png"
        assert drv.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("OOMCHECK_EXPLORER_SCREENSHOT"):
            shutil.copy(shot, os.environ["OOMCHECK_EXPLORER_SCREENSHOT"])
        # and back to the counterexample
        drv.find_element(By.ID, "restore").click()
        after(0)
        assert "counterexample of victim-exits" in text("status")
        assert text("position") == f"step 0 of {n}"
        # a walk by hand from an initial state
        drv.find_element(By.CSS_SELECTOR, "#initial option:nth-child(2)").click()
        wait.until(lambda d: "your own path from an initial state" in d.find_element(By.ID, "status").text)
        after(0)
        assert text("position") == "step 0 of 0"
        drv.find_element(By.CSS_SELECTOR, "#succ button.succ").click()
        after(1)
        assert text("position") == "step 1 of 1"
    finally:
        drv.quit()
