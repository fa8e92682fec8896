"""Renderings of a counterexample: kernel-changelog columns, JSON, Graphviz DOT."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable

from oomcheck.checker.trace import Result, Step, Trace

COL = 34


def _actors(trace: Trace) -> list[str]:
    seen: list[str] = []
    for s in trace.steps:
        if s.actor not in seen:
            seen.append(s.actor)
    return actor_order(seen)


def actor_order(actors: Iterable[str]) -> list[str]:
    """The column order of a trace (also the explorer's): singletons (the OOM killer, the
    reaper...) first, then indexed actors in index order."""
    def key(a: str) -> tuple[int, str]:
        head, _, tail = a.rpartition(" ")
        return (1, f"{head} {int(tail):06d}") if tail.isdigit() else (0, a)

    return sorted(actors, key=key)


def _cell(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for ln in lines:
        out.extend(textwrap.wrap(ln, width - 1, subsequent_indent="  ") or [""])
    return out


def trace_text(trace: Trace) -> str:
    """One column per actor; each step gives the kernel function and the variables it changed.
    What each step of a function does is said once, in the legend under the trace."""
    actors = _actors(trace)
    width = COL
    rows: list[str] = ["".join(a.ljust(width) for a in actors).rstrip(),
                       "".join(("-" * (width - 2)).ljust(width) for _ in actors).rstrip()]
    legend: dict[tuple[str, str], str] = {}
    for j, s in enumerate(trace.steps):
        if trace.loop_start == j and not trace.stutter:
            rows.append("---- loop: the steps below repeat forever ----")
        key = (s.func, s.step)
        mark = legend.setdefault(key, chr(ord("a") + len(legend)) if len(legend) < 26 else "*")
        col = actors.index(s.actor)
        what = [f"{j + 1}. {short_label(s)} ({mark})"]
        what += [f"{k}: {o} -> {n}" for k, (o, n) in s.changes.items()] or ["(no change)"]
        for ln in _cell(what, width):
            rows.append((" " * (width * col) + ln).rstrip())
    if trace.stutter:
        rows.append("---- stuck: no fair step is enabled; the system stays here forever ----")
    elif trace.loop_start is not None:
        rows.append(f"---- back to step {trace.loop_start + 1} ----")
    if trace.never:
        rows.append("never reaches the goal: " + "; ".join(trace.never))
    files = {s.func: s.file for s in trace.steps}
    if legend:
        rows.append("")
        for (func, step), mark in legend.items():
            rows.extend(textwrap.wrap(f"({mark}) {func} [{files[func]}]: {step}", 100,
                                      subsequent_indent="    "))
    return "\n".join(rows)


def short_label(s: Step) -> str:
    """The action label without the parameter that names the actor's own column."""
    _, _, tail = s.actor.rpartition(" ")
    if tail.isdigit() and "(" in s.action:
        func, _, args = s.action.partition("(")
        kept = args.rstrip(")").split(", ")[1:]
        return f"{func}({', '.join(kept)})" if kept else func
    return s.action


def initial_text(trace: Trace) -> str:
    return "initial state: " + ", ".join(f"{k}={v}" for k, v in trace.initial.items())


def strength_text(r: Result) -> str:
    """How strong the answer is: a bounded result never reads as a proof."""
    s = r.strength
    kind = s.get("kind")
    if r.verdict == "holds" and (s.get("probabilistic") or kind == "fingerprint"):
        how = f" ({s['storage']})" if "storage" in s else ""
        return f"{r.engine}, holds with high probability only: not a proof{how}"
    if kind == "explicit":
        sizes = ", ".join(f"{k}={v}" for k, v in s.get("sizes", {}).items())
        if s.get("complete"):
            text = f"explicit, all reachable states for {sizes}"
        elif r.verdict == "violated" and s.get("decided_early"):
            text = f"explicit, {sizes}, shortest counterexample"
        elif r.verdict == "violated":
            text = f"explicit, {sizes}, found before the search stopped"
        else:
            text = f"explicit, {sizes}, search incomplete"
        if "every" in s:
            text += f"; and {r.verdict} for {s['every']} ({s.get('every_by', 'parametric')})"
        sym = s.get("symmetry", "")
        if sym and not sym.startswith("not used"):
            text += f"; symmetry: {sym}, one state stored per orbit"
        if s.get("por", "").startswith("partial-order reduction"):
            text += "; partial-order reduction (ample sets)"
            if s.get("trace", "").startswith("a real execution, maybe not"):
                text = text.replace(", shortest counterexample", "")
                text += "; counterexample maybe not a shortest one (--por off for one)"
        return text
    if kind == "bounded":
        if r.verdict == "holds":
            return f"{r.engine}, holds up to depth {s.get('depth')} only"
        return f"{r.engine}, depth {s.get('depth')}"
    if kind == "proved":
        how = s.get("method", r.engine) + (f", k={s['k']}" if "k" in s else "")
        if r.verdict == "violated":
            return f"{r.verdict} for {s.get('covers')}, shown by {how}"
        return f"proved by {how} for {s.get('covers')}"
    return r.engine


def result_text(r: Result, with_trace: bool = True) -> str:
    line = f"{r.property}: {r.verdict} ({strength_text(r)})"
    if r.engine == "explicit" or r.states:
        line += f"  [{r.states} states, {r.transitions} transitions, depth {r.depth}, {r.seconds:.2f} s]"
    else:
        line += f"  [{r.seconds:.2f} s]"
    if "auto" in r.strength:
        line += f"  engines tried: {', '.join(r.strength['auto'])}"
        if str(r.strength.get("parametric", "")).startswith("not tried"):
            line += f" (parametric {r.strength['parametric']})"
    if r.reason:
        line += f"  reason: {r.reason}"
    if r.verdict == "holds" and getattr(r, "assumptions", None):
        line += "\n" + assumptions_text(r.assumptions)  # type: ignore[attr-defined]
    inv = getattr(r, "invariant", "")
    if inv:
        head = "the proof" if r.engine in ("parametric", "indexed") or "every" in r.strength else \
            "inductive invariant found (besides every variable within its type)"
        line += f"\n  {head}:\n" + textwrap.indent(inv, "    ")
    if with_trace and r.trace is not None:
        line += "\n" + textwrap.indent(initial_text(r.trace), "  ")
        line += "\n\n" + textwrap.indent(trace_text(r.trace), "  ") + "\n"
    return line


def assumptions_text(assumptions: list[dict]) -> str:
    """What a "holds" rests on, each with the knob whose other setting shows what fails."""
    rows = ["  assuming (kernel conditions this result rests on):"]
    for a in assumptions:
        rows.extend(textwrap.wrap(f"- {a['assumption']}", 100, initial_indent="    ",
                                  subsequent_indent="      "))
        other = f"{a['knob']}: {a['otherwise']}" if a.get("knob") else a["otherwise"]
        rows.extend(textwrap.wrap(f"otherwise ({other})", 100, initial_indent="      ",
                                  subsequent_indent="        "))
    return "\n".join(rows)


def _model_assumptions(header: dict) -> list[dict] | None:
    """The model's own list (models/<name>.py assumptions_for), for a "holds" from any engine."""
    import importlib

    try:
        mod = importlib.import_module(f"oomcheck.models.{header.get('model')}")
    except ImportError:
        return None
    fn = getattr(mod, "assumptions_for", None)
    return fn(header.get("knobs") or {}) if fn is not None else None


def results_json(header: dict, results: list[Result]) -> str:
    out = [r.to_json() for r in results]
    assumptions = _model_assumptions(header) if any(r.verdict == "holds" for r in results) else None
    for r, j in zip(results, out, strict=True):
        own = getattr(r, "assumptions", None)
        if r.verdict == "holds" and (own or assumptions):
            j["assumptions"] = own or assumptions
    return json.dumps({**header, "results": out}, indent=2)


def trace_dot(trace: Trace, title: str = "counterexample") -> str:
    """States as nodes (labelled with what changed), steps as edges, the lasso's back edge dashed."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"')

    lines = [f'digraph "{esc(title)}" {{', "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
    lines.append(f'  s0 [label="initial\\n{esc(", ".join(f"{k}={v}" for k, v in trace.initial.items()))}"];')
    for j, s in enumerate(trace.steps):
        changed = "\\n".join(esc(f"{k}={n}") for k, (_, n) in s.changes.items()) or "(no change)"
        lines.append(f'  s{j + 1} [label="{changed}"];')
        lines.append(f'  s{j} -> s{j + 1} [label="{esc(s.actor)}: {esc(s.action)}"];')
    last = len(trace.steps)
    if trace.stutter:
        lines.append(f'  s{last} -> s{last} [label="stuck forever", style=dashed];')
    elif trace.loop_start is not None:
        lines.append(f'  s{last} -> s{trace.loop_start} [label="loop", style=dashed];')
    lines.append("}")
    return "\n".join(lines)
