"""A counterexample at one size as a schema over K and P, found and tested on concrete instances.

The explicit trace at (K0, P0) names VMAs, PTEs and pages by number. At a bigger size each of
the K0 VMAs keeps its place at the bottom (v) or moves to the top (K - K0 + v): those below a
threshold m stay, the others move up, and the new VMAs (the gap) sit in between; PTEs likewise
with P and a threshold n. A new element starts with one allowed initial value (the filler).
Where a step of the trace is not enabled at a bigger size, its actor alone takes the shortest
run of its own steps after which it is (a walk over the new VMAs, a table's new PTEs). Read at
gap 2, such a run shows two iterations over the gap: a loop, in the direction the walk took.

Nothing here is a proof: a schema is a guess that the concrete instances test (`replay`), and
symexec.py checks it for symbolic K and P.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from oomcheck.checker.indexed.template import Aff, Template
from oomcheck.checker.language.compile import Compiled, _conj, compile_model
from oomcheck.checker.language.lang import Const, Expr, Model, ModelError, Property
from oomcheck.checker.trace import Trace

# ----------------------------------------------------------------------------------------------
# schemas
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lin:
    """k*K + p*P + var + d: an index at every size (var: a loop variable, or none)."""

    k: int = 0
    p: int = 0
    var: str | None = None
    d: int = 0

    def at(self, env: Mapping[str, object]) -> object:
        out: object = self.d
        if self.k:
            out = out + self.k * env["K"]  # type: ignore[operator]
        if self.p:
            out = out + self.p * env["P"]  # type: ignore[operator]
        if self.var is not None:
            out = out + env[self.var]  # type: ignore[operator]
        return out

    def show(self) -> str:
        parts = [s for c, s in ((self.k, "K"), (self.p, "P")) if c] + ([self.var] if self.var else [])
        out = " + ".join(parts)
        if self.d or not out:
            out = f"{out} + {self.d}" if out else str(self.d)
        return out.replace("+ -", "- ")


Arg = Lin | tuple[Lin, Lin]  # a VMA, PTE or fixed-domain index; a page as (VMA, PTE)


@dataclass(frozen=True)
class SStep:
    action: str
    args: tuple[tuple[str, Arg], ...]

    def show(self) -> str:
        def one(a: Arg) -> str:
            return f"page({a[0].show()}, {a[1].show()})" if isinstance(a, tuple) else a.show()
        inner = ", ".join(f"{n}={one(a)}" for n, a in self.args)
        return f"{self.action}({inner})" if inner else self.action


@dataclass(eq=False)
class SLoop:
    """The body once for each element of the gap of dimension dim ("K": VMAs, "P": PTEs), with
    var bound to it, ascending or descending. shapes: how each scalar moves from one iteration
    to the next (fitted on a concrete instance, for symexec): ("step", a) is E + a*c after c
    iterations; ("index", a, b) is E before the first, then a*i + b before iteration i."""

    var: str
    dim: str
    down: bool
    body: list[SStep | SLoop]
    shapes: dict[str, tuple] = field(default_factory=dict)

    def show(self, indent: str = "") -> str:
        order = "descending" if self.down else "ascending"
        rows = [f"{indent}for each new {'VMA' if self.dim == 'K' else 'PTE'} {self.var}, {order}:"]
        rows += [x.show(indent + "  ") if isinstance(x, SLoop) else f"{indent}  {x.show()}"
                 for x in self.body]
        return "\n".join(rows)


Item = SStep | SLoop


@dataclass
class Schema:
    k0: int
    p0: int
    m: int  # VMAs below m stay at the bottom, the others move to the top
    n: int  # PTEs likewise
    scal_init: dict[str, Expr]  # one allowed initial value (Const or Aff) per scalar
    # per array: the initial value of each element the base trace has (by base index: int, or
    # (v, p) for a page) and the value of every new element
    arr_init: dict[str, tuple[dict[object, Expr], Expr]]
    items: list[Item]
    fill_note: str = ""

    def gap(self, dim: str, env: Mapping[str, object]) -> tuple[object, object]:
        """[lo, hi) of the new elements of a dimension."""
        if dim == "K":
            return self.m, env["K"] - self.k0 + self.m  # type: ignore[operator]
        return self.n, env["P"] - self.p0 + self.n  # type: ignore[operator]

    def lin(self, dim: str, b: int) -> Lin:
        """Where the element b of the base size is at every size."""
        below = self.m if dim == "K" else self.n
        base = self.k0 if dim == "K" else self.p0
        if b < below:
            return Lin(d=b)
        return Lin(k=1, d=b - base) if dim == "K" else Lin(p=1, d=b - base)

    def anchored(self, dim: str) -> list[Lin]:
        return [self.lin(dim, b) for b in range(self.k0 if dim == "K" else self.p0)]

    def show(self) -> str:
        rows = [x.show("  ") if isinstance(x, SLoop) else f"  {x.show()}" for x in self.items]
        return "\n".join(rows)

    def anchoring_text(self) -> str:
        def one(dim: str, n: int) -> str:
            return ", ".join(f"{b} -> {self.lin(dim, b).show()}" for b in range(n))
        return f"VMAs {one('K', self.k0)}; PTEs {one('P', self.p0)}"


# ----------------------------------------------------------------------------------------------
# one concrete instance
# ----------------------------------------------------------------------------------------------


class Concrete:
    """The model built at (K, P), compiled as the explicit engine compiles it."""

    def __init__(self, model: Model, fam_doms: tuple[str, str, str | None], k: int, p: int):
        self.model, self.k, self.p = model, k, p
        self.kd, self.pd, self.prod = fam_doms
        self.comp: Compiled = compile_model(model)
        self.lay = self.comp.layout
        self.by_key = {(i.action.name, i.binding): i.id for i in self.comp.instances}
        self.ok_init = self.comp.predicate(_conj(model.init_constraints))
        self.choices = dict(zip([(n, i) for n, i, _ in model.slots()], model.init_choices(), strict=True))

    def succ(self, s: int) -> dict[int, int]:
        out: list = []
        self.comp.expand(s, out)
        return dict(out)

    def actor(self, aid: int) -> str:
        return self.comp.instances[aid].actor

    def values(self, s: int) -> dict[tuple[str, int | None], int]:
        return {(n, i): v for (n, i, _), v in zip(self.lay.slots, self.lay.decode(s), strict=True)}

    def encode(self, vals: Mapping[tuple[str, int | None], int]) -> int:
        return self.lay.encode([vals[(n, i)] for n, i, _ in self.lay.slots])

    def violated(self, s: int, prop: Property) -> bool:
        if prop.kind == "invariant":
            return not self.comp.predicate(prop.expr)(s)  # type: ignore[arg-type]
        if prop.kind == "deadlock":
            return not self.succ(s) and not self.comp.predicate(self.model.final)(s)
        return False


def classify(sch: Schema, dim: str, x: int, size: int) -> tuple[str, int]:
    """An element of a concrete size: ("a", base index) or ("g", offset in the gap)."""
    below, base = (sch.m, sch.k0) if dim == "K" else (sch.n, sch.p0)
    if x < below:
        return ("a", x)
    if x >= size - base + below:
        return ("a", x - (size - base))
    return ("g", x - below)


def _val(e: Expr, k: int, p: int) -> int:
    return e.at(k, p) if isinstance(e, Aff) else e.value  # type: ignore[attr-defined]


def initial(sch: Schema, c: Concrete, t: Template) -> int:
    """The schema's initial state at c's size; ModelError when the model does not allow it."""
    vals: dict[tuple[str, int | None], int] = {}
    for name, v in t.vars.items():
        if v.domain is None:
            vals[(name, None)] = _val(sch.scal_init[name], c.k, c.p)
            continue
        known, fill = sch.arr_init[name]
        n = c.model.domains[v.domain]
        for i in range(n):
            key: object = i
            if v.domain == c.kd:
                cl = classify(sch, "K", i, c.k)
                key = cl[1] if cl[0] == "a" else None
            elif v.domain == c.pd:
                cl = classify(sch, "P", i, c.p)
                key = cl[1] if cl[0] == "a" else None
            elif v.domain == c.prod:
                cv, cp = classify(sch, "K", i // c.p, c.k), classify(sch, "P", i % c.p, c.p)
                key = (cv[1], cp[1]) if cv[0] == cp[0] == "a" else None
            vals[(name, i)] = _val(known[key] if key is not None else fill, c.k, c.p)
    for slot, x in vals.items():
        if x not in c.choices[slot]:
            raise ModelError(f"{c.model.slot_name(*slot)} = {x} is not an allowed initial value")
    s = c.encode(vals)
    if not c.ok_init(s):
        raise ModelError("the initial constraints do not hold")
    return s


def binding(c: Concrete, st: SStep, env: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """The step's parameter values at c's size (a page as v*P + p)."""
    out = []
    for name, a in st.args:
        if isinstance(a, tuple):
            out.append((name, int(a[0].at(env)) * c.p + int(a[1].at(env))))  # type: ignore[call-overload]
        else:
            out.append((name, int(a.at(env))))  # type: ignore[call-overload]
    return tuple(out)


@dataclass
class Replay:
    """What replaying a schema at one size gave: the instance ids, and for each loop the states
    at the start of its first run's iterations (with the loop variable's value)."""

    aids: list[int] = field(default_factory=list)
    starts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    error: str = ""


def replay(sch: Schema, c: Concrete, t: Template, prop: Property) -> Replay:
    """Run the schema at c's size; error says where it is not an execution ending in a violation."""
    out = Replay()
    try:
        s = initial(sch, c, t)
    except ModelError as e:
        out.error = f"initial state: {e}"
        return out
    env = {"K": c.k, "P": c.p}
    try:
        s = _run(sch, c, t, sch.items, s, env, out)
    except _StuckError as e:
        out.error = str(e)
        return out
    except ModelError as e:
        out.error = f"model error: {e}"
        return out
    if not c.violated(s, c.model.properties[prop.name]):
        out.error = f"the last state does not violate {prop.name}"
    return out


class _StuckError(Exception):
    pass


def _run(sch: Schema, c: Concrete, t: Template, items: list[Item], s: int, env: dict[str, int],
         out: Replay) -> int:
    for it in items:
        if isinstance(it, SStep):
            key = (it.action, binding(c, it, env))
            aid = c.by_key.get(key)
            if aid is None:
                raise _StuckError(f"{it.show()} at {env}: no such instance")
            nxt = c.succ(s).get(aid)
            if nxt is None:
                raise _StuckError(f"{it.show()} at {dict(env)}: not enabled")
            out.aids.append(aid)
            s = nxt
            continue
        lo, hi = sch.gap(it.dim, env)
        order = range(hi - 1, lo - 1, -1) if it.down else range(lo, hi)  # type: ignore[operator]
        rec = id(it) not in out.starts
        if rec:
            out.starts[id(it)] = []
        for i in order:
            if rec:
                out.starts[id(it)].append((i, s))
            s = _run(sch, c, t, it.body, s, {**env, it.var: i}, out)
    return s


# ----------------------------------------------------------------------------------------------
# finding a schema
# ----------------------------------------------------------------------------------------------


def solo(c: Concrete, s: int, actor: str, target: int, limit: int = 20000) -> list[tuple[int, int]] | None:
    """The shortest run of `actor`'s own steps from s after which instance `target` is enabled."""
    if target in c.succ(s):
        return []
    prev: dict[int, tuple[int, int] | None] = {s: None}
    todo = deque([s])
    while todo and len(prev) < limit:
        x = todo.popleft()
        for aid, y in c.succ(x).items():
            if y in prev or c.actor(aid) != actor:
                continue
            prev[y] = (x, aid)
            if target in c.succ(y):
                path = []
                z = y
                while prev[z] is not None:
                    px, pa = prev[z]  # type: ignore[misc]
                    path.append((pa, z))
                    z = px
                return path[::-1]
            todo.append(y)
    return None


Tok = tuple[str, tuple[tuple[str, object], ...]]  # action, ((param, class), ...)


def repaired(sch: Schema, c: Concrete, t: Template, base: list[SStep], prop: Property) -> list[Tok] | str:
    """The base steps at c's size, each preceded by its actor's shortest solo run that enables
    it, as tokens whose indices are classified (anchored or new); or why not."""
    try:
        s = initial(sch, c, t)
    except ModelError as e:
        return f"initial state: {e}"
    env = {"K": c.k, "P": c.p}
    aids: list[int] = []
    for st in base:
        aid = c.by_key.get((st.action, binding(c, st, env)))
        if aid is None:
            return f"{st.show()}: no such instance"
        try:
            run = solo(c, s, c.actor(aid), aid)
        except ModelError as e:
            return f"model error: {e}"
        if run is None:
            return f"{st.show()} is not enabled at {c.k}x{c.p} after any run of {c.actor(aid)} alone"
        for a, y in run:
            aids.append(a)
            s = y
        aids.append(aid)
        s = c.succ(s)[aid]
    if not c.violated(s, c.model.properties[prop.name]):
        return f"at {c.k}x{c.p} the last state does not violate {prop.name}"
    return [token(sch, c, aid) for aid in aids]


def token(sch: Schema, c: Concrete, aid: int) -> Tok:
    """An instance with each index classified: ("a", base index) or ("g", offset among the new)."""
    inst = c.comp.instances[aid]
    doms = {p.name: p.domain for p in inst.action.params}
    args = []
    for name, x in inst.binding:
        d = doms[name]
        if d == c.kd:
            args.append((name, ("K", classify(sch, "K", x, c.k))))
        elif d == c.pd:
            args.append((name, ("P", classify(sch, "P", x, c.p))))
        elif d == c.prod:
            args.append((name, ("KP", classify(sch, "K", x // c.p, c.k), classify(sch, "P", x % c.p, c.p))))
        else:
            args.append((name, ("c", x)))
    return (inst.action.name, tuple(args))


def _gaps(tok: Tok, dim: str) -> list[int]:
    out = []
    for _, a in tok[1]:
        if a[0] == dim and a[1][0] == "g":  # type: ignore[index]
            out.append(a[1][1])  # type: ignore[index]
        elif a[0] == "KP":
            cl = a[1] if dim == "K" else a[2]  # type: ignore[index]
            if cl[0] == "g":
                out.append(cl[1])
    return out


def _bind(tok: Tok, dim: str, g: int, var: str) -> Tok:
    def one(cl: tuple) -> tuple:
        return ("v", var) if cl == ("g", g) else cl
    args = []
    for n, a in tok[1]:
        if a[0] == dim:  # type: ignore[index]
            a = (dim, one(a[1]))  # type: ignore[index]
        elif a[0] == "KP":  # type: ignore[index]
            a = ("KP", one(a[1]), a[2]) if dim == "K" else ("KP", a[1], one(a[2]))  # type: ignore[index]
        args.append((n, a))
    return (tok[0], tuple(args))


def parse(sch: Schema, toks: list[Tok], depth: int = 0) -> list[Item] | str:
    """Tokens of a run at gap 2 as steps and loops: a loop starts at the first step on a new
    element and repeats, with the other new element, right after (the same steps)."""
    out: list[Item] = []
    i = 0
    while i < len(toks):
        dim = next((d for d in ("K", "P") if _gaps(toks[i], d)), None)
        if dim is None:
            out.append(_step(sch, toks[i]))
            i += 1
            continue
        g1 = _gaps(toks[i], dim)[0]
        b = next((j for j in range(i + 1, len(toks)) if any(g != g1 for g in _gaps(toks[j], dim))), None)
        if b is None:
            return f"one pass over the new {'VMAs' if dim == 'K' else 'PTEs'} only, from {toks[i][0]}"
        g2 = next(g for g in _gaps(toks[b], dim) if g != g1)
        n = b - i
        var = f"{'i' if dim == 'K' else 'q'}{depth or ''}"
        one = [_bind(x, dim, g1, var) for x in toks[i:b]]
        two = [_bind(x, dim, g2, var) for x in toks[b:b + n]]
        if one != two or any(g2 in _gaps(x, dim) for x in toks[i:b]):
            return f"the steps over the two new {'VMAs' if dim == 'K' else 'PTEs'} differ (from {toks[i][0]})"
        body = parse(sch, one, depth + 1)
        if isinstance(body, str):
            return body
        out.append(SLoop(var, dim, g2 < g1, body))
        i = b + n
    return out


def _step(sch: Schema, tok: Tok) -> SStep:
    def lin(dim: str, cl: tuple) -> Lin:
        if cl[0] == "v":
            return Lin(var=cl[1])
        if cl[0] == "g":
            raise ModelError("internal error: a new element outside a loop")
        return sch.lin(dim, cl[1])
    args: list[tuple[str, Arg]] = []
    for n, a in tok[1]:
        if a[0] == "c":  # type: ignore[index]
            args.append((n, Lin(d=a[1])))  # type: ignore[index]
        elif a[0] == "KP":  # type: ignore[index]
            args.append((n, (lin("K", a[1]), lin("P", a[2]))))  # type: ignore[index]
        else:
            args.append((n, lin(a[0], a[1])))  # type: ignore[index]
    return SStep(tok[0], tuple(args))


# ----------------------------------------------------------------------------------------------
# candidates
# ----------------------------------------------------------------------------------------------


@dataclass
class Base:
    """The explicit counterexample at (k0, p0), read back."""

    k0: int
    p0: int
    init: dict[tuple[str, int | None], int]
    steps: list[tuple[str, tuple[tuple[str, int], ...]]]  # action, binding


def read_base(model: Model, trace: Trace, k0: int, p0: int) -> Base:
    if trace.path is None:
        raise ModelError("the counterexample has no path to replay")
    comp = compile_model(model)
    states, acts = trace.path
    vals = comp.layout.decode(states[0])
    init = {(n, i): v for (n, i, _), v in zip(comp.layout.slots, vals, strict=True)}
    return Base(k0, p0, init, [(comp.instances[a].action.name, comp.instances[a].binding) for a in acts])


def candidates(base: Base, t: Template, doms: tuple[str, str, str | None],
               limit: int = 64) -> Iterator[Schema]:
    """Skeleton schemas (the base steps only, no loops yet): every anchoring of the VMAs and
    PTEs, and every choice of initial values that matches the base trace's (an Aff or a
    constant equal to it at the base size) and of the new elements' filler."""
    kd, pd, prod = doms
    k0, p0 = base.k0, base.p0
    scal_opts: list[list[tuple[str, Expr]]] = []
    arr_opts: list[list[tuple[str, tuple[dict[object, Expr], Expr]]]] = []
    for name, v in t.vars.items():
        def match(x: int, v=v) -> list[Expr]:
            return [e for e in v.init if _val(e, k0, p0) == x]
        if v.domain is None:
            scal_opts.append([(name, e) for e in match(base.init[(name, None)])] or [])
            continue
        n = {kd: k0, pd: p0}.get(v.domain, k0 * p0 if v.domain == prod else None)
        size = n if n is not None else int(t.domains[v.domain])  # type: ignore[arg-type]
        known: dict[object, Expr] = {}
        for i in range(size):
            got = match(base.init[(name, i)])
            if not got:
                known = {}
                break
            known[(i // p0, i % p0) if v.domain == prod else i] = got[0]
        if len(known) != size:
            arr_opts.append([])
            continue
        fills = list(v.init) if v.domain in (kd, pd, prod) else [v.init[0]]
        arr_opts.append([(name, (known, f)) for f in fills])
    if any(not o for o in scal_opts + arr_opts):
        return
    count = 0
    anchorings = sorted(itertools.product(range(k0, -1, -1), range(p0, -1, -1)),
                        key=lambda mn: (mn[0] not in (0, k0), mn[1] not in (0, p0)))
    for scal in itertools.product(*scal_opts):
        for arrs in itertools.product(*arr_opts):
            for m, n in anchorings:
                sch = Schema(k0, p0, m, n, dict(scal), dict(arrs), [])
                sch.items = [SStep(a, tuple((pn, _arg(sch, t, a, pn, x)) for pn, x in b))
                             for a, b in base.steps]
                multi = [nm for nm, (_, f) in arrs if len(t.vars[nm].init) > 1]
                sch.fill_note = ", ".join(f"{nm}={_show_init(t, nm, sch.arr_init[nm][1])}" for nm in multi)
                yield sch
                count += 1
                if count >= limit:
                    return


def _show_init(t: Template, name: str, e: Expr) -> str:
    typ = t.vars[name].type
    if isinstance(e, Const) and hasattr(typ, "show"):
        return typ.show(e.value)  # type: ignore[attr-defined]
    return e.show() if isinstance(e, Aff) else str(getattr(e, "value", e))


def _arg(sch: Schema, t: Template, action: str, pname: str, x: int) -> Arg:
    d = next(p.domain for p in t.action(action).params if p.name == pname)
    fam = t.family
    if d == fam.k_dom:
        return sch.lin("K", x)
    if d == fam.p_dom:
        return sch.lin("P", x)
    if fam.product is not None and d == fam.product[0]:
        return (sch.lin("K", x // sch.p0), sch.lin("P", x % sch.p0))
    return Lin(d=x)
