"""The pytest plugin: catalog rows as items (selection, failure report, JUnit XML, xdist), the
`oomcheck` fixture, and oomcheck.testing."""

from __future__ import annotations

import importlib.metadata
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oomcheck.catalog import catalog_for
from oomcheck.checker.language.lang import ModelError
from oomcheck.testing import Checker, assert_holds, assert_violated, check

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
MINI = """
model = "freezer"
[variants.pre]
knobs = { thaw = "victim", exemption = "memdie" }
[variants.v10]
knobs = { thaw = "group", exemption = "oom_victim" }

[[expect]]
variant = "pre"
sizes = { threads = [2] }
note = "Only thread 0 is thawed."
[expect.verdicts]
victim-exits = "VERDICT"
oom-victims-balance = "holds"

[[expect]]
variant = "v10"
knobs = { freezer = "cgroup2" }
sizes = { threads = [2, 3] }
[expect.verdicts]
victim-exits = "holds"

[[proof]]
variant = "v10"
sizes = { threads = [2] }
engine = "bmc"
depth = 4
expect = { oom-victims-balance = "bounded" }
"""
IDS = [
    "spec/mini.toml::pre::victim-exits[threads=2]",
    "spec/mini.toml::pre::oom-victims-balance[threads=2]",
    "spec/mini.toml::v10::victim-exits[freezer=cgroup2,threads=2]",
    "spec/mini.toml::v10::victim-exits[freezer=cgroup2,threads=3]",
    "spec/mini.toml::v10::oom-victims-balance[threads=2,bmc]",
]


def _plugin_args() -> list[str]:
    """-p for the plugin unless its entry point is installed (pytest loads it then, and a
    second registration under another name is an error)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    autoload = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    if autoload and any(ep.value == "oomcheck.pytest_plugin" for ep in eps):
        return []
    return ["-p", "oomcheck.pytest_plugin"]


@pytest.fixture
def mini(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "spec").mkdir()
    (pytester.path / "spec" / "mini.toml").write_text(MINI.replace("VERDICT", "violated"))
    # neither a project file nor other TOML is a catalog
    (pytester.path / "pyproject.toml").write_text('[project]\nname = "x"\nmodel = "freezer"\n')
    (pytester.path / "spec" / "other.toml").write_text('[tool.x]\nmodel = "freezer"\n')
    return pytester


def test_rows_are_collected_as_items(mini: pytest.Pytester) -> None:
    res = mini.runpytest(*_plugin_args(), "--collect-only", "-q", ".")
    ids = [ln for ln in res.outlines if "::" in ln]
    assert ids == IDS
    res = mini.runpytest(*_plugin_args(), "--collect-only", "-q", "spec", "-k", "v10 and cgroup2")
    assert [ln for ln in res.outlines if "::" in ln] == IDS[2:4]


def test_selected_rows_run_and_pass(mini: pytest.Pytester) -> None:
    res = mini.runpytest(*_plugin_args(), "spec", "-k", "v10 or pre", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=5)


def test_a_failing_row_shows_expected_got_and_the_counterexample(mini: pytest.Pytester) -> None:
    (mini.path / "spec" / "mini.toml").write_text(MINI.replace("VERDICT", "holds"))
    xml = mini.path / "out.xml"
    res = mini.runpytest(*_plugin_args(), "spec", "-k", "pre", f"--junitxml={xml}")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "expected verdict holds, got violated: freezer pre victim-exits[threads=2]" in out
    assert "catalog row: mini.toml:8, expect[0]" in out and "row note: Only thread 0 is thawed." in out
    assert "victim-exits: violated (explicit" in out and "__oom_kill_process" in out
    cases = {tc.get("name"): tc for tc in ET.parse(xml).iter("testcase")}
    assert set(cases) == {"victim-exits[threads=2]", "oom-victims-balance[threads=2]"}
    assert {tc.get("classname") for tc in cases.values()} == {"spec.mini.toml.pre"}
    failure = cases["victim-exits[threads=2]"].find("failure")
    assert failure is not None and "__oom_kill_process" in (failure.text or "")
    assert cases["oom-victims-balance[threads=2]"].find("failure") is None


def test_a_bad_catalog_is_one_collection_error(mini: pytest.Pytester) -> None:
    (mini.path / "spec" / "mini.toml").write_text(MINI.replace("VERDICT", "violated")
                                                  .replace("oom-victims-balance = \"holds\"",
                                                           "flies = \"holds\""))
    res = mini.runpytest(*_plugin_args(), "spec")
    res.assert_outcomes(errors=1)
    errors = [ln for ln in res.outlines if "oomcheck: error:" in ln]
    assert len(errors) == 1 and "expect[0] (variant pre): no property 'flies'" in errors[0]


def test_ordinary_tests_are_left_alone(mini: pytest.Pytester) -> None:
    mini.makepyfile(test_plain="def test_one():\n    assert 1 + 1 == 2\n")
    res = mini.runpytest(*_plugin_args(), "test_plain.py")
    res.assert_outcomes(passed=1)


def test_xdist_runs_a_selection_in_two_workers(mini: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import this tree's oomcheck
    res = mini.runpytest_subprocess(*_plugin_args(), "spec", "-k", "v10", "-n", "2",
                                    "-p", "no:cacheprovider")
    res.assert_outcomes(passed=3)
    assert "2 workers" in res.stdout.str()


def test_the_fixture(mini: pytest.Pytester) -> None:
    mini.makepyfile(test_fixture='''
def test_v10(oomcheck):
    r = oomcheck.assert_holds("freezer", "v10", threads=2, property="victim-exits")
    assert r.verdicts == {"victim-exits": "holds"}
    assert oomcheck.limits.max_states == 1234

def test_pre(oomcheck):
    oomcheck.assert_holds("freezer", "pre", threads=2, property="victim-exits")
''')
    res = mini.runpytest(*_plugin_args(), "test_fixture.py", "--oomcheck-max-states", "1234")
    res.assert_outcomes(passed=1, failed=1)
    assert "victim-exits expected to hold, got violated" in res.stdout.str()


# ---- oomcheck.testing ---------------------------------------------------------------------------


def test_check_gives_results_by_property() -> None:
    r = check("freezer", "pre", threads=2, property=["victim-exits", "oom-victims-balance"])
    assert r.verdicts == {"victim-exits": "violated", "oom-victims-balance": "holds"}
    assert r.violated and not r.holds
    assert r["victim-exits"].trace is not None
    with pytest.raises(KeyError):
        r["flies"]


def test_assert_holds_and_violated() -> None:
    assert assert_holds("freezer", "v10", threads=2, property="victim-exits").holds
    with pytest.raises(AssertionError) as e:
        assert_holds("freezer", "pre", threads=2, property="victim-exits")
    msg = str(e.value)
    assert msg.startswith("freezer pre [threads=2]: victim-exits expected to hold, got violated")
    assert "__oom_kill_process" in msg  # the counterexample
    assert_violated("freezer", "pre", threads=2, property="victim-exits")
    with pytest.raises(AssertionError, match="expected a counterexample, got holds"):
        assert_violated("freezer", "v10", threads=2, property="victim-exits")


def test_a_bounded_holds_is_not_enough_unless_asked() -> None:
    kw = {"threads": 2, "property": "oom-victims-balance", "engine": "bmc", "depth": 3}
    with pytest.raises(AssertionError, match=r"got holds \(bounded only\)"):
        assert_holds("freezer", "v10", **kw)
    assert assert_holds("freezer", "v10", bounded_ok=True, **kw).verdicts == {
        "oom-victims-balance": "holds"}


def test_a_limit_is_unknown_and_fails(tmp_path: Path) -> None:
    tight = Checker(limits=Checker().limits.__class__(max_states=10))
    with pytest.raises(AssertionError, match="got unknown"):
        tight.assert_holds("freezer", "v10", threads=3, property="victim-exits")


def test_variant_files_and_built_models() -> None:
    r = check("freezer", str(ROOT / "spec" / "variants" / "freezer_v8.py"), threads=2,
              property="oom-victims-balance")
    assert r.verdicts == {"oom-victims-balance": "violated"}
    from oomcheck.catalog import build_variant, resolve_variant

    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 2}, {}, cat)
    assert check(m, property="victim-exits").holds
    with pytest.raises(ModelError, match="takes no variant"):
        check(m, "v10")
    with pytest.raises(ModelError, match="needs variant"):
        check("freezer")
    with pytest.raises(ModelError, match="no variant"):
        check("freezer", "nosuch")
