"""Compile a model to Python source over bit-packed states, for the explicit engine.

A state is one Python int: every slot (scalar or array element) owns a bit field. One generated
function decodes the fields a state needs once, checks the invariants and emits every successor,
so the search loop never walks an expression tree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from oomcheck.checker.explicit.symmetry import Symmetry
from oomcheck.checker.language.lang import (
    ActionInstance,
    BoolType,
    Const,
    Expr,
    Index,
    Model,
    ModelError,
    Op,
    Param,
    Quant,
    Var,
)


class Layout:
    """Where each slot lives in the packed integer."""

    def __init__(self, model: Model, symmetry: Symmetry | None = None):
        self.model = model
        self.symmetry = symmetry
        self.slots = model.slots()
        if symmetry is not None:  # each free thread's locals side by side, at the top
            free = set(symmetry.free)
            mine = [d.name for d in model.vars.values() if d.domain == symmetry.domain]
            self.slots = [x for x in self.slots if not (x[2].domain == symmetry.domain and x[1] in free)]
            self.fixed = len(self.slots)  # slots before the free threads' blocks
            self.per_thread = len(mine)
            self.slots += [(n, i, model.vars[n]) for i in symmetry.free for n in mine]
        self.pos: dict[tuple[str, int | None], int] = {}
        self.offset: list[int] = []
        self.width: list[int] = []
        self.lo: list[int] = []
        self.array_slots: dict[str, list[int]] = {}
        off = 0
        for k, (name, i, d) in enumerate(self.slots):
            vals = d.type.values()
            lo, n = vals.start, len(vals)
            w = max(1, (n - 1).bit_length())
            self.pos[(name, i)] = k
            self.offset.append(off)
            self.width.append(w)
            self.lo.append(lo)
            if i is not None:
                self.array_slots.setdefault(name, []).append(k)
            off += w
        self.bits = off

    def slot_of(self, name: str, i: int | None) -> int:
        try:
            return self.pos[(name, i)]
        except KeyError:
            d = self.model.vars.get(name)
            if d is None:
                raise ModelError(f"unknown variable {name}") from None
            if d.domain is None:
                raise ModelError(f"{name} is a scalar, not an array") from None
            if i is None:
                raise ModelError(f"{name} is an array; index it") from None
            raise ModelError(f"index {i} out of range for {name}") from None

    def encode(self, values: Sequence[int]) -> int:
        s = 0
        for k, v in enumerate(values):
            s |= (v - self.lo[k]) << self.offset[k]
        return s

    def canon_source(self) -> str:
        """canon(s): the state with the free threads' local blocks sorted, the representative of
        its orbit under permutations of those threads."""
        sym = self.symmetry
        assert sym is not None
        base = self.offset[self.fixed]
        w = (self.bits - base) // len(sym.free)
        mask = (1 << w) - 1
        parts = ", ".join(f"(s >> {base + j * w}) & {mask}" for j in range(len(sym.free)))
        back = " | ".join(f"(c[{j}] << {base + j * w})" for j in range(len(sym.free)))
        return (f"def canon(s):\n    c = sorted(({parts},))\n"
                f"    return (s & {(1 << base) - 1}) | {back}\n")

    def decode(self, s: int) -> list[int]:
        return [((s >> self.offset[k]) & ((1 << self.width[k]) - 1)) + self.lo[k]
                for k in range(len(self.slots))]

    def show(self, k: int, v: int) -> str:
        return self.slots[k][2].type.show(v)

    def name(self, k: int) -> str:
        name, i, _ = self.slots[k]
        return self.model.slot_name(name, i)


def const_value(e: Expr, qenv: dict[str, int]) -> int | None:
    """Fold an expression that reads no state; None when it does."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Param):
        return qenv.get(e.name)
    if isinstance(e, Op):
        vals = [const_value(a, qenv) for a in e.args]
        if any(v is None for v in vals):
            return None
        return int(_apply(e.op, vals))  # type: ignore[arg-type]
    return None


def _apply(op: str, v: list[int]) -> int | bool:
    """The operators on values, the one definition interp.py shares: a boolean operator reads
    any non-zero value as true and returns 0/1, so engines agree even on ill-typed operands (the
    type checker refuses those when a model is built)."""
    if op == "+":
        return v[0] + v[1]
    if op == "-":
        return v[0] - v[1]
    if op == "==":
        return v[0] == v[1]
    if op == "!=":
        return v[0] != v[1]
    if op == "<":
        return v[0] < v[1]
    if op == "<=":
        return v[0] <= v[1]
    if op == "and":
        return bool(v[0]) and bool(v[1])
    if op == "or":
        return bool(v[0]) or bool(v[1])
    if op == "not":
        return not v[0]
    if op == "implies":
        return (not v[0]) or bool(v[1])
    if op == "ite":
        return v[1] if v[0] else v[2]
    raise ModelError(f"unknown operator {op}")


class _Gen:
    """Turns expressions into Python source, remembering which slots they read."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.model = layout.model
        self.used: set[int] = set()

    def local(self, k: int) -> str:
        self.used.add(k)
        return f"v{k}"

    def expr(self, e: Expr, qenv: dict[str, int]) -> str:
        if isinstance(e, Const):
            return str(e.value)
        if isinstance(e, Param):
            if e.name not in qenv:
                raise ModelError(f"parameter {e.name} is not bound here")
            return str(qenv[e.name])
        if isinstance(e, Var):
            d = self.model.vars.get(e.name)
            if d is None:
                raise ModelError(f"unknown variable {e.name}")
            return self.local(self.layout.slot_of(e.name, None))
        if isinstance(e, Index):
            d = self.model.vars.get(e.array)
            if d is None or d.domain is None:
                raise ModelError(f"{e.array} is not an array")
            i = const_value(e.index, qenv)
            if i is not None:
                return self.local(self.layout.slot_of(e.array, i))
            ks = self.layout.array_slots[e.array]
            elems = ", ".join(self.local(k) for k in ks)
            return f"({elems},)[_chk({self.expr(e.index, qenv)}, {len(ks)}, {e.array!r})]"
        if isinstance(e, Op):
            op = e.op
            if op in ("and", "or", "not", "implies"):
                # Python's `and`/`or` return an operand: each operand is made 0/1 first
                b = [self.truth(x, qenv) for x in e.args]
                if op == "and":
                    return f"({b[0]} and {b[1]})"
                if op == "or":
                    return f"({b[0]} or {b[1]})"
                if op == "not":
                    return f"(not {b[0]})"
                return f"((not {b[0]}) or {b[1]})"
            a = [self.expr(x, qenv) for x in e.args]
            if op in ("+", "-", "==", "!=", "<", "<="):
                return f"({a[0]} {op} {a[1]})"
            if op == "ite":
                return f"({a[1]} if {a[0]} else {a[2]})"
            raise ModelError(f"unknown operator {op}")
        if isinstance(e, Quant):
            n = self.model.domains.get(e.domain)
            if n is None:
                raise ModelError(f"quantifier over unknown domain {e.domain}")
            parts = [self.truth(e.body, {**qenv, e.var: i}) for i in range(n)]
            if e.kind == "forall":
                return "(" + " and ".join(parts) + ")"
            if e.kind == "exists":
                return "(" + " or ".join(parts) + ")"
            if e.kind == "count":  # the number of elements where the body is non-zero
                return "(0 + " + " + ".join(parts) + ")"
            raise ModelError(f"unknown quantifier {e.kind}")
        raise ModelError(f"not an expression: {e!r}")

    def truth(self, e: Expr, qenv: dict[str, int]) -> str:
        """Source for e as 0/1 (False/True): as is when e can only be 0/1, else `!= 0`."""
        src = self.expr(e, qenv)
        return src if self._is_01(e) else f"({src} != 0)"

    def _is_01(self, e: Expr) -> bool:
        if isinstance(e, Const):
            return e.value in (0, 1)
        if isinstance(e, Op):
            if e.op == "ite":
                return self._is_01(e.args[1]) and self._is_01(e.args[2])
            return e.op not in ("+", "-")
        if isinstance(e, Quant):
            return e.kind != "count"
        if isinstance(e, (Var, Index)):
            d = self.model.vars.get(e.name if isinstance(e, Var) else e.array)
            return d is not None and isinstance(d.type, BoolType)
        return False

    def prelude(self) -> list[str]:
        lay = self.layout
        out = []
        for k in sorted(self.used):
            mask = (1 << lay.width[k]) - 1
            field = f"(s >> {lay.offset[k]}) & {mask}" if lay.offset[k] else f"s & {mask}"
            out.append(f"    v{k} = ({field}) + ({lay.lo[k]})" if lay.lo[k] else f"    v{k} = {field}")
        return out


def _chk(i: int, n: int, name: str) -> int:
    if not 0 <= i < n:
        raise ModelError(f"index {i} out of range for {name}")
    return i


def _range_error(action: str, target: str, value: int) -> None:
    raise ModelError(f"action {action} assigns {value} to {target}, outside its type")


@dataclass
class Compiled:
    model: Model
    layout: Layout
    instances: list[ActionInstance]
    invariants: list[str]  # bit k of expand()'s result is invariants[k]
    expand: Callable[[int, list], int]
    source: str
    # with a symmetry: expand appends canonical successors, raw_expand the model's own; canon
    # maps a state to its orbit's representative
    raw_expand: Callable[[int, list], int] | None = None
    canon: Callable[[int], int] | None = None

    def predicate(self, e: Expr) -> Callable[[int], bool]:
        g = _Gen(self.layout)
        body = g.expr(e, {})
        src = "def pred(s):\n" + "\n".join(g.prelude()) + f"\n    return bool({body})\n"
        ns: dict = {"_chk": _chk}
        exec(compile(src, f"<{self.model.name}:predicate>", "exec"), ns)
        return ns["pred"]

    def initial_states(self) -> list[int]:
        """The initial states (with a symmetry: one per orbit, enumerated as multisets of the
        free threads' starts, so 16 threads with 4 starts each are 969 combinations, not 4^16)."""
        lay = self.layout
        by_slot = dict(zip([(n, i) for n, i, _ in self.model.slots()], self.model.init_choices(),
                           strict=True))
        choices = [by_slot[(n, i)] for n, i, _ in lay.slots]
        ok = self.predicate(_conj(self.model.init_constraints))
        sym = lay.symmetry
        if sym is None:
            combos: Iterable[tuple[int, ...]] = itertools.product(*choices)
        else:
            k, per = lay.fixed, lay.per_thread
            locals_ = list(itertools.product(*choices[k:k + per]))
            combos = (fixed + sum(many, ())
                      for fixed in itertools.product(*choices[:k])
                      for many in itertools.combinations_with_replacement(locals_, len(sym.free)))
        seen: set[int] = set()
        out = []
        for combo in combos:
            s = lay.encode(combo)
            if self.canon is not None:
                s = self.canon(s)
            if s not in seen and ok(s):
                seen.add(s)
                out.append(s)
        return out


def _conj(es: list[Expr]) -> Expr:
    out: Expr = Const(1)
    for e in es:
        out = Op("and", (out, e))
    return out


def compile_model(model: Model, invariants: Sequence[tuple[str, Expr]] = (),
                  symmetry: Symmetry | None = None) -> Compiled:
    """Generate expand(s, out): append (action id, successor) pairs, return violated-invariant bits.
    With a symmetry the successors are canonical (the quotient system); raw_expand is the model's."""
    layout = _layout_checked(model, symmetry)
    instances = model.instances()
    g = _Gen(layout)
    body: list[str] = ["    bad = 0"]
    for bit, (name, e) in enumerate(invariants):
        body.append(f"    if not ({g.expr(e, {})}):  # {name}")
        body.append(f"        bad |= {1 << bit}")
    consts: dict[str, object] = {"_chk": _chk, "_range_error": _range_error}
    for inst in instances:
        body.append(f"    # {inst.id}: {inst.action.name} {dict(inst.binding)}")
        body.append(f"    if {g.expr(inst.guard, {})}:")
        body.extend(_update_code(g, inst, consts))
    src = "def expand(s, out):\n" + "\n".join(g.prelude() + body) + "\n    return bad\n"
    if symmetry is None:
        exec(compile(src, f"<{model.name}:expand>", "exec"), consts)
        return Compiled(model, layout, instances, [n for n, _ in invariants],
                        consts["expand"], src)  # type: ignore[arg-type]
    quotient = src.replace("def expand(", "def raw_expand(", 1)
    src = layout.canon_source() + _canonical_successors(src) + "\n" + quotient
    exec(compile(src, f"<{model.name}:expand>", "exec"), consts)
    return Compiled(model, layout, instances, [n for n, _ in invariants], consts["expand"], src,
                    consts["raw_expand"], consts["canon"])  # type: ignore[arg-type]


def _canonical_successors(src: str) -> str:
    """expand's source with every appended successor passed through canon()."""
    out = []
    for line in src.split("\n"):
        head, sep, rest = line.partition("out.append((")
        if sep:
            aid, _, succ = rest.partition(", ")
            line = f"{head}out.append(({aid}, canon({succ[:-2]})))"
        out.append(line)
    return "\n".join(out)


def _layout_checked(model: Model, symmetry: Symmetry | None = None) -> Layout:
    layout = Layout(model, symmetry)
    if layout.bits > 4096:
        raise ModelError(f"model {model.name} needs {layout.bits} state bits; too large")
    return layout


def _update_code(g: _Gen, inst: ActionInstance, consts: dict[str, object]) -> list[str]:
    """The successor as s with each written slot's bits flipped to the new value (the
    instance writes every slot at most once: Model.instances checked that)."""
    lay = g.layout
    lines: list[str] = []
    parts: list[str] = []
    for j, (lhs, rhs) in enumerate(inst.updates):
        arr = lhs.name if isinstance(lhs, Var) else lhs.array
        d = g.model.vars[arr]
        rhs_src = g.expr(rhs, {})
        new = f"n{j}"
        if isinstance(d.type, BoolType):
            lines.append(f"        {new} = 1 if {rhs_src} else 0")
        else:
            lines.append(f"        {new} = {rhs_src}")
            c = const_value(rhs, {})
            vals = d.type.values()
            if c is None:
                lines.append(f"        if not {vals.start} <= {new} <= {vals.stop - 1}:")
                lines.append(f"            _range_error({inst.label!r}, {arr!r}, {new})")
            elif c not in vals:
                raise ModelError(f"action {inst.action.name} assigns {c} to {arr}, outside {d.type}")
        i = None if isinstance(lhs, Var) else const_value(lhs.index, {})
        if isinstance(lhs, Var) or i is not None:
            k = lay.slot_of(arr, i)
            old = g.local(k)
            lo = lay.lo[k]
            delta = f"({old} ^ {new})" if not lo else f"(({old} - {lo}) ^ ({new} - {lo}))"
            parts.append(f"({delta} << {lay.offset[k]})" if lay.offset[k] else delta)
        else:
            ks = lay.array_slots[arr]
            offs = f"_off_{arr}"
            consts[offs] = tuple(lay.offset[k] for k in ks)
            lo = lay.lo[ks[0]]
            elems = ", ".join(g.local(k) for k in ks)
            lines.append(f"        i{j} = _chk({g.expr(lhs.index, {})}, {len(ks)}, {arr!r})")
            old = f"({elems},)[i{j}]"
            delta = f"({old} ^ {new})" if not lo else f"(({old} - {lo}) ^ ({new} - {lo}))"
            parts.append(f"({delta} << {offs}[i{j}])")
    succ = " ^ ".join(["s", *parts])
    lines.append(f"        out.append(({inst.id}, {succ}))")
    return lines
