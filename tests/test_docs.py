"""The documentation stays true: every section a comment cites exists, and the examples the docs
show still give the output they describe."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from oomcheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CITE = re.compile(r"\b(kernel-background|modeling|traces)(?:\.md)? §(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", re.MULTILINE)


def _sections(doc: str) -> set[str]:
    return set(HEADING.findall((DOCS / f"{doc}.md").read_text()))


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *DOCS.rglob("*.md"), *DOCS.rglob("*.py")]
    for sub in ("oomcheck", "spec", "tests", "bench"):
        files += [p for p in (ROOT / sub).rglob("*") if p.suffix in (".py", ".toml", ".md")]
    return files


def test_every_cited_section_exists() -> None:
    known = {d: _sections(d) for d in ("kernel-background", "modeling", "traces")}
    missing = []
    for path in _sources():
        for m in CITE.finditer(path.read_text(errors="replace")):
            doc, sec = m.groups()
            if sec not in known[doc]:
                missing.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not missing, "cited sections that do not exist:\n" + "\n".join(missing)


def test_readme_links_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    for page in ("modeling.md", "traces.md", "kernel-background.md"):
        assert f"docs/{page}" in readme
        assert (DOCS / page).is_file()


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", DOCS / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_weak_fairness_example_is_a_fair_loop(capsys: pytest.CaptureFixture[str]) -> None:
    assert _example("weak_fairness").main() == 0
    out = capsys.readouterr().out
    assert "waiter-gets-lock: violated" in out
    assert "---- loop: the steps below repeat forever ----" in out and "---- back to step 1 ----" in out
    assert "CPU 1 (waiter)" not in out  # the starved waiter never takes a step


def test_replay_example_replays_a_counterexample(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "freezer", "--variant", "v8", "--threads", "2", "--property",
          "oom-victims-balance", "--format", "json", "--quiet"])
    trace = tmp_path / "v8.json"
    trace.write_text(capsys.readouterr().out)
    assert _example("replay").main(["replay.py", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "6. thread 1       exit_oom_victim(t=1)" in out
    assert "the last state breaks the invariant" in out
