"""Limits are exact, a search stopped by one never says "holds", and exit codes follow strength."""

from __future__ import annotations

import json
from functools import cache

import pytest

from oomcheck.catalog import model_for
from oomcheck.checker.explicit import search as explicit
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model
from oomcheck.checker.trace import Result
from oomcheck.cli import EXIT_BOUNDED, EXIT_OK, EXIT_UNKNOWN, EXIT_VIOLATED, _exit_code, main


@cache
def _model(variant: str, threads: int) -> Model:
    return model_for("freezer", variant, None, {"threads": threads}, {})[0]


@cache
def _full(variant: str, threads: int, liveness: bool) -> tuple[int, dict[str, Result]]:
    m = _model(variant, threads)
    rs = check_explicit(m, _props(m, liveness))
    return rs[0].states, {r.property: r for r in rs}


def _props(m: Model, liveness: bool) -> list:
    return [p for p in m.properties.values() if liveness or not p.is_liveness]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--format", "json", "--quiet"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


# ---- the state limit ------------------------------------------------------------------------


@pytest.mark.parametrize("liveness", [False, True], ids=["layers", "graph"])
@pytest.mark.parametrize("variant", ["v10", "pre"])
def test_state_limit_is_exact(variant: str, liveness: bool) -> None:
    full, want = _full(variant, 3, liveness)
    m = _model(variant, 3)
    for k in (1, 2, 7, 100, 1000, full - 1, full, full + 1):
        rs = check_explicit(m, _props(m, liveness), Limits(max_states=k))
        for r in rs:
            assert r.states == min(k, full), (k, r)
            if full <= k:  # the whole space fits: the same answers as without a limit
                assert r.verdict == want[r.property].verdict and r.strength["complete"]
                assert (r.transitions, r.depth) == (want[r.property].transitions,
                                                    want[r.property].depth)
                continue
            assert r.verdict in ("unknown", "violated") and not r.strength["complete"], (k, r)
            assert r.transitions <= want[r.property].transitions
            if r.verdict == "unknown":
                assert r.reason == f"state limit reached ({k} states stored)"
            else:  # found before the stop: a real counterexample, as short as without a limit
                assert want[r.property].verdict == "violated" and r.kind in ("invariant", "deadlock")
                assert len(r.trace.steps) == len(want[r.property].trace.steps)


def test_a_stopped_search_reports_what_it_reached(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _run(capsys, "check", "freezer", "--variant", "pre", "--threads", "3",
                     "--max-states", "100")
    assert code == EXIT_UNKNOWN
    for r in doc["results"]:
        assert r["verdict"] == "unknown" and r["states"] == 100
        assert r["transitions"] > 0 and r["depth"] > 0
        assert r["strength"]["complete"] is False


def test_max_states_1_is_unknown_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                     "--max-states", "1")
    assert code == EXIT_UNKNOWN
    assert {(r["verdict"], r["states"]) for r in doc["results"]} == {("unknown", 1)}


# ---- time and memory ------------------------------------------------------------------------


def test_max_memory_1_is_unknown_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    for variant in ("v10", "pre"):
        code, doc = _run(capsys, "check", "freezer", "--variant", variant, "--threads", "2",
                         "--max-memory", "1")
        assert code == EXIT_UNKNOWN
        for r in doc["results"]:
            assert r["verdict"] == "unknown" and r["reason"] == "memory limit reached (1 MB)"


def test_time_limit_checked_at_the_start() -> None:
    m = _model("v10", 2)
    rs = check_explicit(m, list(m.properties.values()), Limits(max_seconds=1e-9))
    assert {(r.verdict, r.states) for r in rs} == {("unknown", 0)}
    assert rs[0].reason.startswith("time limit reached")


def test_memory_checked_inside_the_liveness_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory limit passed during the SCC analysis stops it there: unknown, not holds."""
    full, _ = _full("v10", 3, True)  # before the limit is faked below
    phase = {"scc": False, "scc_done": False}
    sccs = explicit._sccs

    def watched(*args: object) -> object:
        phase["scc"] = True
        out = sccs(*args)  # type: ignore[arg-type]
        phase["scc_done"] = True
        return out

    monkeypatch.setattr(explicit, "_sccs", watched)
    monkeypatch.setattr(explicit, "peak_rss_mb", lambda: 1e9 if phase["scc"] else 0.0)
    m = _model("v10", 3)
    rs = check_explicit(m, list(m.properties.values()), Limits(max_memory_mb=1000), core="python")
    assert phase["scc"] and not phase["scc_done"]
    for r in rs:
        assert r.verdict == "unknown" and r.reason == "memory limit reached (1000 MB)"
        assert r.states == full and r.transitions > 0


@pytest.mark.parametrize(("search", "core"), [("_LayerSearch", "python"), ("_GraphSearch", "python"),
                                            ("NativeLayerSearch", "native")])
def test_limits_checked_again_at_the_end(search: str, core: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit passed only after the last periodic check still turns "holds" into unknown. The
    core is pinned: with core auto a cached native build runs instead of the class watched."""
    if core == "native":
        pytest.importorskip("cffi")
        from oomcheck.checker.explicit.native import search as native

        cls = native.NativeLayerSearch
    else:
        cls = getattr(explicit, search)
    done = {"explored": False}
    explore = cls.explore

    def explore_then_grow(self: object) -> None:
        explore(self)
        done["explored"] = True

    monkeypatch.setattr(cls, "explore", explore_then_grow)
    monkeypatch.setattr(explicit, "peak_rss_mb", lambda: 1e9 if done["explored"] else 0.0)
    m = _model("v10", 2)
    rs = check_explicit(m, _props(m, search == "_GraphSearch"), Limits(max_memory_mb=1000), core=core)
    assert done["explored"]
    assert {r.verdict for r in rs} == {"unknown"} and rs[0].states == 231


# ---- exit codes -----------------------------------------------------------------------------


def _res(verdict: str, **strength: object) -> Result:
    return Result("p", "invariant", verdict, "x", strength=dict(strength))


@pytest.mark.parametrize(("results", "code"), [
    ([_res("holds", kind="proved")], EXIT_OK),
    ([_res("holds", kind="explicit", complete=True)], EXIT_OK),
    ([_res("holds", kind="bounded", depth=5)], EXIT_BOUNDED),
    ([_res("holds", kind="fingerprint")], EXIT_BOUNDED),
    ([_res("holds", kind="explicit", complete=True, probabilistic=True)], EXIT_BOUNDED),
    ([_res("holds", kind="explicit", complete=False)], EXIT_BOUNDED),
    ([_res("holds", kind="proved"), _res("holds", kind="bounded")], EXIT_BOUNDED),
    ([_res("holds", kind="bounded"), _res("unknown", kind="none")], EXIT_UNKNOWN),
    ([_res("unknown", kind="none"), _res("violated", kind="bounded")], EXIT_VIOLATED),
    ([_res("holds", kind="bounded"), _res("violated", kind="explicit")], EXIT_VIOLATED),
], ids=["proved", "explicit", "bounded", "fingerprint", "probabilistic", "incomplete",
        "proved+bounded", "bounded+unknown", "unknown+violated", "bounded+violated"])
def test_exit_code_precedence(results: list[Result], code: int) -> None:
    assert _exit_code(results) == code


def test_bmc_holds_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _run(capsys, "check", "freezer", "--variant", "v10", "--threads", "2",
                     "--engine", "bmc", "--property", "no-deadlock", "--depth", "5")
    (r,) = doc["results"]
    assert (r["verdict"], r["strength"]["kind"]) == ("holds", "bounded")
    assert code == EXIT_BOUNDED


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["check", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out, _ = capsys.readouterr()
        assert "exit codes:" in out
        assert "4  every property holds, but some only up to a bound" in out


def test_z3_engines_honour_max_seconds_over_all_properties() -> None:
    """--max-seconds bounds the whole run, not each property's --timeout."""
    from oomcheck.catalog import build_variant, catalog_for, resolve_variant
    from oomcheck.checker.engines import Options, run
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, "v10"), {"threads": 3}, {}, cat)
    props = list(m.properties.values())
    for engine in ("chc", "induction", "bmc"):
        results = run(m, props, Options(engine, depth=40, timeout=60,
                                        limits=Limits(max_seconds=0.5)))
        assert any(r.verdict == "unknown" and "time limit" in r.reason for r in results), engine
