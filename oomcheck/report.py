"""A plain-text report of a check or a diff that a reviewer can paste into a mail: 72 columns,
the verdict table, what each answer rests on, and the shortest race drawn the way a kernel
commit message draws one (oomcheck.checker.changelog). Nothing in it is new information: it is
the results, laid out for a reply on a mailing list."""

from __future__ import annotations

import importlib
import textwrap

from oomcheck.checker import changelog
from oomcheck.checker.language.lang import Model
from oomcheck.checker.render import strength_text
from oomcheck.checker.trace import Result
from oomcheck.diff import Change, grade, knob_difference

WIDTH = 72


def _wrap(text: str, first: str = "", rest: str | None = None) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=first,
                         subsequent_indent=first if rest is None else rest,
                         break_on_hyphens=False) or [first.rstrip()]


def _title(text: str) -> list[str]:
    return ["", text, "-" * len(text)]


def _sizes(m: Model) -> str:
    return ", ".join(f"{k}={v}" for k, v in m.sizes.items())


class _Notes:
    """Footnotes [1], [2]... for the grounds of the answers, one per distinct text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, variant: str, r: Result) -> str:
        text = f"{variant}: {strength_text(r)}"
        if r.states:
            text += f"; {r.states} states"
        if r.reason:
            text += f"; {r.reason}"
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"

    def lines(self) -> list[str]:
        out: list[str] = []
        for i, t in enumerate(self.texts):
            tag = f"  [{i + 1}] "
            out += _wrap(t, tag, " " * len(tag))
        return out


def _assumptions(model: Model, results: list[Result]) -> list[str]:
    """What a "holds" rests on in kernel terms (the model's own list), once per report."""
    if not any(r.verdict == "holds" for r in results):
        return []
    own = next((getattr(r, "assumptions", None) for r in results
                if getattr(r, "assumptions", None)), None)
    if own is None:
        try:
            mod = importlib.import_module(f"oomcheck.models.{model.name}")
        except ImportError:
            return []
        fn = getattr(mod, "assumptions_for", None)
        own = fn(model.knobs) if fn is not None else None
    if not own:
        return []
    out = _wrap('A "holds" assumes (the knob in brackets drops the assumption and shows what '
                'then fails):', "  ")
    for a in own:
        knob = f" [{a['knob']}]" if a.get("knob") else ""
        out += _wrap(a["assumption"] + knob, "  - ", "    ")
    return out


def _grounds(notes: _Notes, model: Model, results: list[Result]) -> list[str]:
    out = _title("What each answer rests on") + notes.lines()
    if any(r.verdict == "violated" for r in results):
        out += _wrap("A violation is a concrete run of the model, drawn step by step below.",
                     "  ")
    return out + _assumptions(model, results)


def _table(heads: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    def line(cells: list[str]) -> str:
        return ("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip()
    return [line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows]


def _same_run(x: Result, y: Result) -> bool:
    a, b = x.trace, y.trace
    return a is not None and b is not None and a.initial == b.initial and a.stutter == b.stutter \
        and a.loop_start == b.loop_start and \
        [(s.actor, s.action) for s in a.steps] == [(s.actor, s.action) for s in b.steps]


def pick_race(results: list[Result], want: str | None = None) -> Result | None:
    """The shortest counterexample where two actors or more take part (a race); the shortest of
    any when there is none; `want` names the property instead."""
    with_trace = [r for r in results if r.trace is not None]
    if want is not None:
        return next((r for r in with_trace if r.property == want), None)
    races = [r for r in with_trace if len({s.actor for s in r.trace.steps}) >= 2]  # type: ignore[union-attr]
    pool = races or with_trace
    return min(pool, key=lambda r: len(r.trace.steps)) if pool else None  # type: ignore[union-attr]


def _race(model: Model, r: Result, title: str, others: list[Result]) -> list[str]:
    t = r.trace
    assert t is not None
    out = _title(title)
    prop = model.properties.get(r.property)
    if prop is not None and prop.doc:
        out += _wrap(f"{r.property}: {prop.doc}", "  ", "    ")
    out += [*changelog.initial(t, WIDTH), "", *changelog.diagram(t, WIDTH)]
    if r.kind == "deadlock":
        out.append("  -- deadlock: no step of any CPU is enabled here --")
    elif not prop or not prop.is_liveness:
        out.append(f"  -- {r.property} is false here --")
    out.append("")
    out += changelog.legend(t, WIDTH)
    rest = [o for o in others if o is not r and o.trace is not None]
    if rest:
        items = []
        for o in rest:
            twin = next((p.property for p in [r, *rest] if p is not o and _same_run(p, o)
                         and [r, *rest].index(p) < [r, *rest].index(o)), None)
            items.append(f"{o.property} ({len(o.trace.steps)} steps"  # type: ignore[union-attr]
                         + (f", the same run as {twin}" if twin else "") + ")")
        out.append("")
        out += _wrap("Other counterexamples: " + ", ".join(items) + "; --race PROPERTY draws one.",
                     "  ", "    ")
    return out


def _head(title: str, command: str, models: list[Model], engine: str) -> list[str]:
    out = [title, "=" * min(len(title), WIDTH)]
    out += _wrap(f"{models[0].name}, {_sizes(models[0])}, engine {engine}", "Model:    ", " " * 10)
    if len(models) == 2:
        a, b = models
        common = {k: v for k, v in a.knobs.items() if b.knobs.get(k) == v}
        out += _wrap(", ".join(f"{k}={v}" for k, v in common.items()), "Knobs:    ", " " * 10)
        diff = knob_difference(a, b)
        if diff:
            out += _wrap(diff, "Changes:  ", " " * 10)
    else:
        out += _wrap(", ".join(f"{k}={v}" for k, v in models[0].knobs.items()),
                     "Knobs:    ", " " * 10)
    for m in models:
        if m.provenance:
            out += _wrap(f"{m.variant}: {m.provenance}", "Variant:  ", " " * 12)
    out += _wrap(command, "Command:  ", " " * 12)
    return out


def check_report(model: Model, results: list[Result], command: str, engine: str,
                 race: str | None = None) -> str:
    """One variant: its verdicts, their grounds, the shortest race."""
    notes = _Notes()
    rows = [[r.property, r.verdict, notes.mark(model.variant, r)] for r in results]
    bad = sum(r.verdict == "violated" for r in results)
    unknown = sum(r.verdict == "unknown" for r in results)
    summary = f"{bad} of {len(results)} properties violated" + \
        (f", {unknown} unknown" if unknown else "")
    out = _head(f"oomcheck: {model.name} {model.variant}, {_sizes(model)}", command, [model],
                engine)
    out += _title(f"Verdicts ({summary})") + _table(["property", model.variant, "grounds"], rows)
    out += _grounds(notes, model, results)
    r = pick_race(results, race)
    if r is not None:
        violated = [x for x in results if x.verdict == "violated"]
        out += _race(model, r, f"The race: {r.property} in {model.variant}, "
                     f"{len(r.trace.steps)} steps", violated)  # type: ignore[union-attr]
    elif race is not None:
        out += _title("The race") + _wrap(f"{race} has no counterexample in {model.variant}.", "  ")
    return _finish(out)


def diff_report(a: Model, b: Model, changes: list[Change], command: str, engine: str,
                race: str | None = None) -> str:
    """Two variants: the verdict table with what changed, the grounds, and the race the patch
    adds (a regression) or, when it adds none, the race it removes."""
    notes = _Notes()
    ha, hb = (a.variant, b.variant) if len(a.variant) + len(b.variant) <= 34 and \
        a.variant != b.variant else ("before", "after")
    rows = []
    for c in changes:
        cells = [c.property]
        for m, r in ((a, c.before), (b, c.after)):
            cells.append("-" if r is None else f"{r.verdict} {notes.mark(m.variant, r)}")
        cells.append(c.label)
        rows.append(cells)
    n = sum(c.what == "verdict" for c in changes)
    out = _head(f"oomcheck: {a.name} {a.variant} -> {b.variant}, {_sizes(a)}", command, [a, b],
                engine)
    out += _title(f"Verdicts ({n} of {len(changes)} changed)")
    out += _table(["property", ha, hb, ""], rows)
    if (ha, hb) == ("before", "after"):
        out += _wrap(f"before = {a.variant}, after = {b.variant}", "  ")
    sides = [r for c in changes for r in (c.before, c.after) if r is not None]
    strength = [c for c in changes if c.what == "strength"]
    if strength:
        out += _wrap("Same verdict on other grounds: " + ", ".join(
            f"{c.property} ({grade(c.before)} -> {grade(c.after)})"  # type: ignore[arg-type]
            for c in strength), "  ", "    ")
    out += _grounds(notes, b, sides)
    new = [c.after for c in changes if c.what == "verdict" and c.after is not None
           and c.after.verdict == "violated"]
    gone = [c.before for c in changes if c.what == "verdict" and c.before is not None
            and c.before.verdict == "violated"]
    if race is not None:
        r_new, r_gone = pick_race(new, race), pick_race(gone, race)
        if r_new is None and r_gone is None:  # not a changed property: either side's race
            r_new = pick_race([c.after for c in changes if c.after is not None], race)
            r_gone = None if r_new else pick_race([c.before for c in changes if c.before], race)
    else:
        r_new = pick_race(new)
        r_gone = None if r_new is not None else pick_race(gone)
    if r_new is not None:
        out += _race(b, r_new, f"The race {b.variant} adds: {r_new.property}, "
                     f"{len(r_new.trace.steps)} steps", new)  # type: ignore[union-attr]
    elif r_gone is not None:
        out += _race(a, r_gone, f"The race {b.variant} removes: {r_gone.property} in "
                     f"{a.variant}, {len(r_gone.trace.steps)} steps", gone)  # type: ignore[union-attr]
    elif race is not None:
        out += _title("The race") + _wrap(f"{race} has no counterexample in {a.variant} or "
                                          f"{b.variant}.", "  ")
    return _finish(out)


def _finish(lines: list[str]) -> str:
    """Every line within WIDTH (a word too long for it is cut, with '~')."""
    out = [ln.rstrip() if len(ln.rstrip()) <= WIDTH else ln.rstrip()[: WIDTH - 1] + "~"
           for ln in lines]
    return "\n".join(out) + "\n"
