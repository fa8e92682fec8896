"""CI formats: JUnit XML validated against the schema(s) in tests/data, TAP 13 read back by a
TAP consumer (tap.py), one test case per (variant, size, property)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from tap.parser import Parser

import oomcheck.verify
from oomcheck.checker.trace import Result, Step, Trace
from oomcheck.cli import EXIT_BOUNDED, EXIT_OK, EXIT_USAGE, EXIT_VIOLATED, main

DATA = Path(__file__).resolve().parent / "data"
PRE_VIOLATED = {"victim-exits", "no-deadlock", "no-frozen-after-thaw", "mm-released"}

SPEC = """
model = "freezer"
[variants.pre]
knobs = { thaw = "victim", exemption = "memdie" }
[variants.v10]
knobs = { thaw = "group", exemption = "oom_victim" }
[[expect]]
variant = "pre"
sizes = { threads = [2] }
verdicts = { victim-exits = "holds", no-deadlock = "violated", oom-victims-balance = "holds" }
[[expect]]
variant = "v10"
sizes = { threads = [2, 3] }
verdicts = { no-lost-thaw = "holds" }
[[proof]]
variant = "v10"
sizes = { threads = [2] }
engine = "bmc"
depth = 4
expect = { no-lost-thaw = "bounded" }
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def validated(path: Path) -> ET.Element:
    """Valid against every schema in tests/data, and its counts add up."""
    schemas = sorted(DATA.glob("*.xsd"))
    assert schemas
    for xsd in schemas:
        xmlschema.XMLSchema(xsd).validate(path)
    root = ET.parse(path).getroot()
    cases = root.findall("./testsuite/testcase")
    assert int(root.get("tests")) == len(cases)  # type: ignore[arg-type]
    assert int(root.get("failures")) == len(root.findall("./testsuite/testcase/failure"))  # type: ignore[arg-type]
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase"))  # type: ignore[arg-type]
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))  # type: ignore[arg-type]
    return root


def test_verify_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "ci.toml"
    spec.write_text(SPEC)
    xml = tmp_path / "out" / "verify.xml"
    xml.parent.mkdir()
    code, out, _ = run(capsys, "verify", str(spec), "--quiet", "--proofs", "--jobs", "1",
                       "--junit", str(xml))
    assert code == EXIT_VIOLATED and "expected holds, got violated" in out  # the table as usual
    root = validated(xml)
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert set(cases) == {
        ("freezer.pre.threads=2", "victim-exits"), ("freezer.pre.threads=2", "no-deadlock"),
        ("freezer.pre.threads=2", "oom-victims-balance"), ("freezer.v10.threads=2", "no-lost-thaw"),
        ("freezer.v10.threads=3", "no-lost-thaw"), ("freezer.v10.threads=2", "no-lost-thaw [bmc]")}
    failed = [k for k, c in cases.items() if c.find("failure") is not None]
    assert failed == [("freezer.pre.threads=2", "victim-exits")]  # an expected violation passes
    failure = cases[failed[0]].find("failure")
    assert failure.get("message") == "expected holds, got violated"  # type: ignore[union-attr]
    text = failure.text or ""  # type: ignore[union-attr]
    assert "__oom_kill_process" in text and "never reaches the goal" in text  # the counterexample
    assert root.find("testsuite").get("name") == "freezer"  # type: ignore[union-attr]


def test_verify_cross_check_disagreement_fails_its_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A BMC answer that contradicts the explicit search fails that property's test case."""
    def lying_bmc(model, safety, depth, liveness, timeout):  # type: ignore[no-untyped-def]
        step = Step("OOM killer", "oom_kill", "__oom_kill_process", "mm/oom_kill.c", "", {})
        return {p.name: Result(p.name, p.kind, "violated", "bmc", trace=Trace({}, [step]))
                for p in [*safety, *(q for q, _ in liveness)]}

    monkeypatch.setattr(oomcheck.verify, "bmc_shared", lying_bmc)
    spec = tmp_path / "ci.toml"
    spec.write_text(SPEC.split("[[expect]]\nvariant = \"v10\"")[0].replace(
        'victim-exits = "holds", ', ""))
    xml = tmp_path / "verify.xml"
    code, _, _ = run(capsys, "verify", str(spec), "--quiet", "--cross-check", "--jobs", "1",
                     "--junit", str(xml))
    assert code == EXIT_VIOLATED
    root = validated(xml)
    failures = {c.get("name"): c.find("failure") for c in root.iter("testcase")}
    bad = failures["oom-victims-balance"]
    assert bad is not None and "bmc (depth" in bad.get("message", "")
    assert "explicit says holds" in bad.get("message", "")


def test_check_junit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "check.xml"
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "2", "--quiet",
                       "--junit", str(xml))
    assert code == EXIT_VIOLATED and "victim-exits: violated" in out
    root = validated(xml)
    by = {c.get("name"): c for c in root.iter("testcase")}
    assert len(by) == 10
    assert {n for n, c in by.items() if c.find("failure") is not None} == PRE_VIOLATED
    assert "OOM killer" in (by["victim-exits"].find("failure").text or "")  # type: ignore[union-attr]
    passed = by["oom-victims-balance"]
    assert passed.find("failure") is None and passed.find("skipped") is None
    assert "all reachable states" in (passed.find("system-out").text or "")  # type: ignore[union-attr]
    # a bounded "holds" is not a proof: skipped, as exit code 4 is not 0
    code, _, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2", "--quiet",
                     "--engine", "bmc", "--depth", "3", "--property", "no-lost-thaw",
                     "--junit", str(xml))
    assert code == EXIT_BOUNDED
    skipped = validated(xml).find("./testsuite/testcase/skipped")
    assert skipped is not None and "not a proof" in skipped.get("message", "")


def test_check_tap_read_by_a_tap_consumer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "2", "--quiet",
                       "--tap")
    assert code == EXIT_VIOLATED
    lines = list(Parser().parse_text(out))
    assert lines[0].category == "version" and lines[0].version == 13
    assert lines[1].category == "plan" and lines[1].expected_tests == 10
    tests = [ln for ln in lines if ln.category == "test"]
    assert [t.number for t in tests] == list(range(1, 11))
    assert not [ln for ln in lines if ln.category == "unknown"]  # every line is TAP
    bad = {t.description.split()[-1]: t for t in tests if not t.ok}
    assert set(bad) == PRE_VIOLATED
    block = bad["victim-exits"].yaml_block
    assert block["severity"] == "fail" and block["message"].startswith("violated (explicit")
    assert "OOM killer" in block["counterexample"] and "__refrigerator" in block["counterexample"]
    assert "never reaches the goal" in block["counterexample"]
    assert out.rstrip().endswith("# Totals: pass:6 fail:4 xfail:0 xpass:0 skip:0 error:0")


def test_tap_skip_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "3", "--quiet",
                       "--tap", "--max-states", "50", "--property", "no-lost-thaw")
    tests = [ln for ln in Parser().parse_text(out) if ln.category == "test"]
    assert len(tests) == 1 and tests[0].ok and tests[0].skip
    assert "state limit" in tests[0].directive.text
    spec = tmp_path / "ci.toml"
    spec.write_text(SPEC)
    code, out, _ = run(capsys, "verify", str(spec), "--quiet", "--proofs", "--jobs", "1",
                       "--tap")
    assert code == EXIT_VIOLATED
    lines = list(Parser().parse_text(out))
    assert lines[0].category == "version" and lines[1].expected_tests == 6
    assert not [ln for ln in lines if ln.category == "unknown"]  # no table mixed in
    tests = [ln for ln in lines if ln.category == "test"]
    assert [t.ok for t in tests].count(False) == 1
    failed = next(t for t in tests if not t.ok)
    assert failed.yaml_block["message"] == "expected holds, got violated"
    assert "__oom_kill_process" in failed.yaml_block["counterexample"]


def test_junit_file_in_a_missing_directory_is_refused_first(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "freezer", "--variant", "pre", "--quiet",
                         "--junit", str(tmp_path / "no" / "x.xml"))
    assert code == EXIT_USAGE and out == "" and len(err.strip().splitlines()) == 1


def test_all_passing_check_has_no_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "ok.xml"
    code, _, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2", "--quiet",
                     "--junit", str(xml))
    assert code == EXIT_OK
    root = validated(xml)
    assert root.get("failures") == "0" and root.find("./testsuite").get("skipped") == "0"  # type: ignore[union-attr]
