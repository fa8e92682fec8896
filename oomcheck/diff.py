"""What a patch changes: two variants' results compared property by property.

A verdict change counts only between two decided answers (holds, violated): an `unknown` on
either side says nothing about the kernel, so that property is `undecided`, never "unchanged".
The same verdict resting on different grounds (proved for every thread count before, one
instance searched after) is a `strength` change: printed, but not a change of behaviour."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

from oomcheck.checker.language.lang import Model
from oomcheck.checker.render import initial_text, strength_text, trace_text
from oomcheck.checker.trace import Result, Trace

EXIT_SAME, EXIT_CHANGED, EXIT_UNDECIDED, EXIT_BOUNDED = 0, 1, 3, 4


@dataclass
class Change:
    property: str
    kind: str
    before: Result | None  # None: the property does not exist in that variant
    after: Result | None
    what: str  # verdict | strength | undecided | same

    @property
    def label(self) -> str:
        """fixed, regressed, added, removed, stronger/weaker answer, undecided, or ''."""
        b, a = self.before, self.after
        if b is None or a is None:
            return "added" if b is None else "removed"
        if self.what == "verdict":
            return "fixed" if a.verdict == "holds" else "regressed"
        if self.what == "strength":
            return "other grounds"
        return "undecided" if self.what == "undecided" else ""


def grade(r: Result) -> str:
    """The grounds of an answer, coarse enough to compare across variants (state counts and
    symmetry details differ between variants without making an answer weaker)."""
    s = r.strength
    if r.verdict == "unknown":
        return "unknown"
    if r.verdict == "violated":
        every = s.get("every") or (s.get("covers") if s.get("kind") == "proved" else None)
        return f"violated for {every}" if every else "violated"
    if s.get("probabilistic") or s.get("kind") == "fingerprint":
        return "holds with high probability"
    if s.get("kind") == "proved":
        return f"proved for {s.get('covers')}"
    if s.get("kind") == "explicit" and s.get("complete") is True:
        return "every reachable state"
    if s.get("kind") == "bounded":
        return f"holds up to depth {s.get('depth')}"
    return "holds, not a proof"


def is_proof(r: Result) -> bool:
    """A "holds" that covers every execution of its instance (the rule of check's exit code)."""
    from oomcheck.cli import is_proof as check_is_proof  # one rule for check and diff

    return check_is_proof(r)


def compare(before: list[Result], after: list[Result]) -> list[Change]:
    """Every property of either side, in the order the variants list them."""
    a = {r.property: r for r in before}
    b = {r.property: r for r in after}
    names = list(a) + [p for p in b if p not in a]
    out = []
    for p in names:
        x, y = a.get(p), b.get(p)
        kind = (x or y).kind  # type: ignore[union-attr]
        if x is None or y is None:
            what = "verdict"
        elif "unknown" in (x.verdict, y.verdict):
            what = "undecided"
        elif x.verdict != y.verdict:
            what = "verdict"
        elif grade(x) != grade(y):
            what = "strength"
        else:
            what = "same"
        out.append(Change(p, kind, x, y, what))
    return out


def exit_code(changes: list[Change]) -> int:
    """1 a verdict changed; 3 none did but some property is undecided; 4 none changed but some
    "holds" on either side is not a proof (a bound); 0 nothing changed, on full grounds."""
    if any(c.what == "verdict" for c in changes):
        return EXIT_CHANGED
    if any(c.what == "undecided" for c in changes):
        return EXIT_UNDECIDED
    sides = [r for c in changes for r in (c.before, c.after) if r is not None]
    if any(r.verdict == "holds" and not is_proof(r) for r in sides):
        return EXIT_BOUNDED
    return EXIT_SAME


def knob_difference(a: Model, b: Model) -> str:
    """The knobs the two variants set differently (`thaw victim -> group`), or ''."""
    keys = list(a.knobs) + [k for k in b.knobs if k not in a.knobs]
    return ", ".join(f"{k} {a.knobs.get(k, '-')} -> {b.knobs.get(k, '-')}"
                     for k in keys if a.knobs.get(k) != b.knobs.get(k))


def _answer(r: Result | None) -> str:
    if r is None:
        return "(no such property)"
    text = f"{r.verdict} ({strength_text(r)})"
    text += f"; {r.states} states" if r.states else ""
    text += f"; {r.reason}" if r.reason else ""
    if r.trace is not None:
        text += f"; counterexample of {len(r.trace.steps)} steps"
    return text


def _same_run(x: Trace, y: Trace) -> bool:
    return (x.initial, [(s.actor, s.action) for s in x.steps], x.loop_start, x.stutter) == \
        (y.initial, [(s.actor, s.action) for s in y.steps], y.loop_start, y.stutter)


def diff_text(a: Model, b: Model, changes: list[Change]) -> str:
    sizes = ", ".join(f"{k}={v}" for k, v in a.sizes.items())
    rows = [f"{a.name}: {a.variant} -> {b.variant} ({sizes})"]
    name_a, name_b = (a.variant, b.variant) if a.variant != b.variant else ("before", "after")
    knobs = knob_difference(a, b)
    if knobs:
        rows.append(f"  knobs: {knobs}")
    moved = [c for c in changes if c.what != "same"]
    head = f"{sum(c.what == 'verdict' for c in changes)} of {len(changes)} properties changed verdict"
    for what, text in (("undecided", "undecided"), ("strength", "on other grounds")):
        n = sum(c.what == what for c in changes)
        head += f", {n} {text}" if n else ""
    rows.append(head + (":" if moved else ""))
    shown: list[tuple[str, Trace]] = []
    for c in moved:
        before = c.before.verdict if c.before else "-"
        after = c.after.verdict if c.after else "-"
        head = f"{c.property}: {before} -> {after}" if c.what != "strength" else \
            f"{c.property}: {after}, on other grounds"
        rows.append(f"{head}  [{c.label}]")
        rows.append(f"  {name_a}: {_answer(c.before)}")
        rows.append(f"  {name_b}: {_answer(c.after)}")
        if c.after is None or c.after.trace is None or \
                (c.before is not None and c.before.verdict == "violated"):
            continue
        trace = c.after.trace
        twin = next((p for p, t in shown if _same_run(t, trace)), None)
        if twin is not None:
            rows.append(f"  the new counterexample: the same run as under {twin}")
            continue
        shown.append((c.property, trace))
        rows.append(f"  the new counterexample ({len(trace.steps)} steps):")
        rows.append("    " + initial_text(trace))
        rows.append("")
        rows.extend("    " + ln if ln else "" for ln in trace_text(trace).splitlines())
    same = [c for c in changes if c.what == "same"]
    if same:
        rows.extend(textwrap.wrap("unchanged: " + ", ".join(
            f"{c.property} ({c.after.verdict})" for c in same), 100, subsequent_indent="  "))  # type: ignore[union-attr]
    return "\n".join(rows)


def diff_json(a: Model, b: Model, changes: list[Change]) -> str:
    def side(m: Model) -> dict:
        return {"variant": m.variant, "knobs": m.knobs}

    return json.dumps({
        "model": a.name, "sizes": a.sizes, "before": side(a), "after": side(b),
        "exit_code": exit_code(changes),
        "changes": [{"property": c.property, "kind": c.kind, "change": c.what, "label": c.label,
                     "before": c.before.to_json() if c.before else None,
                     "after": c.after.to_json() if c.after else None}
                    for c in changes if c.what != "same"],
        "unchanged": [{"property": c.property, "verdict": c.after.verdict,  # type: ignore[union-attr]
                       "grounds": grade(c.after)} for c in changes if c.what == "same"],  # type: ignore[arg-type]
    }, indent=2)
