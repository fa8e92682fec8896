"""Promela for SPIN, written from the same Model the engines check.

The point is a second, independent checker on exactly our transition system, so every choice
below keeps SPIN's semantics equal to ours (checker/language/lang.py, checker/explicit/search.py):

- One step = one action instance = one `d_step`: the guard first (the step is enabled iff it
  holds), then the updates. Updates are simultaneous: a right side that reads a variable another
  update of the same step writes is computed into a hidden temporary first (hidden variables are
  not part of SPIN's state vector). Booleans are `bit`, enums small ints (`#define`d names).
- Integer (and enum) variables keep their declared range: an assignment whose value may fall
  outside is computed into a temporary and `assert`ed first, as our engines stop with a model
  error there. SPIN's own array bound check covers indexes.
- Weak fairness is per action instance (Action.fair). SPIN's `-f` is weak fairness per process,
  so a liveness export puts every fair instance in a process of its own (`do :: d_step {...} od`,
  always back at the loop head, enabled iff its guard holds: the process is continuously enabled
  iff the instance is). Instances that are not fair share one process, which also gets a no-op
  option enabled while one of them is: under `-f` that process must move, and the no-op lets it
  move without taking an unfair step, so nothing unfair is forced, while a state where only
  unfair steps are enabled may still be stayed in forever (as in our liveness check). No catalog
  model has an unfair action; the option is written only when one exists.
  Safety-only exports (invariants, deadlock) need no fairness and put every instance in one
  process: the same state graph with a smaller state vector.
- Deadlock (no step enabled outside `final`): every action process waits at an `end` label, and
  a watcher process does `timeout; FINAL` (timeout is executable only when nothing else is), so
  the one place SPIN can stop at a non-end label is a dead state that is not final: SPIN reports
  it as an invalid end state. Compile with -DNOCLAIM (a never claim turns that check off).
- Invariants are `ltl { [] inv }` (pan built with -DSAFETY, run with -N name); `eventually Q` is
  `ltl { <> Q }` and `P ~> Q` is `ltl { [] (P -> <> Q) }`, run with `pan -a -f` (-DNFAIR sized
  for the processes). SPIN extends a run that ends (no process can move) by stuttering in its
  last state; our liveness check likewise lets the system stay in a state where no fair step is
  enabled. LTL formulas cannot hold `(c -> a : b)`, so property expressions are written without.
- Several initial states (e.g. a thread running or asleep in the refrigerator) are enumerated
  here; `init` picks one in a d_step and starts the processes, all in one atomic sequence, then
  sets `init_done`. A never claim also sees the declared state before init, so every formula
  reads its predicates only once init_done is set.
So SPIN's stored states for a safety check are ours plus the state before init (and, with the
deadlock watcher, two per dead state); for liveness, the product with the never claim, which
stops following a run once its goal holds.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from oomcheck.checker.language.compile import _apply
from oomcheck.checker.language.interp import evaluate
from oomcheck.checker.language.lang import (
    ActionInstance,
    BoolType,
    Const,
    EnumType,
    Expr,
    Index,
    LValue,
    Model,
    ModelError,
    Op,
    Param,
    Property,
    Quant,
    Type,
    Var,
)

LAYOUTS = ("auto", "single", "instance", "actor")
MAX_PROCESSES = 250  # pan's MAXPROC is 255, with init and the watcher
MAX_INIT_COMBOS = 1 << 20

# Promela keywords and names SPIN predefines; a model name that hits one gets a trailing "_".
RESERVED = frozenset("""
active assert atomic bit bool break byte chan d_step D_proctype do else empty enabled eval false fi
full goto hidden if init inline int len local mtype nempty never nfull non od of pc_value printf
printm priority proctype provided run short skip timeout true typedef unless unsigned xr xs
c_code c_decl c_expr c_state c_track select for in ltl always eventually until weakuntil
stronguntil release implies equivalent next np_ trace notrace show get_priority set_priority
return accept progress end now main FINAL U V W X R
""".split())

COMPARE = ("==", "!=", "<", "<=")
LOGIC = ("and", "or", "not", "implies", "b2i")


@dataclass(frozen=True)
class PanRun:
    """How to check one property on the exported model: gcc flags for pan.c, pan's arguments,
    and what kind of error report means the property is violated."""

    property: str
    kind: str
    cflags: tuple[str, ...]
    args: tuple[str, ...]


@dataclass
class Promela:
    text: str
    runs: dict[str, PanRun]
    layout: str  # single | instance | actor
    processes: int
    initial_states: int


# --------------------------------------------------------------------------------------------
# expressions
# --------------------------------------------------------------------------------------------


class _Exprs:
    """Folds parameters, quantifiers and constants away, then prints Promela."""

    def __init__(self, model: Model, names: dict[str, str]):
        self.model = model
        self.names = names
        self.enums: dict[str, EnumType] = {}

    def type_of(self, name: str) -> Type:
        d = self.model.vars.get(name)
        if d is None:
            raise ModelError(f"unknown variable {name}")
        return d.type

    # -- simplification -------------------------------------------------------------------

    def simp(self, e: Expr, env: dict[str, int] | None = None) -> Expr:
        env = env or {}
        if isinstance(e, Const):
            return Const(int(e.value), e.type)
        if isinstance(e, Param):
            if e.name not in env:
                raise ModelError(f"parameter {e.name} is not bound here")
            return Const(env[e.name])
        if isinstance(e, Var):
            d = self.model.vars.get(e.name)
            if d is None:
                raise ModelError(f"unknown variable {e.name}")
            if d.domain is not None:
                raise ModelError(f"{e.name} is an array; index it")
            return e
        if isinstance(e, Index):
            d = self.model.vars.get(e.array)
            if d is None or d.domain is None:
                raise ModelError(f"{e.array} is not an array")
            i = self.simp(e.index, env)
            if isinstance(i, Const) and not 0 <= i.value < self.model.domains[d.domain]:
                raise ModelError(f"index {i.value} out of range for {e.array}")
            return Index(e.array, i)
        if isinstance(e, Quant):
            n = self.model.domains.get(e.domain)
            if n is None:
                raise ModelError(f"quantifier over unknown domain {e.domain}")
            parts = [self.simp(e.body, {**env, e.var: i}) for i in range(n)]
            if e.kind == "count":
                parts = [self.fold("b2i", [p]) for p in parts]
            op = {"forall": "and", "exists": "or", "count": "+"}.get(e.kind)
            if op is None:
                raise ModelError(f"unknown quantifier {e.kind}")
            out = parts[0] if op == "+" else self.fold("b2i", [parts[0]])
            for p in parts[1:]:
                out = self.fold(op, [out, p])
            return out
        if isinstance(e, Op):
            return self.fold(e.op, [self.simp(a, env) for a in e.args])
        raise ModelError(f"not an expression: {e!r}")

    def fold(self, op: str, a: list[Expr]) -> Expr:
        consts = [x.value if isinstance(x, Const) else None for x in a]
        if op == "ite" and consts[0] is not None:
            return a[1] if consts[0] else a[2]
        if all(c is not None for c in consts):
            if op == "b2i":
                return Const(int(bool(consts[0])))
            return Const(int(_apply(op, consts)))  # type: ignore[arg-type]
        if op == "b2i":
            return a[0] if self.is01(a[0]) else Op("b2i", (a[0],))
        if op in ("and", "or"):
            absorbing = 0 if op == "and" else 1
            if any(c is not None and bool(c) == bool(absorbing) for c in consts):
                return Const(absorbing)
            rest = [x for x, c in zip(a, consts, strict=True) if c is None]
            return self.fold("b2i", rest) if len(rest) == 1 else Op(op, tuple(a))
        if op == "not":
            x = a[0]
            if isinstance(x, Op) and x.op == "not":
                return self.fold("b2i", [x.args[0]])
            return Op("not", (x,))
        if op == "implies":
            if consts[0] is not None:
                return self.fold("b2i", [a[1]]) if consts[0] else Const(1)
            if consts[1] is not None:
                return Const(1) if consts[1] else self.fold("not", [a[0]])
            return Op("implies", tuple(a))
        if op == "ite":
            return Op("ite", tuple(a))
        if op in ("+", "-") and consts[1] == 0:
            return a[0]
        if op == "+" and consts[0] == 0:
            return a[1]
        if op not in ("+", "-") and op not in COMPARE:
            raise ModelError(f"unknown operator {op}")
        return Op(op, tuple(a))

    def is01(self, e: Expr) -> bool:
        if isinstance(e, Const):
            return e.value in (0, 1)
        if isinstance(e, Var):
            return isinstance(self.type_of(e.name), BoolType)
        if isinstance(e, Index):
            return isinstance(self.type_of(e.array), BoolType)
        if isinstance(e, Op):
            if e.op in COMPARE or e.op in LOGIC:
                return True
            if e.op == "ite":
                return self.is01(e.args[1]) and self.is01(e.args[2])
        return False

    def interval(self, e: Expr) -> tuple[int, int]:
        """Bounds of a simplified expression's value (to leave out range asserts that cannot fire)."""
        if isinstance(e, Const):
            return e.value, e.value
        if isinstance(e, (Var, Index)):
            vals = self.type_of(e.name if isinstance(e, Var) else e.array).values()
            return vals.start, vals.stop - 1
        if isinstance(e, Op):
            if e.op in COMPARE or e.op in LOGIC:
                return 0, 1
            if e.op == "ite":
                (a, b), (c, d) = self.interval(e.args[1]), self.interval(e.args[2])
                return min(a, c), max(b, d)
            (a, b), (c, d) = self.interval(e.args[0]), self.interval(e.args[1])
            return (a + c, b + d) if e.op == "+" else (a - d, b - c)
        raise ModelError(f"not a simplified expression: {e!r}")

    def reads(self, e: Expr) -> set[tuple[str, int | None]]:
        """The slots an expression reads: (variable, index), index None for "any element"."""
        if isinstance(e, Var):
            return {(e.name, None)}
        if isinstance(e, Index):
            i = e.index.value if isinstance(e.index, Const) else None
            return {(e.array, i)} | self.reads(e.index)
        if isinstance(e, Op):
            return set().union(*(self.reads(x) for x in e.args))
        return set()

    # -- printing ------------------------------------------------------------------------------

    def const(self, c: Const) -> str:
        if isinstance(c.type, EnumType) and 0 <= c.value < len(c.type.members):
            self.enums[c.type.name] = c.type
            return enum_macro(c.type, c.value)
        return f"({c.value})" if c.value < 0 else str(c.value)

    def show(self, e: Expr, pure: bool) -> str:
        """Promela text of a simplified expression; pure: no conditional expression (for ltl)."""
        if isinstance(e, Const):
            return self.const(e)
        if isinstance(e, Var):
            return self.names[e.name]
        if isinstance(e, Index):
            return f"{self.names[e.array]}[{self.show(e.index, pure)}]"
        assert isinstance(e, Op)
        a = [self.show(x, pure) for x in e.args]
        op = e.op
        if op in ("+", "-") or op in COMPARE:
            return f"({a[0]} {op} {a[1]})"
        if op == "and":
            return f"({a[0]} && {a[1]})"
        if op == "or":
            return f"({a[0]} || {a[1]})"
        if op == "not":
            return f"!{_paren(a[0])}"
        if op == "implies":
            return f"(!{_paren(a[0])} || {a[1]})"
        if op == "b2i":
            return a[0] if self.is01(e.args[0]) else f"({a[0]} != 0)"
        if op == "ite":
            if not pure:
                return f"({a[0]} -> {a[1]} : {a[2]})"
            c = self.show(self.fold("b2i", [e.args[0]]), pure)
            if self.is01(e.args[1]) and self.is01(e.args[2]):
                return f"(({c} && {a[1]}) || (!{_paren(c)} && {a[2]}))"
            return f"(({c} * {a[1]}) + ((1 - {c}) * {a[2]}))"
        raise ModelError(f"unknown operator {op}")


def _paren(s: str) -> str:
    return s if s.startswith("(") and s.endswith(")") and _balanced_outer(s) else f"({s})"


def _balanced_outer(s: str) -> bool:
    depth = 0
    for i, ch in enumerate(s):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(s) - 1:
            return False
    return True


def enum_macro(t: EnumType, v: int) -> str:
    return _sanitize(f"{t.name}_{t.members[v]}")


def _sanitize(name: str) -> str:
    s = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).strip("_") or "x"
    if s[0].isdigit():
        s = "n" + s
    return s + "_" if s in RESERVED else s


def _comment(text: str, indent: str = "", width: int = 100) -> list[str]:
    text = " ".join(text.replace("*/", "* /").split())
    return [f"{indent} * {ln}" for ln in textwrap.wrap(text, width - len(indent) - 3)] or []


def _ctype(t: Type) -> str:
    if isinstance(t, BoolType):
        return "bit"
    vals = t.values()
    lo, hi = vals.start, vals.stop - 1
    if lo >= 0 and hi <= 255:
        return "byte"
    if -32768 <= lo and hi <= 32767:
        return "short"
    return "int"


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


def initial_states(model: Model) -> list[dict[tuple[str, int | None], int]]:
    """Every initial state (the product of the initial choices, filtered by the constraints)."""
    slots = [(name, i) for name, i, _ in model.slots()]
    choices = model.init_choices()
    n = 1
    for c in choices:
        n *= len(c)
        if n > MAX_INIT_COMBOS:
            raise ModelError("too many initial-value combinations to enumerate for Promela")
    out = []
    for combo in itertools.product(*choices):
        st = dict(zip(slots, combo, strict=True))
        if all(evaluate(model, c, st) for c in model.init_constraints):
            out.append(st)
    if not out:
        raise ModelError("the model has no initial state (the init constraints exclude all)")
    return out


def to_promela(model: Model, props: list[Property], layout: str = "auto") -> Promela:
    """The Promela text of the model with the given properties, and how to check each one."""
    return _Writer(model, props, layout).write()


class _Writer:
    def __init__(self, model: Model, props: list[Property], layout: str):
        if layout not in LAYOUTS:
            raise ModelError(f"process layout must be one of {', '.join(LAYOUTS)}")
        live = [p for p in props if p.is_liveness]
        if layout == "auto":
            layout = "instance" if live else "single"
        if layout == "single" and live:
            raise ModelError("the single-process layout cannot express weak fairness per action "
                             f"(property {live[0].name}); use --processes instance or auto")
        self.model, self.props, self.layout = model, props, layout
        self.names: dict[str, str] = {}
        taken = set(RESERVED) | {"system", "deadlock_watch", "unfair_steps"}
        for name in model.vars:
            self.names[name] = _unique(_sanitize(name), taken)
        self.taken = taken
        self.x = _Exprs(model, self.names)
        self.temps: dict[str, str] = {}  # temporary -> the variable it is for (hidden int)

    # -- steps -----------------------------------------------------------------------------

    def step(self, inst: ActionInstance) -> list[str] | None:
        """The statements of one action instance's d_step (guard first), None if never enabled."""
        x = self.x
        guard = x.simp(inst.guard)
        if isinstance(guard, Const) and not guard.value:
            return None
        ups = [(self._lhs(lhs), x.simp(rhs)) for lhs, rhs in inst.updates]
        targets = [lhs.name if isinstance(lhs, Var) else lhs.array for lhs, _ in ups]
        slots = [(lhs.name, None) if isinstance(lhs, Var) else (lhs.array, _const_index(lhs))
                 for lhs, _ in ups]
        pre: list[str] = []
        direct: list[str] = []
        post: list[str] = []
        used: set[str] = set()
        for j, (lhs, rhs) in enumerate(ups):
            others = slots[:j] + slots[j + 1:]
            name = targets[j]
            t = x.type_of(name)
            lhs_s = self._lhs_text(lhs, pre, slots, used)
            if isinstance(t, BoolType):
                rhs = x.fold("b2i", [rhs])
                check = None
            else:
                vals = t.values()
                lo, hi = vals.start, vals.stop - 1
                a, b = x.interval(rhs)
                if isinstance(rhs, Const) and not lo <= rhs.value <= hi:
                    raise ModelError(f"action {inst.action.name} assigns {rhs.value} to {name}, "
                                     f"outside {t}")
                check = None if lo <= a and b <= hi else (lo, hi)
            rhs_s = x.show(rhs, pure=False)
            if check is None and not _overlap(x.reads(rhs), others):
                direct.append(f"{lhs_s} = {rhs_s}")
                continue
            k = _const_index(lhs) if isinstance(lhs, Index) else None
            tmp = self._temp(f"nv__{self.names[name]}" + ("" if k is None else f"_{k}"), name, used)
            pre.append(f"{tmp} = {rhs_s}")
            if check is not None:
                pre.append(f"assert(({tmp} >= {_num(check[0])}) && ({tmp} <= {_num(check[1])}))")
            post.append(f"{lhs_s} = {tmp}")
        body = pre + direct + post
        return [f"{_paren(x.show(guard, pure=False))} ->", *(body or ["skip"])]

    def _lhs(self, lhs: LValue) -> LValue:
        if isinstance(lhs, Var):
            return lhs
        i = self.x.simp(lhs.index)
        d = self.model.vars[lhs.array]
        if isinstance(i, Const) and not 0 <= i.value < self.model.domains[d.domain or ""]:
            raise ModelError(f"index {i.value} out of range for {lhs.array}")
        return Index(lhs.array, i)

    def _lhs_text(self, lhs: LValue, pre: list[str], written: list[tuple[str, int | None]],
                  used: set[str]) -> str:
        if isinstance(lhs, Var):
            return self.names[lhs.name]
        if isinstance(lhs.index, Const):
            return f"{self.names[lhs.array]}[{lhs.index.value}]"
        # a computed index is read in the state before the step, like the right sides
        idx = self.x.show(lhs.index, pure=False)
        if _overlap(self.x.reads(lhs.index), written):
            tmp = self._temp(f"ix__{self.names[lhs.array]}", lhs.array, used)
            pre.append(f"{tmp} = {idx}")
            idx = tmp
        return f"{self.names[lhs.array]}[{idx}]"

    def _temp(self, want: str, var: str, used: set[str]) -> str:
        """A hidden temporary for var, distinct from those this step already uses (steps
        share them: each step writes its temporaries before it reads them)."""
        name, k = want, 2
        while name in used or (name in self.taken and name not in self.temps):
            name, k = f"{want}_{k}", k + 1
        self.taken.add(name)
        self.temps[name] = var
        used.add(name)
        return name

    # -- the whole file ------------------------------------------------------------------------

    def write(self) -> Promela:
        m, x = self.model, self.x
        for d in m.vars.values():
            if isinstance(d.type, EnumType):
                x.enums[d.type.name] = d.type
        insts = m.instances()
        steps = {i.id: self.step(i) for i in insts}
        procs = self._processes(insts, steps)
        inits = initial_states(m)
        decls, init_body = self._state(inits)
        final = x.show(x.simp(m.final), pure=False)
        # A never claim also watches the declared state and init's steps; until init is done,
        # it must see every property as satisfied and no goal as reached.
        ready = _unique("init_done", self.taken) if init_body else None
        n_proc = len(procs) + (1 if any(p.kind == "deadlock" for p in self.props) else 0)
        # pan -f keeps a fairness counter per process in NFAIR bytes: room for 4*NFAIR-2
        # processes, counting init and the never claim
        nfair = max(2, -(-(n_proc + 4) // 4))
        prop_lines, runs = self._properties(ready, nfair)
        if n_proc > MAX_PROCESSES:
            raise ModelError(f"{n_proc} processes: more than SPIN's limit; use fewer sizes")

        out = self._header(runs, len(inits))
        out.append("")
        for t in x.enums.values():
            out.append(f"/* enum {t.name} */")
            out.extend(f"#define {enum_macro(t, v)} {v}" for v in t.values())
        out.append("")
        out.append(f"#define FINAL {_paren(final)}")
        out.append("")
        out.extend(decls)
        if ready:
            out.append(f"bit {ready} = 0;  /* set by init once the initial state is chosen */")
        if self.temps:
            out.append("")
            out.append("/* temporaries of simultaneous assignments and range checks (not state) */")
            out.extend(f"hidden int {t};" for t in self.temps)
        out.append("")
        active = "" if init_body else "active "
        for proc in procs:
            out.extend(line.replace("@ACTIVE@", active) for line in proc)
            out.append("")
        if init_body:
            out.append("init {")
            out.append("  atomic {")
            out.extend("    " + ln for ln in init_body)
            out.extend(f"    run {_proc_name(p)}();" for p in procs)
            out.append(f"    {ready} = 1")
            out.append("  }")
            out.append("}")
            out.append("")
        if any(p.kind == "deadlock" for p in self.props):
            out += [
                "/* Deadlock watcher: timeout is executable only when no step is; then FINAL must",
                " * hold, or this process stays at a non-end label and SPIN reports an invalid end",
                " * state (every action process waits at an end label). */",
                "active proctype deadlock_watch() {",
                "  timeout;",
                "  FINAL",
                "}",
                "",
            ]
        out.extend(prop_lines)
        return Promela("\n".join(out).rstrip() + "\n", runs, self.layout, n_proc, len(inits))

    def _processes(self, insts: list[ActionInstance],
                   steps: dict[int, list[str] | None]) -> list[list[str]]:
        """Each process as lines (its proctype line carries @ACTIVE@, filled in by write)."""
        single = self.layout == "single"
        pnames: set[str] = set(self.taken)
        procs: list[list[str]] = []
        shared: list[str] = []  # the single process's options, or the unfair steps'
        unfair_guards: list[str] = []
        pending: list[str] = []  # the comment of an action, put before its first instance
        by_actor: dict[str, list[str]] = {}  # the actor layout's options, per actor instance
        last = None
        for inst in insts:
            a = inst.action
            if a is not last:
                last = a
                who = self.model.actor_names.get(a.actor, a.actor)
                pending = ["", f"/* ---- {a.name}: {a.func} ({a.file}); actor: {who}",
                           *_comment(a.step), " */"]
            body = steps[inst.id]
            label = inst.label + ("" if a.fair else "  [not fair]")
            if body is None:
                pending.append(f"/* {label}: guard always false, left out */")
                continue
            opt = [f"  :: d_step {{ /* {label} */"]
            opt += [f"       {ln}" + (";" if 0 < k < len(body) - 1 else "")
                    for k, ln in enumerate(body)]
            opt.append("     }")
            if single or not a.fair:
                shared += [("  " + ln if ln else ln) for ln in pending] + opt
                pending = []
                if not a.fair:
                    unfair_guards.append(body[0].removesuffix(" ->"))
                continue
            if self.layout == "actor":
                by_actor.setdefault(inst.actor, []).extend(
                    [("  " + ln if ln else ln) for ln in pending] + opt)
                pending = []
                continue
            name = _unique(_sanitize("_".join([a.name, *(str(v) for _, v in inst.binding)])),
                           pnames)
            procs.append([*pending, f"@ACTIVE@proctype {name}() {{", "end:", "  do", *opt,
                          "  od", "}"])
            pending = []
        for who, opts in by_actor.items():
            name = _unique(_sanitize(who), pnames)
            procs.append(["", f"/* ==== {who}: every fair step of this actor in one process */",
                          f"@ACTIVE@proctype {name}() {{", "end:", "  do", *opts, "  od", "}"])
        if single:
            return [["/* Every step in one process: safety needs no fairness. */",
                     "@ACTIVE@proctype system() {", "end:", "  do", *shared, "  od", "}"]]
        if shared:
            procs.append([
                "",
                "/* The steps that are not weakly fair share this process; its no-op option",
                " * (enabled while one of them is) lets SPIN's -f schedule the process without",
                " * forcing any of them. */",
                "@ACTIVE@proctype unfair_steps() {", "end:", "  do", *shared,
                f"  :: ({' || '.join(unfair_guards)}) -> skip",
                "  od", "}"])
        return procs

    def _state(self, inits: list[dict[tuple[str, int | None], int]]
               ) -> tuple[list[str], list[str]]:
        """Declarations with initialisers, and init's statements choosing the initial state."""
        m = self.model
        slots = [(name, i) for name, i, _ in m.slots()]
        common = {s: inits[0][s] for s in slots if all(st[s] == inits[0][s] for st in inits)}
        decls: list[str] = []
        prologue: list[str] = []
        for d in m.vars.values():
            name = self.names[d.name]
            ty = _ctype(d.type)
            doc = f"  /* {' '.join(d.doc.split())} */" if d.doc else ""
            if d.domain is None:
                v = common.get((d.name, None), inits[0][(d.name, None)])
                decls.append(f"{ty} {name} = {self._val(d.type, v)};{doc}")
                continue
            n = m.domains[d.domain]
            fixed = [common.get((d.name, i)) for i in range(n)]
            cnt = Counter(v for v in fixed if v is not None)
            base = cnt.most_common(1)[0][0] if cnt else inits[0][(d.name, 0)]
            decls.append(f"{ty} {name}[{n}] = {self._val(d.type, base)};{doc}")
            prologue += [f"{name}[{i}] = {self._val(d.type, v)};" for i, v in enumerate(fixed)
                         if v is not None and v != base]
        varying = [s for s in slots if s not in common]
        if not varying:
            return decls, prologue
        opts = ["if"]
        for st in inits:
            assigns = [f"{self._slot(s)} = {self._val(m.vars[s[0]].type, st[s])}" for s in varying]
            opts.append(":: d_step { " + "; ".join(assigns) + " }")
        opts.append("fi;")
        body = [*prologue, f"/* {len(inits)} initial states */", *opts]
        return decls, body

    def _slot(self, s: tuple[str, int | None]) -> str:
        return self.names[s[0]] if s[1] is None else f"{self.names[s[0]]}[{s[1]}]"

    def _val(self, t: Type, v: int) -> str:
        return self.x.const(Const(v, t if isinstance(t, EnumType) else None))

    def _properties(self, ready: str | None, nfair: int) -> tuple[list[str], dict[str, PanRun]]:
        x = self.x
        out: list[str] = []
        runs: dict[str, PanRun] = {}
        claims: set[str] = set(self.taken) | set(self.names.values())
        for p in self.props:
            if p.kind == "deadlock":
                runs[p.name] = PanRun(p.name, p.kind, ("-DSAFETY", "-DNOCLAIM"), ())
                continue
            name = _unique(_sanitize(p.name), claims)
            q = x.show(x.simp(p.expr), pure=True) if p.expr is not None else "1"
            if ready:
                q = f"(!{ready} || {q})" if p.kind == "invariant" else f"({ready} && {q})"
            if p.kind == "invariant":
                formula = f"[] {_paren(q)}"
                runs[p.name] = PanRun(p.name, p.kind, ("-DSAFETY",), ("-N", name))
            elif p.kind == "eventually":
                formula = f"<> {_paren(q)}"
                runs[p.name] = PanRun(p.name, p.kind, (f"-DNFAIR={nfair}",),
                                      ("-a", "-f", "-N", name))
            elif p.kind == "leads_to":
                pre = x.show(x.simp(p.pre), pure=True) if p.pre is not None else "1"
                pre = f"({ready} && {pre})" if ready else pre
                formula = f"[] ({_paren(pre)} -> <> {_paren(q)})"
                runs[p.name] = PanRun(p.name, p.kind, (f"-DNFAIR={nfair}",),
                                      ("-a", "-f", "-N", name))
            else:
                raise ModelError(f"property {p.name}: unknown kind {p.kind}")
            doc = " ".join(p.doc.replace("*/", "* /").split())
            out.append(f"/* {p.name} ({p.kind}): {doc} */")
            out.append(f"ltl {name} {{ {formula} }}")
            out.append("")
        return out, runs

    def _header(self, runs: dict[str, PanRun], n_init: int) -> list[str]:
        m = self.model
        sizes = ", ".join(f"{k}={v}" for k, v in m.sizes.items())
        knobs = ", ".join(f"{k}={v}" for k, v in sorted(m.knobs.items()))
        lines = ["/*", " * Generated by `oomcheck export promela`: do not edit, regenerate.",
                 *_comment(f"model {m.name}, variant {m.variant or '(none)'}; sizes {sizes}; "
                           f"knobs {knobs}")]
        if m.provenance:
            lines += [" *", *_comment(m.provenance)]
        layout = {
            "instance": "one process per weakly fair action instance (SPIN's -f is weak "
                        "fairness per process)",
            "single": "every action instance in one process (safety only)",
            "actor": "one process per actor (each thread, the OOM killer, ...), as a SPIN user "
                     "would write it. Under pan -f that is weak fairness per actor, not per "
                     "action instance: a liveness verdict is sure to equal oomcheck's only when "
                     "no actor ever has two steps enabled at once and no actor's step disables "
                     "another actor's enabled step; the instance layout is exact",
        }[self.layout]
        lines += [" *", *_comment(f"Processes: {layout}. Each step is one d_step with "
                                  f"simultaneous assignment. Initial states: {n_init}. Deadlock: "
                                  "no step enabled and not FINAL (an invalid end state)."),
                  " * Check a property: spin -a FILE; gcc -O2 CFLAGS -o pan pan.c; "
                  "./pan -m<depth> -w<log2 hash slots> ARGS"]
        for r in runs.values():
            lines.append(f" *   {r.property} ({r.kind}): CFLAGS {' '.join(r.cflags) or '-'}; "
                         f"ARGS {' '.join(r.args) or '-'}")
        lines.append(" */")
        return lines


def _overlap(reads: set[tuple[str, int | None]], writes: list[tuple[str, int | None]]) -> bool:
    """Whether a read may see a slot that another update writes (None: any element)."""
    return any(r[0] == w[0] and (r[1] is None or w[1] is None or r[1] == w[1])
               for r in reads for w in writes)


def _unique(name: str, taken: set[str]) -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name}_{k}", k + 1
    taken.add(out)
    return out


def _const_index(lhs: Index) -> int | None:
    return lhs.index.value if isinstance(lhs.index, Const) else None


def _num(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


def _proc_name(lines: list[str]) -> str:
    for ln in lines:
        if "proctype " in ln:
            return ln.split("proctype ", 1)[1].split("(", 1)[0]
    raise ModelError("internal: a process without a proctype line")


# --------------------------------------------------------------------------------------------
# running SPIN (the bench and the tests; nothing here installs anything)
# --------------------------------------------------------------------------------------------


@dataclass
class Measured:
    returncode: int
    output: str
    seconds: float
    peak_kb: int  # the child's peak resident set size (wait4's ru_maxrss)
    cpu_seconds: float = 0.0  # the child's user + system time (steadier than wall on a busy box)
    timed_out: bool = False


def run_measured(cmd: list[str], cwd: Path | None = None, timeout: float | None = None,
                 env: dict[str, str] | None = None) -> Measured:
    """Run a command; wall time and the peak RSS of that child alone (os.wait4), output merged."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(timeout, p.kill) if timeout else None
        if timer is not None:
            timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        el = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    killed = p.returncode < 0 and timeout is not None and el >= timeout
    return Measured(p.returncode, text, el, int(ru.ru_maxrss), ru.ru_utime + ru.ru_stime, killed)


@dataclass
class SpinRun:
    property: str
    verdict: str  # holds | violated | unknown | error
    reason: str
    states: int | None
    transitions: int | None
    depth: int | None
    compile_seconds: float
    run_seconds: float
    cpu_seconds: float
    peak_kb: int
    cflags: tuple[str, ...]
    args: tuple[str, ...]
    output: str


def spin_available() -> str | None:
    """None when spin and a C compiler are on PATH, else what is missing."""
    missing = [t for t in ("spin", "gcc") if shutil.which(t) is None]
    return " and ".join(missing) if missing else None


class SpinSession:
    """One exported model in a work directory: `spin -a` once, pan compiled once per flag set."""

    def __init__(self, pml: Promela, workdir: Path, *, opt: str = "-O2", reduce: bool = True,
                 safety: bool = True, memlim_mb: int = 16_000, timeout: float | None = None,
                 extra_cflags: tuple[str, ...] = ()):
        self.pml, self.dir, self.opt, self.extra = pml, workdir, opt, extra_cflags
        self.reduce, self.safety, self.memlim, self.timeout = reduce, safety, memlim_mb, timeout
        self.spin_seconds: float | None = None
        self.binaries: dict[tuple[str, ...], tuple[str, float]] = {}

    def _generate(self) -> float:
        if self.spin_seconds is None:
            (self.dir / "model.pml").write_text(self.pml.text)
            r = run_measured(["spin", "-a", "model.pml"], self.dir, self.timeout)
            if r.returncode != 0 or not (self.dir / "pan.c").exists():
                raise ModelError("spin -a failed on the exported model: " + r.output.strip()[-500:])
            self.spin_seconds = r.seconds
            return r.seconds
        return 0.0

    def cflags(self, run: PanRun) -> tuple[str, ...]:
        flags = [f for f in run.cflags if self.safety or f != "-DSAFETY"]
        if not self.reduce:
            flags.append("-DNOREDUCE")
        flags += [*self.extra, f"-DMEMLIM={self.memlim}"]
        return tuple(flags)

    def _binary(self, flags: tuple[str, ...]) -> tuple[str, float]:
        if flags not in self.binaries:
            spent = self._generate()
            name = f"pan{len(self.binaries)}"
            r = run_measured(["gcc", self.opt, *flags, "-w", "-o", name, "pan.c"], self.dir,
                             self.timeout)
            if r.returncode != 0:
                raise ModelError("gcc failed on pan.c: " + r.output.strip()[-500:])
            self.binaries[flags] = (name, spent + r.seconds)
            return self.binaries[flags]
        return self.binaries[flags][0], 0.0

    def check(self, prop: str, max_depth: int = 10_000_000, hash_bits: int = 22) -> SpinRun:
        """Check one property; compile_seconds is what this call spent on spin -a and gcc."""
        run = self.pml.runs.get(prop)
        if run is None:
            raise ModelError(f"the exported model has no property {prop!r}")
        flags = self.cflags(run)
        binary, compile_s = self._binary(flags)
        args = (f"-m{max_depth}", f"-w{hash_bits}", *run.args)
        r = run_measured([f"./{binary}", *args], self.dir, self.timeout)
        verdict, reason = pan_verdict(run.kind, r)
        return SpinRun(prop, verdict, reason, _int(r"(\d+) states, stored", r.output),
                       _int(r"(\d+) transitions", r.output),
                       _int(r"depth reached (\d+)", r.output), compile_s, r.seconds,
                       r.cpu_seconds, r.peak_kb, flags, args, r.output)


def _int(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else None


def pan_verdict(kind: str, r: Measured) -> tuple[str, str]:
    """Read pan's report: the verdict for a property of this kind, and why."""
    out = r.output
    if r.timed_out:
        return "unknown", "time limit reached"
    errors = _int(r"errors: (\d+)", out)
    first = re.search(r"pan:1: (.*?)(?: \(at depth \d+\))?$", out, re.M)
    msg = first.group(1).strip() if first else ""
    if errors is None:
        tail = out.strip().splitlines()[-1:] or ["no output"]
        return "unknown", f"pan stopped (exit {r.returncode}): {tail[0]}"
    if errors == 0:
        for bad in ("max search depth too small", "reached -DMEMLIM bound", "out of memory"):
            if bad in out:
                return "unknown", f"search incomplete: {bad}"
        return "holds", ""
    if "invalid array index" in msg or "nv__" in msg:
        return "error", f"model error: {msg}"
    if kind == "deadlock" and msg.startswith("invalid end state"):
        return "violated", msg
    if kind == "invariant" and msg.startswith("assertion violated"):
        return "violated", msg
    if kind in ("eventually", "leads_to") and msg.startswith("acceptance cycle"):
        return "violated", msg
    return "unknown", f"unexpected report: {msg or out.strip()[-200:]}"
