"""The command line: results, output formats, exit codes, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oomcheck.cli import EXIT_BOUNDED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE, EXIT_VIOLATED, main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("oomcheck: ") and "Traceback" not in err


def test_check_violated_prints_trace_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "3",
                       "--property", "victim-exits", "--quiet")
    assert code == EXIT_VIOLATED
    assert "victim-exits: violated" in out
    assert "OOM killer" in out and "thread 1" in out
    assert "stuck" in out and "never reaches the goal: thread" in out


def test_check_holds_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2", "--quiet")
    assert code == EXIT_OK
    assert out.count(": holds") == 10


def test_check_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "2",
                       "--format", "json", "--quiet")
    assert code == EXIT_VIOLATED
    doc = json.loads(out)
    assert doc["model"] == "freezer" and doc["variant"] == "pre" and doc["sizes"] == {"threads": 2}
    by = {r["property"]: r for r in doc["results"]}
    for r in by.values():
        assert {"property", "verdict", "states", "seconds", "engine", "strength"} <= set(r)
    trace = by["victim-exits"]["trace"]
    assert trace["steps"] and all({"actor", "action", "changes"} <= set(s) for s in trace["steps"])
    assert trace["stutter"] is True
    assert by["oom-victims-balance"]["verdict"] == "holds" and "trace" not in by["oom-victims-balance"]


def test_check_dot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "2",
                       "--property", "victim-exits", "--format", "dot", "--quiet")
    assert code == EXIT_VIOLATED
    assert out.startswith("digraph") and "->" in out and "stuck forever" in out


def test_variant_file_by_path(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "spec" / "variants" / "freezer_v8.py")
    code, out, _ = run(capsys, "check", "freezer", "--variant", path, "--threads", "2",
                       "--property", "oom-victims-balance", "--quiet")
    assert code == EXIT_VIOLATED and "oom-victims-balance: violated" in out


def test_knob_selects_the_cgroup2_freezer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--knob", "freezer=cgroup2",
                       "--property", "victim-exits", "--quiet")
    assert code == EXIT_OK and "victim-exits: holds" in out


def test_limit_gives_unknown_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "4",
                       "--property", "oom-victims-balance", "--max-states", "100", "--quiet")
    assert code == EXIT_UNKNOWN
    assert "unknown" in out and "state limit" in out


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == EXIT_OK
    for word in ("freezer", "--threads", "victim-exits", "v10-late-mark", "freezer_v8.py"):
        assert word in out


@pytest.mark.heavy
def test_verify_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    # the explicit part of every catalog; CI's `verify --full` runs all of it, with the bmc
    # cross-check and the proofs, so the default run leaves this out
    code, out, _ = run(capsys, "verify", "--quiet", "--no-cross-check", *_without_proofs())
    assert code == EXIT_OK, out
    assert "verdicts as expected" in out


def _without_proofs() -> list[str]:
    import tempfile

    out = []
    for spec in sorted((ROOT / "spec").glob("*.toml")):
        text = spec.read_text().split("\n[[proof]]")[0]
        tmp = Path(tempfile.mkdtemp()) / spec.name
        tmp.write_text(text.replace('file = "variants/', f'file = "{spec.parent}/variants/'))
        out.append(str(tmp))
    return out


SMALL_SPEC = """model = "freezer"
[variants.pre]
knobs = { thaw = "victim", exemption = "memdie" }
[variants.v10]
knobs = { thaw = "group", exemption = "oom_victim" }
[[expect]]
variant = "pre"
sizes = { threads = [2] }
verdicts = { victim-exits = "violated", no-frozen-after-thaw = "violated", oom-victims-balance = "holds" }
[[expect]]
variant = "v10"
sizes = { threads = [2] }
verdicts = { victim-exits = "holds", no-lost-thaw = "holds" }
[[proof]]
variant = "v10"
sizes = { threads = [2] }
engine = "chc"
expect = { no-lost-thaw = "proved" }
[[proof]]
variant = "pre"
sizes = { threads = [2] }
engine = "bmc"
depth = 8
expect = { no-frozen-after-thaw = "violated", oom-victims-balance = "bounded" }
"""


def test_verify_cross_checks_and_proves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL_SPEC)
    code, out, _ = run(capsys, "verify", str(spec), "--quiet", "--format", "json", "--full")
    assert code == EXIT_OK, out
    doc = json.loads(out)
    assert doc["mismatches"] == [] and doc["not_cross_checked"] == [] and doc["not_run"] == []
    proved = [r for r in doc["checks"] if r["engine"] == "chc"]
    assert proved and proved[0]["strength"]["kind"] == "proved"


def test_verify_catches_a_wrong_strength(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL_SPEC.replace('oom-victims-balance = "bounded"',
                                       'oom-victims-balance = "proved"'))
    code, out, _ = run(capsys, "verify", str(spec), "--quiet", "--proofs")
    assert code == EXIT_VIOLATED
    assert "expected proved, got bounded" in out


@pytest.mark.parametrize(("engine", "needle"), [
    ("bmc", "victim-exits: violated (bmc, depth"),
    ("chc", "engine chc proves safety properties only"),
    ("induction", "engine induction proves safety properties only"),
    ("auto", "engines tried: parametric, explicit"),
    ("parametric", "victim-exits: violated (violated for every threads >= 2, shown by parametric)"),
])
def test_engines_on_liveness(engine: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "pre", "--threads", "2",
                       "--property", "victim-exits", "--engine", engine, "--depth", "10", "--quiet")
    assert needle in out
    assert code == (EXIT_UNKNOWN if engine in ("chc", "induction") else EXIT_VIOLATED)


def test_auto_json_says_what_a_proof_covers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--property",
                       "oom-victims-balance", "--engine", "auto", "--format", "json", "--quiet")
    r = json.loads(out)["results"][0]
    assert code == 0
    assert (r["engine"], r["strength"]["kind"], r["strength"]["covers"]) == \
        ("parametric", "proved", "every threads >= 2")


def test_chc_prints_the_invariant_it_found(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                       "--property", "no-lost-thaw", "--engine", "chc", "--quiet")
    assert code == EXIT_OK
    assert "proved by chc for threads=2" in out and "inductive invariant found" in out
    assert "REFRIG_SLEEP" in out  # in the model's own vocabulary


def test_bmc_bounded_answer_is_not_a_proof(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                       "--property", "no-lost-thaw", "--engine", "bmc", "--depth", "5",
                       "--format", "json", "--quiet")
    r = json.loads(out)["results"][0]
    assert r["verdict"] == "holds" and r["strength"] == {"kind": "bounded", "depth": 5}
    assert code == EXIT_BOUNDED  # not 0: a script must not mistake it for a proof


GOOD_INVARIANT = """
from oomcheck.lang import implies, ite
from oomcheck.models.freezer import OomPC, ThreadPC


def invariant(m):
    pc, memdie = m.ref("pc"), m.ref("memdie")
    oom_pc, victims = m.ref("oom_pc"), m.ref("oom_victims")
    return (~memdie[1] & (pc[1] != ThreadPC.EXIT_OOM_VICTIM)
            & (victims == ite((oom_pc == OomPC.DONE) & memdie[0], 1, 0))
            & implies(pc[0] == ThreadPC.EXIT_OOM_VICTIM, memdie[0] & (oom_pc == OomPC.DONE))
            & implies(oom_pc == OomPC.THAW, memdie[0])
            & implies((oom_pc == OomPC.IDLE) | (oom_pc == OomPC.MARK), ~memdie[0]))
"""


def test_user_invariant_good_and_not_inductive(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.py"
    good.write_text(GOOD_INVARIANT)
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                       "--property", "memdie-single-thread", "--engine", "induction",
                       "--invariant", str(good), "--quiet")
    assert code == EXIT_OK and "proved by inductive invariant" in out
    weak = tmp_path / "weak.py"
    weak.write_text("def invariant(m):\n"
                    "    return m.ref('oom_victims') >= 0\n")
    code, out, _ = run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                       "--property", "oom-victims-balance", "--engine", "induction",
                       "--invariant", str(weak), "--quiet", "--format", "json")
    r = json.loads(out)["results"][0]
    assert code == EXIT_UNKNOWN and r["verdict"] == "unknown"
    assert r["reason"].startswith("the invariant is not inductive")
    assert len(r["trace"]["steps"]) == 1  # the pair of states


def test_verify_reports_a_wrong_expectation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "wrong.toml"
    spec.write_text(
        'model = "freezer"\n'
        '[variants.pre]\nknobs = { thaw = "victim", exemption = "memdie" }\n'
        '[[expect]]\nvariant = "pre"\nsizes = { threads = [2] }\n'
        'verdicts = { victim-exits = "holds" }\n'
    )
    code, out, _ = run(capsys, "verify", str(spec), "--quiet")
    assert code == EXIT_VIOLATED
    assert "expected holds, got violated" in out
    assert spec.read_text().startswith('model = "freezer"')  # the user's file is untouched


BAD_VARIANT_FILES = {
    "syntax.py": "def derive(m)\n",
    "no_derive.py": 'MODEL = "freezer"\n',
    "no_model.py": "def derive(m):\n    return m\n",
    "raises.py": 'MODEL = "freezer"\ndef derive(m):\n    raise ValueError("boom")\n',
    "returns_none.py": 'MODEL = "freezer"\ndef derive(m):\n    pass\n',
    "bad_action.py": 'MODEL = "freezer"\ndef derive(m):\n    m.remove_action("nope")\n    return m\n',
    "bad_base.py": 'MODEL = "freezer"\nBASE = "nonexistent"\ndef derive(m):\n    return m\n',
}


@pytest.mark.parametrize("name", sorted(BAD_VARIANT_FILES))
def test_bad_variant_files(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / name
    f.write_text(BAD_VARIANT_FILES[name])
    code, _, err = run(capsys, "check", "freezer", "--variant", str(f), "--quiet")
    assert code == EXIT_USAGE
    assert_one_error_line(err)
    assert f.read_text() == BAD_VARIANT_FILES[name]


BAD_ARGS = [
    (["check", "nomodel", "--variant", "pre"], "no model"),
    (["check", "freezer", "--variant", "nosuch"], "no variant"),
    (["check", "freezer", "--variant", "/no/such/file.py"], "does not exist"),
    (["check", "freezer", "--variant", "pre", "--threads", "13"], "2..12"),
    (["check", "freezer", "--variant", "pre", "--threads", "0"], "at least 1"),
    (["check", "freezer", "--variant", "pre", "--threads", "x"], "whole number"),
    (["check", "freezer", "--variant", "pre", "--vmas", "3"], "no size"),
    (["check", "freezer", "--variant", "pre", "--property", "nope"], "no property"),
    (["check", "freezer", "--variant", "pre", "--knob", "freezer"], "NAME=VALUE"),
    (["check", "freezer", "--variant", "pre", "--knob", "nokob=1"], "no knob"),
    (["check", "freezer", "--variant", "pre", "--knob", "freezer=cgroup3"], "must be one of"),
    (["check", "freezer", "--variant", "pre", "--knob", "thaw=group"], "fixes knob"),
    (["check", "freezer", "--variant", "pre", "--format", "xml"], "invalid choice"),
    (["check", "freezer", "--variant", "pre", "--max-seconds", "-1"], "positive"),
    (["check", "freezer"], "required"),
    (["frobnicate"], "invalid choice"),
    (["verify", "/no/such/spec.toml"], "does not exist"),
    (["check", "freezer", "--variant", "pre", "--engine", "magic"], "invalid choice"),
    (["check", "freezer", "--variant", "pre", "--invariant", "/no/inv.py"], "does not exist"),
    (["check", "freezer", "--variant", "pre", "--depth", "0"], "at least 1"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert_one_error_line(err)
    assert needle in err


BAD_SPECS = {
    "not toml": "model = \n",
    "no model": "[variants.x]\nknobs = {}\n",
    "unknown model": 'model = "nope"\n',
    "bad knob": 'model = "freezer"\n[variants.x]\nknobs = { thaw = "sometimes" }\n',
    "both knobs and file": 'model = "freezer"\n[variants.x]\nknobs = {}\nfile = "a.py"\n',
    "unknown variant": 'model = "freezer"\n[[expect]]\nvariant = "x"\n',
    "bad verdict": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[expect]]\nvariant = "x"\n'
                    'verdicts = { victim-exits = "maybe" }\n'),
    "bad sizes": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[expect]]\nvariant = "x"\n'
                  'sizes = { threads = 3 }\n'),
    "size too large": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[expect]]\nvariant = "x"\n'
                       'sizes = { threads = [99] }\nverdicts = { victim-exits = "holds" }\n'),
    "bad proof engine": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[proof]]\nvariant = "x"\n'
                         'engine = "magic"\n'),
    "bad proof strength": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[proof]]\nvariant = "x"\n'
                           'engine = "chc"\nexpect = { victim-exits = "certainly" }\n'),
    "unknown property": ('model = "freezer"\n[variants.x]\nknobs = {}\n[[expect]]\nvariant = "x"\n'
                         'sizes = { threads = [2] }\nverdicts = { flies = "holds" }\n'),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_spec_files(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "spec.toml"
    f.write_text(BAD_SPECS[name])
    code, _, err = run(capsys, "verify", str(f), "--quiet")
    assert code == EXIT_USAGE
    assert_one_error_line(err)


def test_installed_entry_point_reports_errors_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "oomcheck", "check", "freezer", "--variant", "x"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == EXIT_USAGE
    assert_one_error_line(proc.stderr)


# ---- a reader that goes away (`oomcheck ... | head -1`) changes nothing but the output --------


def _first_line_then_close(*argv: str) -> tuple[int, str, str]:
    """Run the CLI with stdout to a small pipe; read one line, close the pipe, wait for the end."""
    import fcntl
    import os

    proc = subprocess.Popen([sys.executable, "-m", "oomcheck", *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    fd = proc.stdout.fileno()
    try:  # a one-page pipe: the writer must block, and then find the reader gone
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
    except OSError:
        pass
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(fd, 1)
        if not c:
            break
        line += c
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=300), line.decode(), err


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err and "Error" not in err, err


def test_check_violated_exits_1_when_stdout_closes_early() -> None:
    code, line, err = _first_line_then_close("check", "freezer", "--variant", "pre",
                                             "--threads", "3")
    assert line.startswith("model freezer, variant pre")
    assert code == EXIT_VIOLATED  # victim-exits is violated there
    _no_traceback(err)


def test_verify_differing_exits_1_when_stdout_closes_early(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.toml"
    spec.write_text(
        'model = "freezer"\n'
        '[variants.pre]\nknobs = { thaw = "victim", exemption = "memdie" }\n'
        '[[expect]]\nvariant = "pre"\nsizes = { threads = [2] }\n'
        'verdicts = { victim-exits = "holds" }\n'
    )
    code, line, err = _first_line_then_close("verify", str(spec), "--no-cross-check", "--quiet")
    assert line.startswith("freezer")
    assert code == EXIT_VIOLATED
    _no_traceback(err)


@pytest.mark.parametrize(("argv", "want"), [
    (["list"], EXIT_OK),
    (["check", "freezer", "--variant", "v10", "--threads", "2", "--engine", "bmc",
      "--property", "no-deadlock", "--depth", "3", "--format", "json", "--quiet"], EXIT_BOUNDED),
    (["simulate", "freezer", "--variant", "pre", "--runs", "3", "--trace"], None),
])
def test_other_commands_keep_their_code_when_stdout_closes_early(argv: list[str],
                                                                 want: int | None) -> None:
    whole = subprocess.run([sys.executable, "-m", "oomcheck", *argv], cwd=ROOT,
                           capture_output=True, check=False)
    code, line, err = _first_line_then_close(*argv)
    assert code == whole.returncode and (want is None or code == want)
    assert whole.stdout.decode().startswith(line) and line
    _no_traceback(err)


@pytest.mark.parametrize("row, message", [
    ('[expect.verdicts]\nvictim-exit = "violated"', "no property 'victim-exit'"),
    ('sizes = { cpus = [2] }', "no size 'cpus'"),
    ('sizes = { threads = [99] }', "threads=99 is outside 2..12"),
])
def test_verify_refuses_a_bad_row_before_running(capsys, tmp_path, row: str, message: str) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('model = "freezer"\n[variants.pre]\nknobs = { thaw = "victim" }\n'
                    f'[[expect]]\nvariant = "pre"\n{row}\n')
    code, out, err = run(capsys, "verify", str(spec), "--quiet", "--jobs", "1")
    assert code == 2 and out == "" and message in err and "expect[0]" in err
    assert len(err.strip().splitlines()) == 1
