"""Simulation mode: seeded schedulers on any model, and PTL contention in the reaper model."""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import random

import pytest

from oomcheck import cli_simulate
from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.language.compile import Compiled, compile_model
from oomcheck.checker.language.interp import step
from oomcheck.checker.language.lang import FALSE, Model, ModelError, all_of, count
from oomcheck.checker.sample import sample_initial
from oomcheck.checker.simulate import SlotReader, run_trace, simulate
from oomcheck.contention import (
    Costs,
    EventCounter,
    ReaperCostFn,
    Row,
    Summary,
    contention_model,
    control_vars,
    measure,
    plot_panels,
    run_stats,
    worst_case_events,
    zappers,
)
from oomcheck.models.freezer import THREAD


def _freezer(variant: str = "v10", threads: int = 3) -> Model:
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": threads}, {}, cat)


def _reaper_run(walk: str, k: int, p: int, scheduler: str, seed: int, **kw):  # type: ignore[no-untyped-def]
    c = compile_model(contention_model(walk, k, p))
    return c, simulate(c, scheduler, seed, cost=ReaperCostFn(c, Costs()), jitter=0.2, **kw)


def _as_map(c: Compiled, s: int) -> dict:
    return {(name, i): v for (name, i, _), v in zip(c.layout.slots, c.layout.decode(s), strict=True)}


def _replay(c: Compiled, run) -> None:  # type: ignore[no-untyped-def]
    """Every step is the action instance's successor under the interpreter's semantics."""
    assert run.states[0] in c.initial_states()
    assert len(run.states) == len(run.actions) + 1 == len(run.start) + 1
    for i, aid in enumerate(run.actions):
        inst = c.instances[aid]
        assert inst.actor == run.actors[i]
        nxt = step(c.model, inst, _as_map(c, run.states[i]))
        assert nxt is not None, f"step {i}: {inst.label} not enabled"
        assert nxt == _as_map(c, run.states[i + 1]), f"step {i}: {inst.label}"
    out: list = []
    c.expand(run.states[-1], out)
    assert (run.end == "cap") == bool(out)


# ---- the schedulers, on any model ---------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["random", "timed"])
def test_runs_are_deterministic_for_a_seed(scheduler: str) -> None:
    _, a = _reaper_run("forward", 4, 2, scheduler, 7)
    _, b = _reaper_run("forward", 4, 2, scheduler, 7)
    assert (a.states, a.actions, a.start, a.cost, a.waits) == \
        (b.states, b.actions, b.start, b.cost, b.waits)
    others = [_reaper_run("forward", 4, 2, scheduler, s)[1].actions for s in range(8)]
    assert len({tuple(x) for x in others}) > 1  # the seed does matter


@pytest.mark.parametrize("scheduler", ["random", "timed"])
@pytest.mark.parametrize("walk", ["forward", "reverse"])
def test_reaper_runs_are_valid_executions(scheduler: str, walk: str) -> None:
    for seed in range(3):
        c, run = _reaper_run(walk, 3, 2, scheduler, seed)
        assert run.end == "final"
        _replay(c, run)


@pytest.mark.parametrize("variant", ["v10", "pre", "v10-late-mark"])
@pytest.mark.parametrize("scheduler", ["random", "timed"])
def test_simulation_is_generic_freezer(variant: str, scheduler: str) -> None:
    c = compile_model(_freezer(variant))
    for seed in range(4):
        run = simulate(c, scheduler, seed, max_steps=500)
        _replay(c, run)
        assert run.end in ("final", "deadlock")
        assert all(x == 1.0 for x in run.cost)  # no cost model: unit steps, no jitter
    if variant == "pre":  # the known deadlock of the pre-series freezer shows up in simulation
        assert simulate(c, scheduler, 0).end == "deadlock"


def test_step_cap() -> None:
    c = compile_model(_freezer())
    run = simulate(c, "random", 0, max_steps=3)
    assert run.steps == 3 and run.end == "cap"
    _replay(c, run)


def test_timed_scheduler_respects_clocks() -> None:
    _, run = _reaper_run("forward", 6, 3, "timed", 3, record_clocks=True)
    assert run.enabled_clocks is not None and len(run.enabled_clocks) == run.steps
    ends = [s + d for s, d in zip(run.start, run.cost, strict=True)]
    for i, e in enumerate(ends):
        # the step that takes effect is the one that ends first among the enabled actors' steps
        assert e == pytest.approx(min(run.enabled_clocks[i].values()))
        assert run.actors[i] in run.enabled_clocks[i]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(ends))  # in time order
    last: dict[str, float] = {}
    for i, a in enumerate(run.actors):  # an actor's steps do not overlap
        assert run.start[i] >= last.get(a, 0.0) - 1e-9
        last[a] = ends[i]
    assert last == pytest.approx({a: t for a, t in run.clocks.items() if a in last})
    for w in run.waits:  # a wait ends when the enabling step does
        assert w.end == pytest.approx(ends[w.state_index])
        assert w.length > 0
    assert run.makespan == pytest.approx(max(ends))


def test_timed_waits_and_start_clocks() -> None:
    c = compile_model(contention_model("forward", 4, 2))
    cost = ReaperCostFn(c, Costs())
    run = simulate(c, "timed", 0, cost=cost, start_clocks={"oom_reaper": 1000.0})
    first = run.actors.index("oom_reaper")
    assert run.start[first] == pytest.approx(1000.0)
    assert run.busy["oom_reaper"] < 1000.0  # the delay is not busy time
    # starting that late the reaper finds every table cleared and never meets exit_mmap at a PTL
    assert run_stats(c, run, EventCounter(c, zappers(c.model))).total_events == 0
    with pytest.raises(ModelError):
        simulate(c, "timed", 0, start_clocks={"nobody": 1.0})
    with pytest.raises(ModelError):
        simulate(c, "fifo", 0)
    with pytest.raises(ModelError):
        simulate(c, "timed", 0, jitter=1.5)


def test_slot_reader_matches_decode() -> None:
    c, run = _reaper_run("reverse", 3, 2, "random", 1)
    r = SlotReader(c)
    for s in run.states[::5]:
        m = _as_map(c, s)
        assert r.get(s, "reaper_pc") == m[("reaper_pc", None)]
        assert r.get(s, "pte", 3) == m[("pte", 3)]
        assert r.count_true(s, "g_exit") == sum(m[("g_exit", i)] for i in range(6))
        assert r.count_true(s, "pte", range(2, 4)) == m[("pte", 2)] + m[("pte", 3)]


def test_trace_lines() -> None:
    c, run = _reaper_run("forward", 2, 1, "timed", 0)
    lines = run_trace(c, run)
    assert len(lines) == run.steps
    assert any("zap_pte_range" in x and "oom_reaper" in x for x in lines)
    assert run_trace(c, run, 3)[-1].startswith("...")


# ---- PTL contention in the reaper model ---------------------------------------------------------


def _episodes_reference(c: Compiled, states: list[int]) -> int:
    """Waiting episodes counted by hand: a zapper's maximal stay at one PTL step, if it ever
    found the PTL held by another during that stay."""
    total = 0
    for pc, cur, ptl_vals in (("exit_pc", "exit_cur", ("UN_PTL", "SR_PTL")),
                              ("reaper_pc", "reaper_cur", ("PTL",))):
        kinds = c.model.vars[pc].type
        at_vals = {kinds.members.index(x) for x in ptl_vals}  # type: ignore[union-attr]
        waited = False  # during the current stay at the PTL step
        for s in states:
            m = _as_map(c, s)
            if m[(pc, None)] not in at_vals:
                waited = False
            elif m[("ptl", m[(cur, None)])] != 0 and not waited:
                total += 1
                waited = True
    return total


def test_each_waiting_episode_counts_once() -> None:
    for walk in ("forward", "reverse"):
        for seed in range(4):
            c, run = _reaper_run(walk, 4, 3, "timed", seed)
            counter = EventCounter(c, zappers(c.model))
            got = sum(counter.count(run.states).values())
            assert got == _episodes_reference(c, run.states)
    # a forward waiter spins through several of the holder's steps: still one event per wait
    c, run = _reaper_run("forward", 4, 3, "timed", 0)
    counter = EventCounter(c, zappers(c.model))
    waiting_states = sum(1 for s in run.states if any(w(s) for w in counter.waiting))
    assert waiting_states > sum(counter.count(run.states).values()) > 0


@pytest.mark.parametrize("k,p", [(2, 1), (3, 2), (4, 2)])
def test_worst_case_forward_every_table_reverse_once(k: int, p: int) -> None:
    assert worst_case_events(compile_model(contention_model("forward", k, p))) == k
    assert worst_case_events(compile_model(contention_model("reverse", k, p))) == 1


@pytest.mark.parametrize("knobs", [{}, {"mrelease": "yes"}, {"notifier": "may_fail"},
                                   {"vma_kinds": "mixed"}])
@pytest.mark.parametrize("walk", ["forward", "reverse"])
def test_worst_case_on_the_control_projection_is_the_full_search(
        walk: str, knobs: dict[str, str]) -> None:
    c = compile_model(contention_model(walk, 3, 2 if not knobs else 1, knobs))
    ctl = control_vars(c, [e for z in zappers(c.model) for e in (z.at_ptl, z.waiting)])
    # the data the projection drops, and the control it keeps
    assert {"pte", "frees", "g_exit", "uaf"}.isdisjoint(ctl)
    assert {"exit_pc", "exit_cur", "ptl"} <= ctl
    assert worst_case_events(c) == worst_case_events(c, project=False)


def test_contention_with_a_live_thread_counts_its_waits_too() -> None:
    # with the page-table changer knobs a zapper spins at the PTL_LOCK step, and the live
    # victim thread is a zapper as well
    m = contention_model("forward", 2, 1, {"victim_thread": "dontneed"})
    assert [z.actor for z in zappers(m)] == ["exit_mmap", "oom_reaper", "victim thread (live)"]
    c = compile_model(m)
    assert worst_case_events(c) == worst_case_events(c, project=False) >= 2


@pytest.mark.parametrize("k", [16, pytest.param(32, marks=pytest.mark.heavy)])
def test_worst_case_at_large_k(k: int) -> None:
    assert worst_case_events(compile_model(contention_model("forward", k, 4))) == k
    assert worst_case_events(compile_model(contention_model("reverse", k, 4))) == 1


def test_worst_case_bounds_every_simulated_run() -> None:
    for walk in ("forward", "reverse"):
        m = contention_model(walk, 4, 2)
        c = compile_model(m)
        worst = worst_case_events(c)
        counter = EventCounter(c, zappers(m))
        cost = ReaperCostFn(c, Costs())
        for scheduler in ("random", "timed"):
            for seed in range(15):
                run = simulate(c, scheduler, seed, cost=cost, jitter=0.3)
                assert sum(counter.count(run.states).values()) <= worst


def test_worst_case_with_process_mrelease_and_a_cycle_check() -> None:
    m = contention_model("reverse", 2, 1, {"mrelease": "yes"})
    assert len(zappers(m)) == 3
    assert worst_case_events(compile_model(m)) >= 1
    with pytest.raises(ModelError):
        zappers(_freezer())


def test_reverse_has_fewer_events_than_forward_under_timed() -> None:
    fwd = measure(contention_model("forward", 8, 4), "timed", 12, seed=0)
    rev = measure(contention_model("reverse", 8, 4), "timed", 12, seed=0)
    assert rev.events < fwd.events
    assert fwd.events == 8  # same speed, same direction: they meet at every table
    assert rev.events_max <= 1
    assert rev.spin < fwd.spin and rev.work < fwd.work
    assert set(fwd.spin_by_actor) == {"exit_mmap", "oom_reaper"}


def test_random_scheduler_measures_too() -> None:
    fwd = measure(contention_model("forward", 8, 2), "random", 20, seed=1)
    rev = measure(contention_model("reverse", 8, 2), "random", 20, seed=1)
    assert rev.events < fwd.events
    assert rev.events_max <= 1


def test_costs() -> None:
    c = compile_model(contention_model("forward", 2, 2))
    f = ReaperCostFn(c, Costs(jitter=0.0))
    s0 = c.initial_states()[0]
    by = {inst.action.name: inst for inst in c.instances}
    assert f(by["exit_unmap_zap"], s0) == Costs.zap_present  # a present entry
    assert f(by["exit_entry"], s0) == Costs.lock_step
    assert f(by["exit_free_pgtables"], s0) == Costs.lock_step + 2 * Costs.pgtable_free
    with pytest.raises(ModelError):
        contention_model("sideways", 2, 2)


# ---- the command-line API -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oomcheck")
    sub = p.add_subparsers(dest="cmd", required=True)
    cli_simulate.add_parsers(sub)
    return p


def test_cli_simulate_freezer_with_trace(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["simulate", "freezer", "--variant", "v10", "--threads", "2",
                                 "--runs", "3", "--seed", "5", "--trace"])
    assert cli_simulate.run(args) == 0
    out = capsys.readouterr().out
    assert "3 runs (3 final)" in out and "seeds 5..7" in out
    assert "run with seed 5" in out and "OOM killer" in out


def test_cli_simulate_reaper_beyond_check_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["simulate", "reaper", "--variant", "forward", "--vmas", "8",
                                 "--ptes", "4", "--knob", "notifier=ok", "--knob",
                                 "vma_kinds=anon", "--scheduler", "timed", "--runs", "2",
                                 "--format", "json"])
    assert cli_simulate.run(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sizes"] == {"vmas": 8, "ptes": 4} and out["cost_model"] == "reaper"
    assert out["ptl_contention"]["events"] == 8


def test_cli_simulate_deadlock_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["simulate", "freezer", "--variant", "pre"])
    assert cli_simulate.run(args) == 1
    assert "deadlock" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["simulate", "freezer", "--variant", "nope"],
    ["simulate", "reaper", "--variant", "forward", "--knob", "walk=reverse"],
    ["simulate", "reaper", "--variant", "forward", "--threads", "2"],
    ["simulate", "nomodel", "--variant", "v10"],
    ["contention", "--knob", "walk=forward"],
])
def test_cli_bad_input_is_a_model_error(argv: list[str]) -> None:
    with pytest.raises(ModelError):
        cli_simulate.run(_parser().parse_args(argv))


def test_cli_contention_writes_only_its_two_files(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = _parser().parse_args(["contention", "--out", str(out), "--runs", "2", "--sizes",
                                 "4:2,6:2", "--exhaustive-sizes", "4:2", "--quiet"])
    assert cli_simulate.run(args) == 0
    text = capsys.readouterr().out
    assert "| measured (zhongjinji) |" in text and "Direction:" in text
    assert sorted(x.name for x in out.iterdir()) == ["contention.md", "contention.png", "keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert (out / "contention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 4 | 2 | 4 / 1 |" in (out / "contention.md").read_text()
    bad = tmp_path / "file"
    bad.write_text("x")
    with pytest.raises(ModelError):
        cli_simulate.run(_parser().parse_args(["contention", "--out", str(bad), "--runs", "1",
                                               "--sizes", "2:1", "--quiet"]))


def test_bench_script_entry_point(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli_simulate.contention_main(["--runs", "1", "--sizes", "4:1", "--exhaustive-sizes",
                                         "4:1", "--quiet", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "contention.png").exists()
    assert cli_simulate.contention_main(["--knob", "walk=x", "--quiet"]) == 2
    capsys.readouterr()


def test_initial_state_sampled_without_enumerating() -> None:
    small = compile_model(contention_model("forward", 3, 1, {"vma_kinds": "mixed"}))
    inits = set(small.initial_states())
    seen = {simulate(small, "random", s, max_steps=0).states[0] for s in range(40)}
    assert seen <= inits and len(seen) > 1
    # 2^24 initial states (each VMA anonymous or shared): sampled, never listed
    big = compile_model(contention_model("reverse", 24, 1, {"vma_kinds": "mixed"}))
    run = simulate(big, "timed", 0, cost=ReaperCostFn(big, Costs()))
    assert run.end == "final"
    kinds = {SlotReader(big).get(run.states[0], "kind", v) for v in range(24)}
    assert kinds == {0, 1}


def _freezer_big(variant: str, threads: int, knobs: dict[str, str] | None = None) -> Model:
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": threads}, knobs or {}, cat,
                         max_size=threads)


@pytest.mark.parametrize(("threads", "knobs"), [(17, {}), (40, {"pm_freeze": "during"})])
def test_per_thread_init_constraints_sampled_at_many_threads(threads: int, knobs: dict) -> None:
    # a random draw of every slot meets "frozen exactly when in __refrigerator" with
    # probability 2^-threads, and listing the initial states is 4^threads combinations
    c = compile_model(_freezer_big("v10", threads, knobs))
    ok = c.predicate(all_of(*c.model.init_constraints))
    for seed in range(3):
        run = simulate(c, "timed", seed, max_steps=0)
        assert ok(run.states[0])
    pcs = {SlotReader(c).get(simulate(c, "random", s, max_steps=0).states[0], "pc", t)
           for s in range(3) for t in range(1, threads)}
    assert len(pcs) > 1  # the threads do not all start alike


def test_sampled_initial_states_are_uniform() -> None:
    # threads=3 under a PM freeze: each thread starts in 4 ways (running, in __refrigerator,
    # in the freezable sleep frozen or not), 64 initial states in all
    c = compile_model(build_variant(resolve_variant(catalog_for("freezer"), "pre"),
                                    {"threads": 3}, {"pm_freeze": "during"}))
    inits = c.initial_states()
    assert len(inits) == 64
    rng = random.Random(1)
    counts = collections.Counter(sample_initial(c, rng) for _ in range(6400))
    assert set(counts) == set(inits)
    assert max(counts.values()) < 2 * min(counts.values())


def test_unsampleable_initial_states_are_an_error_not_a_hang() -> None:
    m = _freezer_big("v10", 20).derive("one-frozen")
    frozen = m.ref("frozen")
    m.constrain_init(count(THREAD, lambda t: frozen[t]) == 1)  # couples every thread
    with pytest.raises(ModelError, match="cannot draw an initial state"):
        simulate(compile_model(m), "random", 0)
    m = _freezer("v10", 2).derive("none")
    m.constrain_init(FALSE)
    with pytest.raises(ModelError, match="no initial state"):
        simulate(compile_model(m), "random", 0)


def _row(k: int, p: int, fwd_work: float, rev_work: float) -> Row:
    def s(sched: str, work: float, spin: float) -> Summary:
        return Summary(sched, 1, 1.0, 1, spin, work, work, {})
    return Row(k, p, {"forward": None, "reverse": None},
               {"forward": s("random", fwd_work, 10.0), "reverse": s("random", rev_work, 1.0)},
               {"forward": s("timed", fwd_work, 20.0), "reverse": s("timed", rev_work, 2.0)})


def test_contention_plot_series_say_what_they_plot() -> None:
    rows = [_row(8, 2, 200.0, 150.0), _row(8, 4, 100.0, 80.0), _row(4, 4, 50.0, 40.0)]
    panels = plot_panels(rows)
    assert len(panels) == 4
    by_p = panels[3]
    saved = next(ln for ln in by_p.lines if ln.label.startswith("work saved by reverse"))
    # (forward - reverse) / forward: 25% and 20%, not forward/reverse - 1 (33% and 25%)
    assert saved.xs == [2, 4] and saved.ys == pytest.approx([25.0, 20.0])
    ref = next(r for r in by_p.refs if "work saved" in r.label)
    assert ref.y == pytest.approx(100 * (167.1 - 132.6) / 167.1)
    share = next(ln for ln in by_p.lines if ln.label.startswith("spin share forward"))
    assert share.ys == pytest.approx([10.0, 20.0])
    ratios = panels[2]
    work = next(ln for ln in ratios.lines if ln.label.startswith("work fwd/rev"))
    assert work.xs == [4, 8] and work.ys == pytest.approx([50 / 40, 100 / 80])
    # every reference line names the measurement it comes from, never a bare "seed"
    labels = [r.label for pn in panels for r in pn.refs]
    assert labels and all("zhongjinji" in lb and "seed" not in lb for lb in labels)
    assert not any("seed" in ln.label for pn in panels for ln in pn.lines)
