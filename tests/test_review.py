"""Patch review: `oomcheck diff` (what a variant changes) and `oomcheck report` (a 72-column
summary with the race drawn as in a kernel commit message)."""

from __future__ import annotations

import json

import pytest

from oomcheck.checker.changelog import compact, diagram
from oomcheck.checker.trace import Step, Trace
from oomcheck.cli import EXIT_BOUNDED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, EXIT_VIOLATED, main

FIXED_BY_V10 = {"victim-exits", "no-deadlock", "no-frozen-after-thaw", "mm-released"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_pre_v10_prints_only_what_v10_fixes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "freezer", "pre", "v10", "--threads", "3", "--quiet")
    assert code == EXIT_VIOLATED  # something changed
    changed = {ln.split(":")[0] for ln in out.splitlines() if "-> holds  [fixed]" in ln}
    assert changed == FIXED_BY_V10
    assert "4 of 10 properties changed verdict" in out
    assert "knobs: thaw victim -> group, exemption memdie -> oom_victim" in out
    assert "  pre: violated (explicit, all reachable states for threads=3" in out
    unchanged = out[out.index("unchanged:"):]
    assert "oom-victims-balance (holds)" in unchanged and "victim-exits" not in unchanged
    assert "new counterexample" not in out  # a fix adds no counterexample


def test_diff_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "freezer", "pre", "v10", "--threads", "3", "--quiet",
                       "--format", "json")
    doc = json.loads(out)
    assert code == EXIT_VIOLATED and doc["exit_code"] == EXIT_VIOLATED
    assert {c["property"] for c in doc["changes"]} == FIXED_BY_V10
    for c in doc["changes"]:
        assert c["change"] == "verdict" and c["label"] == "fixed"
        assert c["before"]["verdict"] == "violated" and c["before"]["trace"]["steps"]
        assert c["after"]["verdict"] == "holds" and "trace" not in c["after"]
    assert len(doc["unchanged"]) == 6 and doc["before"]["knobs"]["thaw"] == "victim"


def test_diff_regression_prints_the_new_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "freezer", "v10", "v10-late-mark", "--threads", "2",
                       "--property", "victim-exits", "--property", "mm-released", "--quiet")
    assert code == EXIT_VIOLATED
    assert "victim-exits: holds -> violated  [regressed]" in out
    assert "the new counterexample (11 steps):" in out and "OOM killer" in out
    assert "mm-released: holds -> violated" in out
    assert "the same run as under victim-exits" in out  # printed once


@pytest.mark.parametrize(("extra", "code"), [
    ((), EXIT_OK),
    (("--max-states", "50"), EXIT_UNKNOWN),  # unknown on both sides: "unchanged" is not said
    (("--engine", "bmc", "--depth", "3", "--property", "no-lost-thaw"), EXIT_BOUNDED),
])
def test_diff_exit_codes_when_nothing_changed(extra: tuple[str, ...], code: int,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    got, out, _ = run(capsys, "diff", "freezer", "v10", "v10", "--threads", "2", "--quiet", *extra)
    assert got == code, out
    assert "0 of" in out
    if code == EXIT_UNKNOWN:
        assert "[undecided]" in out


@pytest.mark.parametrize("argv", [
    ["diff", "freezer", "pre", "nope"],
    ["diff", "freezer", "pre", "v10", "--property", "nope"],
    ["diff", "freezer", "pre"],
    ["report", "freezer"],
    ["report", "--diff", "freezer", "pre"],
    ["report", "--diff", "freezer", "pre", "v10", "--variant", "pre"],
    ["report", "freezer", "--variant", "pre", "--race", "nope"],
])
def test_bad_input_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv, "--quiet")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == EXIT_USAGE and len(lines) == 1 and lines[0].startswith("oomcheck: "), err
    assert out == ""


def _fits(out: str) -> None:
    too_long = [ln for ln in out.splitlines() if len(ln) > 72]
    assert not too_long, too_long


def test_report_of_a_diff(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--diff", "freezer", "pre", "v10", "--threads", "3",
                       "--quiet")
    assert code == EXIT_VIOLATED
    _fits(out)
    assert "Verdicts (4 of 10 changed)" in out
    table = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()
             if ln.startswith("  ") and len(ln.split()) >= 3 and ln.split()[0] in FIXED_BY_V10}
    assert set(table) == FIXED_BY_V10
    assert all(v[0] == "violated" and v[2] == "holds" and v[-1] == "fixed" for v in table.values())
    assert "[1] pre: explicit, all reachable states for threads=3" in out
    assert "no PM freeze in progress" in out  # what a "holds" assumes
    # the race v10 removes, drawn in CPU columns with kernel function names
    assert "The race v10 removes: no-deadlock in pre, 7 steps" in out
    lines = out.splitlines()
    head = lines.index(next(ln for ln in lines if ln.strip().startswith("CPU0")))
    assert lines[head].split() == ["CPU0", "CPU1"]
    assert lines[head + 1].split() == ["OOM", "killer", "thread", "0"]
    col = lines[head].index("CPU1")
    steps = lines[head + 3:]
    assert steps[0].strip().startswith("__oom_kill_process") and steps[0].startswith("  _")
    exiting = next(ln for ln in steps if "get_signal" in ln)
    assert exiting.index("get_signal") == col  # thread 0's column
    assert "-- deadlock: no step of any CPU is enabled here --" in out
    assert "Command:  oomcheck report --diff freezer pre v10 --threads 3" in out


def test_report_of_a_check_and_race_choice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "freezer", "--variant", "pre", "--threads", "3",
                       "--quiet", "--race", "victim-exits")
    assert code == EXIT_VIOLATED
    _fits(out)
    assert "Verdicts (4 of 10 properties violated)" in out
    assert "The race: victim-exits in pre, 13 steps" in out
    assert "CPU0" in out and "CPU3" in out and "thread 2" in out
    assert "-- stuck: no fair step is enabled, it stays here forever --" in out
    assert "mm-released (13 steps, the same run as victim-exits)" in out
    code, out, _ = run(capsys, "report", "freezer", "--variant", "v10", "--threads", "2",
                       "--quiet", "--race", "victim-exits")
    assert code == EXIT_OK and "victim-exits has no counterexample in v10." in out
    _fits(out)


def test_report_of_a_regression(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--diff", "freezer", "v10", "v10-late-mark",
                       "--threads", "2", "--quiet")
    assert code == EXIT_VIOLATED
    _fits(out)
    assert "The race v10-late-mark adds:" in out and "regressed" in out


def test_compact_joins_array_members() -> None:
    values = {"pc[0]": "RUNNING", "pc[1]": "SLEEP", "pc[2]": "SLEEP", "oom_pc": "IDLE",
              "frozen[0]": "1", "frozen[1]": "1"}
    assert compact(values) == ["pc[0]=RUNNING", "pc[1..2]=SLEEP", "oom_pc=IDLE", "frozen[0..1]=1"]
    assert compact({"pc[1]": "EXITING", "memdie[0]": "0"}, own=1) == ["pc=EXITING", "memdie[0]=0"]


def test_diagram_falls_back_to_a_list_when_columns_do_not_fit() -> None:
    long = "mmu_notifier_invalidate_range_start_nonblock"
    steps = [Step(f"task {i}", f"{long}(t={i})", long, "mm/x.c", "a step",
                  {f"x[{i}]": ("0", "1")}) for i in range(5)]
    rows = diagram(Trace({}, steps), width=72)
    assert all(len(r) <= 72 for r in rows)
    assert rows[0].startswith("  CPU0: task 0; CPU1: task 1")
    assert any(r.strip().startswith(f"CPU4 {long}") for r in rows)
    two = diagram(Trace({}, steps[:2]), width=72)
    assert two[0].split() == ["CPU0", "CPU1"] and all(len(r) <= 72 for r in two)
