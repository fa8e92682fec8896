"""A counterexample as the race diagram of a kernel commit message: one column per CPU (actor),
kernel function names in time order, the values a step sets under it, all within a mail's width.

Only one step is written per line, so a column's text may run on to the right edge; the columns
are spaced so that the last one still has room. When the actors cannot be laid side by side in
the width (many actors, a very long function name), the steps are listed one per line with the
CPU in front, which says the same in time order."""

from __future__ import annotations

import re
import textwrap

from oomcheck.checker.trace import Step, Trace

MIN_TEXT = 18  # the narrowest column text that stays readable (pc[1]=REFRIG_SLEEP)
MAX_STEP = 30  # columns no wider than this, even when there is room
_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<i>\d+)\]$")


def actors(trace: Trace) -> list[str]:
    """The actors that take a step: singletons (the OOM killer, the reaper...) first, then
    indexed actors (thread 0, thread 1...) in index order."""
    seen: list[str] = []
    for s in trace.steps:
        if s.actor not in seen:
            seen.append(s.actor)

    def key(a: str) -> tuple[int, str]:
        head, _, tail = a.rpartition(" ")
        return (1, f"{head} {int(tail):06d}") if tail.isdigit() else (0, a)

    return sorted(seen, key=key)


def compact(values: dict[str, str], own: int | None = None) -> list[str]:
    """`name=value` items, consecutive array members with one value joined (`frozen[1..2]=1`);
    `own` drops the index of the column's own thread (`pc=EXITING` in thread 1's column)."""
    items: list[str | list] = []  # "name=value", or [name, first index, last index, value]
    for key, value in values.items():
        m = _INDEXED.match(key)
        if m is None:
            items.append(f"{key}={value}")
            continue
        name, i = m["name"], int(m["i"])
        prev = items[-1] if items else None
        if isinstance(prev, list) and prev[0] == name and prev[2] == i - 1 and prev[3] == value:
            prev[2] = i
        else:
            items.append([name, i, i, value])
    text: list[str] = []
    for item in items:
        if isinstance(item, str):
            text.append(item)
            continue
        name, lo, hi, value = item
        if lo == hi == own:
            text.append(f"{name}={value}")
        else:
            text.append(f"{name}[{lo}{'' if lo == hi else f'..{hi}'}]={value}")
    return text


def _own_index(actor: str) -> int | None:
    _, _, tail = actor.rpartition(" ")
    return int(tail) if tail.isdigit() else None


def _short_label(s: Step) -> str:
    """The function, with the parameters that do not name the actor's own column."""
    if "(" not in s.action:
        return s.func
    _, _, args = s.action.partition("(")
    kept = args.rstrip(")").split(", ")
    if _own_index(s.actor) is not None:
        kept = kept[1:]
    return f"{s.func}({', '.join(kept)})" if kept else s.func


def legend_marks(trace: Trace) -> dict[tuple[str, str], str]:
    """(function, what the step does) -> its mark (a), (b)..., in order of appearance."""
    marks: dict[tuple[str, str], str] = {}
    for s in trace.steps:
        key = (s.func, s.step)
        if key not in marks:
            marks[key] = chr(ord("a") + len(marks)) if len(marks) < 26 else "*"
    return marks


def diagram(trace: Trace, width: int = 72, indent: int = 2) -> list[str]:
    """The steps in CPU columns (or listed, when the columns do not fit), with the loop of a
    lasso and what the goal never reaches; no line longer than width."""
    cols = actors(trace)
    marks = legend_marks(trace)
    heads = [_short_label(s) + f" ({marks[(s.func, s.step)]})" for s in trace.steps]
    first = {a: max([len(h) for h, s in zip(heads, trace.steps, strict=True) if s.actor == a])
             for a in cols}
    avail = width - indent
    step = MAX_STEP if len(cols) == 1 else min(
        [MAX_STEP] + [(avail - max(first[a], MIN_TEXT)) // i for i, a in enumerate(cols) if i])
    need = max([len(a) + 2 for a in cols[:-1]] + [6])
    pad = " " * indent
    rows: list[str] = []
    if step >= need:
        rows.append(pad + "".join(f"CPU{i}".ljust(step) for i in range(len(cols))).rstrip())
        rows.append(pad + "".join(a.ljust(step) for a in cols).rstrip())
        rows.append(pad + "".join(("-" * len(a)).ljust(step) for a in cols).rstrip())
        place = {a: indent + i * step for i, a in enumerate(cols)}
    else:  # listed: "CPUn" in front of every step
        rows.append(pad + "; ".join(f"CPU{i}: {a}" for i, a in enumerate(cols)))
        place = {}
    for j, s in enumerate(trace.steps):
        if trace.loop_start == j and not trace.stutter:
            rows.append(pad + "-- loop: the steps below repeat forever --")
        own = _own_index(s.actor)
        sets = ", ".join(compact({k: n for k, (_, n) in s.changes.items()}, own)) or "(no change)"
        if place:
            at = place[s.actor]
            rows.append(" " * at + heads[j])
            rows.extend(textwrap.wrap(sets, width, initial_indent=" " * (at + 2),
                                      subsequent_indent=" " * (at + 2), break_on_hyphens=False))
        else:
            who = f"CPU{cols.index(s.actor)} "
            rows.extend(textwrap.wrap(who + heads[j], width, initial_indent=pad,
                                      subsequent_indent=pad + "    "))
            rows.extend(textwrap.wrap(sets, width, initial_indent=pad + "    ",
                                      subsequent_indent=pad + "    ", break_on_hyphens=False))
    if trace.stutter:
        rows.append(pad + "-- stuck: no fair step is enabled, it stays here forever --")
    elif trace.loop_start is not None:
        rows.append(pad + f"-- back to the loop's first step ({heads[trace.loop_start]}) --")
    if trace.never:
        rows.extend(textwrap.wrap("never reaches the goal: " + "; ".join(trace.never), width,
                                  initial_indent=pad, subsequent_indent=pad + "  ",
                                  break_on_hyphens=False))
    return [_fit(r, width) for r in rows]


def legend(trace: Trace, width: int = 72, indent: int = 2) -> list[str]:
    """What each marked step of a function does, and the kernel file it is in."""
    files = {s.func: s.file for s in trace.steps}
    rows: list[str] = []
    for (func, what), mark in legend_marks(trace).items():
        rows.extend(textwrap.wrap(f"({mark}) {func} [{files[func]}]: {what}", width,
                                  initial_indent=" " * indent,
                                  subsequent_indent=" " * (indent + 4), break_on_hyphens=False))
    return [_fit(r, width) for r in rows]


def initial(trace: Trace, width: int = 72, indent: int = 2) -> list[str]:
    """The initial state, arrays joined where members agree."""
    return textwrap.wrap("initially: " + ", ".join(compact(trace.initial)), width,
                         initial_indent=" " * indent, subsequent_indent=" " * (indent + 2),
                         break_on_hyphens=False)


def _fit(line: str, width: int) -> str:
    """A last resort for a word longer than the width: cut it, and say so with '~'."""
    line = line.rstrip()
    return line if len(line) <= width else line[: width - 1] + "~"
