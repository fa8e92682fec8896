"""Hypothesis strategies for the differential fuzzer (tests/test_differential.py).

Every model is generated as Python source written against the modeling language, the way a user
writes one, and built by running that source. A failing example therefore prints as a model a
person can read, and a minimal one can be pasted into a regression test as it is.

Two kinds of models:
- `models(profile)`: one model over the whole language (bool, int with small, large and negative
  ranges, enum; scalars and arrays over one or two domains; parameterised actions, `each`
  broadcasts, per-index and nondeterministic initial values, init constraints, `final`, unfair
  actions; all four property kinds). A `Profile` says which risky corners are drawn: ill-typed
  operands, large constants, counts over non-boolean bodies, indices computed from the state, and
  updates that may leave their type.
- `families(profile)`: a `build(sizes)` function for the parametric engine, reading
  `n = sizes["threads"]`, symmetric or with the mistakes a user makes when writing a variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from oomcheck.checker.lang import (
    BOOL,
    FALSE,
    TRUE,
    Enum,
    IntType,
    Model,
    all_of,
    any_of,
    count,
    exists,
    forall,
    implies,
    ite,
)
from oomcheck.checker.parametric import Family

COLOR = Enum("color", ["RED", "GREEN", "BLUE"])

# What the generated source may name.
NAMESPACE: dict[str, object] = {
    "Model": Model, "BOOL": BOOL, "IntType": IntType, "Enum": Enum, "COLOR": COLOR,
    "TRUE": TRUE, "FALSE": FALSE, "ite": ite, "implies": implies, "forall": forall,
    "exists": exists, "count": count, "all_of": all_of, "any_of": any_of, "Family": Family,
}

BIG = (2048, 4096, 70000, -2048, -70000, 5000, 5001, 600)


@dataclass(frozen=True)
class Profile:
    """Which corners of the language a generated model may use."""

    big_constants: bool = True  # 2048, 4096, 70000 ... in guards, updates and properties
    sloppy: bool = True  # ints under &, |, ~, implies, ite conditions; bools in arithmetic
    int_counts: bool = True  # count(...) over a non-boolean body (counts the non-zero ones)
    wild_index: bool = True  # an array index computed from the state (may leave the domain)
    overflow: bool = True  # updates that may leave the variable's type
    big_ranges: bool = True  # int variables over 0..5000, -5000..5000, 0..70000

    def name(self) -> str:
        on = [k for k, v in self.__dict__.items() if v]
        return "+".join(on) or "clean"


WHOLE = Profile()
CLEAN = Profile(big_constants=False, sloppy=False, int_counts=False, wild_index=False,
                overflow=False, big_ranges=True)


@dataclass
class Source:
    """A model (or family) as source text; builds it on demand. repr is the source itself."""

    text: str
    kind: str = "model"  # model | family
    notes: list[str] = field(default_factory=list)

    def build(self) -> Model:
        ns = dict(NAMESPACE)
        exec(compile(self.text, "<fuzz model>", "exec"), ns)
        return ns["m"]  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "\n" + self.text


# --------------------------------------------------------------------------------------------
# Random models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarInfo:
    name: str
    kind: str  # bool | int | enum
    lo: int
    hi: int
    domain: str | None = None

    @property
    def small(self) -> bool:
        return self.hi - self.lo <= 7


class _ModelGen:
    """Draws one model's source, piece by piece; expressions are strings of model source."""

    def __init__(self, draw: st.DrawFn, profile: Profile):
        self.draw = draw
        self.pf = profile
        self.domains: dict[str, int] = {}
        self.scalars: list[VarInfo] = []
        self.arrays: list[VarInfo] = []
        self.fresh = 0

    # -- small helpers ---------------------------------------------------------------------

    def pick(self, xs):
        return self.draw(st.sampled_from(list(xs)))

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def var_name(self) -> str:
        self.fresh += 1
        return f"u{self.fresh}"

    def int_type(self) -> tuple[int, int]:
        if self.pf.big_ranges and self.chance(0.3):
            return self.pick([(0, 5000), (-5000, 5000), (0, 70000), (-4096, -1)])
        lo = self.draw(st.integers(-3, 2))
        return lo, lo + self.draw(st.integers(1, 3))

    def values(self, v: VarInfo) -> list[int]:
        if v.small:
            return list(range(v.lo, v.hi + 1))
        cands = [v.lo, v.hi, 0, 1, 2048, 4096, -2048, 4999, 70000]
        return sorted({c for c in cands if v.lo <= c <= v.hi})

    def show_value(self, v: VarInfo, x: int) -> str:
        if v.kind == "enum":
            return f"COLOR.{COLOR.members[x]}"
        return str(x)

    # -- declarations ------------------------------------------------------------------------

    def declare(self) -> list[str]:
        lines = ['m = Model("fuzz")']
        self.domains["p"] = self.draw(st.integers(1, 3))
        if self.chance(0.4):
            self.domains["q"] = self.draw(st.integers(1, 2))
        for d, n in self.domains.items():
            lines.append(f'm.domain("{d}", {n})')
        lines.append('m.actor("p", "proc")')
        if "q" in self.domains:
            lines.append('m.actor("q", "queue")')
        n_scalars = self.draw(st.integers(1, 3))
        n_arrays = self.draw(st.integers(0, 2))
        for j in range(n_scalars + n_arrays):
            kind = self.pick(["bool", "int", "enum"])
            domain = None if j < n_scalars else self.pick(self.domains)
            if kind == "bool":
                lo, hi = 0, 1
            elif kind == "enum":
                lo, hi = 0, 2
            else:
                lo, hi = self.int_type()
            prefix = {"bool": "b", "int": "x", "enum": "c"}[kind]
            v = VarInfo(f"{prefix}{j}" if domain is None else f"a{prefix}{j}", kind, lo, hi, domain)
            tname = {"bool": "BOOL", "enum": "COLOR"}.get(kind, f"IntType({lo}, {hi})")
            init = self.init_spec(v)
            if domain is None:
                self.scalars.append(v)
                lines.append(f'{v.name} = m.var("{v.name}", {tname}, init={init})')
            else:
                self.arrays.append(v)
                lines.append(f'{v.name} = m.array("{v.name}", "{domain}", {tname}, init={init})')
        return lines

    def init_spec(self, v: VarInfo) -> str:
        vals = self.values(v)
        how = self.pick(["one", "tuple", "lambda", "lambda_tuple"] if v.domain else ["one", "tuple"])
        a, b = self.pick(vals), self.pick(vals)
        if how == "one":
            if v.kind == "bool" and self.chance(0.3):
                return "True" if a else "False"
            return self.show_value(v, a)
        if how == "tuple":
            xs = sorted({a, b})
            return "(" + ", ".join(self.show_value(v, x) for x in xs) + ",)"
        k = self.draw(st.integers(1, 2))
        if how == "lambda":
            return f"lambda i: {self.show_value(v, a)} if i >= {k} else {self.show_value(v, b)}"
        xs = sorted({a, b})
        tup = "(" + ", ".join(self.show_value(v, x) for x in xs) + ",)"
        return f"lambda i: {tup} if i == {k - 1} else {self.show_value(v, a)}"

    # -- expressions -------------------------------------------------------------------------

    def const_int(self) -> str:
        if self.pf.big_constants and self.chance(0.2):
            return str(self.pick(BIG))
        return str(self.draw(st.integers(-3, 4)))

    def index(self, arr: VarInfo, scope: list[tuple[str, str]]) -> str:
        """An index into arr: a parameter over its domain, a constant, or (wild) state."""
        size = self.domains[arr.domain]  # type: ignore[index]
        own = [p for p, d in scope if d == arr.domain]
        other = [p for p, d in scope if d != arr.domain and self.domains[d] <= size]
        ints = [v for v in self.scalars if v.kind in ("int", "bool", "enum")]
        choices = ["const"] + (["own"] * 3 if own else []) + (["other"] if other else [])
        if self.pf.wild_index and ints and self.chance(0.3):
            choices.append("wild")
        how = self.pick(choices)
        if how == "own":
            return self.pick(own)
        if how == "other":
            return self.pick(other)
        if how == "wild":
            v = self.pick(ints)
            return v.name if self.chance(0.6) else f"ite({v.name} == {v.lo}, 0, {size - 1})"
        return str(self.draw(st.integers(0, size - 1)))

    def read(self, v: VarInfo, scope: list[tuple[str, str]]) -> str:
        return v.name if v.domain is None else f"{v.name}[{self.index(v, scope)}]"

    def readable(self, kinds: tuple[str, ...], scope: list[tuple[str, str]]) -> VarInfo | None:
        # arrays are readable anywhere (a constant index always works)
        vs = [v for v in self.scalars + self.arrays if v.kind in kinds]
        return self.pick(vs) if vs else None

    def int_expr(self, scope: list[tuple[str, str]], depth: int) -> str:
        opts = ["const", "var", "var"]
        if depth > 0:
            opts += ["+", "-", "ite", "count"]
        if self.pf.sloppy:
            opts += ["bool_as_int", "int_logic"]
        if scope:
            opts.append("param")
        how = self.pick(opts)
        if how == "var":
            v = self.readable(("int", "enum", "bool") if self.pf.sloppy else ("int",), scope)
            if v is not None:
                return self.read(v, scope)
            how = "const"
        if how == "const":
            return self.const_int()
        if how == "param":
            p, _ = self.pick(scope)
            return p if self.chance(0.5) else f"({p} + {self.draw(st.integers(-1, 2))})"
        if how in ("+", "-"):
            return f"({self.int_expr(scope, depth - 1)} {how} {self.int_expr(scope, depth - 1)})"
        if how == "ite":
            return (f"ite({self.cond(scope, depth - 1)}, {self.int_expr(scope, depth - 1)}, "
                    f"{self.int_expr(scope, depth - 1)})")
        if how == "count":
            return self.quant("count", scope, depth)
        if how == "int_logic":  # a conjunction or disjunction of numbers, used as a number
            a, b = self.state_int(scope), self.int_expr(scope, 0)
            return self.pick([f"({a} & {b})", f"({b} | {a})"])
        return self.bool_expr(scope, depth - 1 if depth else 0)  # a boolean used as a number

    def state_int(self, scope: list[tuple[str, str]]) -> str:
        """A number read from the state: an operand of &, |, ~ that is surely an expression
        (on two Python literals they would be Python's bitwise operators)."""
        v = self.readable(("int", "enum", "bool"), scope)
        assert v is not None  # every model declares at least one scalar
        return self.read(v, scope)

    def cond(self, scope: list[tuple[str, str]], depth: int) -> str:
        """A condition: boolean, or (sloppy) an integer read as true when non-zero."""
        if self.pf.sloppy and self.chance(0.15):
            return self.int_expr(scope, depth)
        return self.bool_expr(scope, depth)

    def quant(self, kind: str, scope: list[tuple[str, str]], depth: int) -> str:
        d = self.pick(self.domains)
        u = self.var_name()
        inner = [*scope, (u, d)]
        if kind == "count" and self.pf.int_counts and self.chance(0.6):
            body = self.int_expr(inner, max(0, depth - 1))
        else:
            body = self.cond(inner, max(0, depth - 1))
        return f'{kind}("{d}", lambda {u}: {body})'

    def bool_expr(self, scope: list[tuple[str, str]], depth: int) -> str:
        opts = ["cmp", "cmp", "var"]
        if depth > 0:
            opts += ["and", "or", "not", "implies", "quant", "ite"]
        if scope:
            opts.append("param_eq")
        if self.pf.sloppy and depth > 0:
            opts += ["int_logic"]
        how = self.pick(opts)
        if how == "var":
            v = self.readable(("bool",), scope)
            if v is not None:
                return self.read(v, scope)
            how = "cmp"
        if how == "param_eq":
            p, d = self.pick(scope)
            op = self.pick(["==", "!="])
            return f"({p} {op} {self.draw(st.integers(0, self.domains[d] - 1))})"
        if how == "cmp":
            v = self.readable(("int", "enum", "bool"), scope)
            op = self.pick(["<", "<=", "==", "!=", ">", ">="])
            if v is not None and v.kind == "enum" and self.chance(0.7):
                return f"({self.read(v, scope)} {self.pick(['==', '!='])} " \
                       f"{self.show_value(v, self.pick(self.values(v)))})"
            if v is not None and self.chance(0.6):
                rhs = str(self.pick(self.values(v))) if self.chance(0.6) else self.int_expr(scope, 0)
                if self.pf.big_constants and self.chance(0.15):
                    rhs = str(self.pick(BIG))
                return f"({self.read(v, scope)} {op} {rhs})"
            return f"({self.int_expr(scope, max(0, depth - 1))} {op} {self.int_expr(scope, 0)})"
        if how in ("and", "or"):
            sym = "&" if how == "and" else "|"
            return f"({self.cond(scope, depth - 1)} {sym} {self.cond(scope, depth - 1)})"
        if how == "not":
            return f"~{self.cond(scope, depth - 1)}"
        if how == "implies":
            return f"implies({self.cond(scope, depth - 1)}, {self.cond(scope, depth - 1)})"
        if how == "ite":
            return (f"ite({self.cond(scope, depth - 1)}, {self.bool_expr(scope, depth - 1)}, "
                    f"{self.bool_expr(scope, depth - 1)})")
        if how == "quant":
            kind = self.pick(["forall", "exists", "count"])
            q = self.quant(kind, scope, depth)
            if kind == "count":
                op = self.pick(["<", "<=", "==", "!=", ">="])
                return f"({q} {op} {self.draw(st.integers(0, 3))})"
            return q
        # int_logic: integers straight under &, |, ~, implies
        a, b = self.state_int(scope), self.int_expr(scope, 0)
        return self.pick([f"({a} & {b})", f"({b} | {a})", f"~{a}", f"implies({b}, {a})"])

    # -- updates and actions -----------------------------------------------------------------

    def update(self, v: VarInfo, target: str, scope: list[tuple[str, str]]) -> str:
        if v.kind == "bool":
            how = self.pick(["const", "not", "expr"] + (["int"] if self.pf.sloppy else []))
            if how == "const":
                return self.pick(["0", "1", "True", "False"])
            if how == "not":
                return f"~{target}"
            if how == "int":
                return self.int_expr(scope, 1)
            return self.bool_expr(scope, 1)
        if v.kind == "enum":
            how = self.pick(["const", "ite"] + (["step"] if self.pf.overflow and self.chance(0.3) else []))
            if how == "const":
                return self.show_value(v, self.draw(st.integers(0, 2)))
            if how == "ite":
                return f"ite({self.cond(scope, 1)}, COLOR.{self.pick(COLOR.members)}, " \
                       f"COLOR.{self.pick(COLOR.members)})"
            return f"{target} + 1"
        lo, hi = v.lo, v.hi
        opts = ["const", "const", "wrap", "copy"]
        if lo <= 0 and hi >= 3:
            opts.append("count")
        if self.pf.overflow and self.chance(0.3):
            opts += ["raw", "step"]
        if self.pf.sloppy and lo <= 0 and 1 <= hi:
            opts += ["logic", "logic"]
        how = self.pick(opts)
        if how == "const":
            return str(self.pick(self.values(v)))
        if how == "wrap":
            k = 1 if v.small else self.pick([1, 2048, 4096])
            if self.chance(0.5):
                return f"ite({target} <= {hi - k}, {target} + {k}, {lo})"
            return f"ite({target} >= {lo + k}, {target} - {k}, {hi})"
        if how == "copy":
            src = self.readable(("int",), scope)
            if src is None:
                return str(lo)
            e = self.read(src, scope)
            return f"ite(({e} >= {lo}) & ({e} <= {hi}), {e}, {lo})"
        if how == "count":
            d = self.pick(self.domains)
            u = self.var_name()
            return f'count("{d}", lambda {u}: {self.cond([*scope, (u, d)], 1)})'
        if how == "step":
            return f"{target} {self.pick(['+', '-'])} 1"
        if how == "logic":
            a, b = self.state_int(scope), self.int_expr(scope, 0)
            return self.pick([f"({a} & {b})", f"({b} | {a})", f"~{a}"])
        return self.int_expr(scope, 1)

    def targets(self, scope: list[tuple[str, str]], avoid: set[str]) -> list[tuple[VarInfo, str]]:
        pool = [v for v in self.scalars + self.arrays if v.name not in avoid]
        if not pool:
            return []
        k = self.draw(st.integers(1, min(2, len(pool))))
        chosen = self.draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k,
                                    unique_by=lambda v: v.name))
        return [(v, self.read(v, scope)) for v in chosen]

    def action(self, j: int) -> str:
        params: list[tuple[str, str]] = []
        n_params = self.draw(st.integers(0, 2))
        for k in range(n_params):
            d = "p" if k == 0 else self.pick(self.domains)
            params.append((f"{d}{k}", d))
        names = ", ".join(p for p, _ in params)
        lam = f"lambda {names}: " if params else ""
        guard = self.bool_expr(params, 2) if not (self.pf.sloppy and self.chance(0.1)) \
            else self.int_expr(params, 1)
        if self.chance(0.15):
            guard = "True"
        each = None
        each_arrays = [a for a in self.arrays]
        use_each = each_arrays and self.chance(0.2)
        avoid: set[str] = set()
        if use_each:
            arr = self.pick(each_arrays)
            avoid.add(arr.name)
            e = self.var_name()
            escope = [(e, arr.domain)]  # the body sees only its own parameter
            each = f'("{arr.domain}", lambda {e}: {{{arr.name}[{e}]: ' \
                   f'{self.update(arr, f"{arr.name}[{e}]", escope)}}})'
        ups = self.targets(params, avoid)
        if not ups and each is None:
            ups = self.targets(params, set())
        body = ", ".join(f"{t}: {self.update(v, t, params)}" for v, t in ups)
        actor = params[0][1] if params else "env"
        parts = [f'"act{j}"', f'func="f{j}"', 'file="fuzz.c"', f'actor="{actor}"']
        if params:
            parts.append("params={" + ", ".join(f'"{p}": "{d}"' for p, d in params) + "}")
        parts.append(f"guard={lam}{guard}")
        parts.append(f"updates={lam}{{{body}}}")
        if each is not None:
            parts.append(f"each={each}")
        if self.chance(0.3):
            parts.append("fair=False")
        return "m.action(" + ", ".join(parts) + ")"

    def build(self) -> str:
        lines = self.declare()
        if self.chance(0.2):
            lines.append(f"m.constrain_init({self.bool_expr([], 1)})")
        for j in range(self.draw(st.integers(1, 4))):
            lines.append(self.action(j))
        if self.chance(0.5):
            lines.append(f"m.set_final({self.bool_expr([], 1)})")
        lines.append(f'm.invariant("inv", {self.cond([], 2)}, "")')
        lines.append('m.no_deadlock("dl", "")')
        lines.append(f'm.eventually("ev", {self.cond([], 2)}, "")')
        lines.append(f'm.leads_to("lt", {self.cond([], 1)}, {self.cond([], 2)}, "")')
        return "\n".join(lines) + "\n"


@st.composite
def models(draw: st.DrawFn, profile: Profile = WHOLE) -> Source:
    """A random model over the whole language (as far as profile allows), as source."""
    return Source(_ModelGen(draw, profile).build())


# --------------------------------------------------------------------------------------------
# Parametric families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyProfile:
    """Which mistakes a family may contain (all off: written symmetrically)."""

    late_init: bool = False  # flag[i] starts at 1 only for i >= 4
    per_cpu: bool = False  # a second domain of size n, with a count over it in a guard
    per_cpu_array: bool = False  # an array over that domain (the definition changes with n)
    token: bool = False  # thread steps write a global array indexed by another domain
    python_n: bool = False  # `if n > 4:` in the builder
    small_counter: bool = False  # a global counter typed 0..3 whatever n is
    int_counts: bool = False  # count("thread", lambda u: pc[u]): counts the non-zero ones

    def any(self) -> bool:
        return any(self.__dict__.values())


SYMMETRIC = FamilyProfile()
NASTY = FamilyProfile(True, True, True, True, True, True, True)


class _FamilyGen:
    def __init__(self, draw: st.DrawFn, pf: FamilyProfile):
        self.draw = draw
        self.pf = pf
        self.notes: list[str] = []

    def pick(self, xs):
        return self.draw(st.sampled_from(list(xs)))

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def build(self) -> Source:
        pf = self.pf
        npc = self.draw(st.integers(2, 3))
        has_flag = self.chance(0.6)
        has_cnt = self.chance(0.7)
        dist = self.chance(0.3)  # thread 0 is named in the model (distinguished)
        late = has_flag and pf.late_init and self.chance(0.5)
        cnt_kind = self.pick(["0..n", "-n..n", "-n-2..n+2"] + (["0..3"] * 2 if pf.small_counter else []))
        cpu = pf.per_cpu and self.chance(0.4)
        cpu_arr = cpu and pf.per_cpu_array and self.chance(0.3)
        token = pf.token and self.chance(0.4)
        pyn = pf.python_n and self.chance(0.25)
        lines = ["def build(sizes):", '    n = sizes["threads"]', '    m = Model("fam")',
             '    m.domain("thread", n)', '    m.actor("thread", "thread")',
             '    m.actor("env", "environment")',
             f'    pc = m.array("pc", "thread", IntType(0, {npc - 1}), init=0)']
        if has_flag:
            init = "lambda i: 1 if i >= 4 else 0" if late else self.pick(["0", "(0, 1)", "1"])
            if late:
                self.notes.append("late_init")
            lines.append(f'    flag = m.array("flag", "thread", BOOL, init={init})')
        lines.append('    g = m.var("g", BOOL, init=0)')
        if has_cnt:
            typ = {"0..n": "IntType(0, n)", "-n..n": "IntType(-n, n)",
                   "-n-2..n+2": "IntType(-n - 2, n + 2)", "0..3": "IntType(0, 3)"}[cnt_kind]
            if cnt_kind == "0..3":
                self.notes.append("small_counter")
            lines.append(f'    cnt = m.var("cnt", {typ}, init=0)')
        if cpu:
            self.notes.append("per_cpu")
            lines.append('    m.domain("cpu", n)')
            if cpu_arr:
                self.notes.append("per_cpu_array")
                lines.append('    busy = m.array("busy", "cpu", BOOL, init=0)')
        if token:
            self.notes.append("token")
            lines.append(f'    m.domain("slot", {self.draw(st.integers(1, 2))})')
            lines.append('    tok = m.array("tok", "slot", BOOL, init=0)')

        def cond_local(t: str) -> str:
            c = [f"(pc[{t}] == {self.draw(st.integers(0, npc - 1))})"]
            if has_flag and self.chance(0.5):
                c.append(f"(flag[{t}] == {self.draw(st.integers(0, 1))})")
            return " & ".join(c)

        def global_cond() -> str | None:
            opts = ["none", "none", "g", "not_g", "count", "exists", "forall"]
            if has_cnt:
                opts += ["cnt_lt", "cnt_ge"]
            if dist:
                opts.append("dist")
            if cpu:
                opts += ["cpu_count", "cpu_exists"]
            if cpu_arr:
                opts.append("cpu_busy")
            how = self.pick(opts)
            k = self.draw(st.integers(0, 3))
            x = self.draw(st.integers(0, npc - 1))
            return {
                "none": None, "g": "g", "not_g": "~g",
                "count": f'(count("thread", lambda u: pc[u] == {x}) <= {k})',
                "exists": f'exists("thread", lambda u: pc[u] == {x})',
                "forall": f'forall("thread", lambda u: pc[u] != {x})',
                "cnt_lt": f"(cnt < {k})", "cnt_ge": f"(cnt >= {k - 1})",
                "dist": f"(pc[0] == {x})",
                "cpu_count": f'(count("cpu", lambda c: g) < {self.draw(st.integers(2, 4))})',
                "cpu_exists": f'exists("cpu", lambda c: c == {self.draw(st.integers(2, 4))})',
                "cpu_busy": f'(count("cpu", lambda c: busy[c]) < {self.draw(st.integers(1, 3))})',
            }[how]

        n_act = self.draw(st.integers(1, 4))
        for j in range(n_act):
            use_tok = token and self.chance(0.5)
            params = '{"t": "thread", "s": "slot"}' if use_tok else '{"t": "thread"}'
            lam = "lambda t, s:" if use_tok else "lambda t:"
            g = [cond_local("t")]
            gc = global_cond()
            if gc:
                g.append(gc)
            ups = [f"pc[t]: {self.draw(st.integers(0, npc - 1))}"]
            if has_flag and self.chance(0.3):
                ups.append(f"flag[t]: {self.pick(['0', '1', '~flag[t]'])}")
            eff = self.pick(["none", "g1", "g0"] + (["inc", "dec", "inc_guarded"] if has_cnt else []))
            if eff == "g1":
                ups.append("g: 1")
            elif eff == "g0":
                ups.append("g: 0")
            elif eff == "inc":
                ups.append("cnt: cnt + 1")
            elif eff == "dec":
                ups.append("cnt: cnt - 1")
            elif eff == "inc_guarded":
                g.append("(cnt < n)")
                ups.append("cnt: cnt + 1")
            if use_tok:
                take = self.chance(0.5)
                g.append(f"(tok[s] == {0 if take else 1})")
                ups.append(f"tok[s]: {1 if take else 0}")
            if cpu_arr and self.chance(0.3):
                g2 = 'exists("cpu", lambda c: ~busy[c])'
                g.append(g2)
            fair = "" if self.chance(0.8) else ", fair=False"
            lines.append(f'    m.action("a{j}", func="a{j}", file="fam.c", actor="thread", params={params},\n'
                     f'             guard={lam} {" & ".join(g)},\n'
                     f'             updates={lam} {{{", ".join(ups)}}}{fair})')
        if dist and self.chance(0.5):
            lines.append('    m.actor("k", "kthread")')
            lines.append(f'    m.action("d0", func="d0", file="fam.c", actor="k", guard=pc[0] == 0,\n'
                     f'             updates={{pc[0]: {npc - 1}}})')
        if self.chance(0.4):
            body = self.pick(["flag[t]: 1", "pc[t]: 0"] if has_flag else ["pc[t]: 0"])
            lines.append(f'    m.action("reset", func="reset", file="fam.c", actor="env", guard=g,\n'
                     f'             updates={{g: 0}}, each=("thread", lambda t: {{{body}}}))')
        if pyn:
            self.notes.append("python_n")
            lines.append("    if n > 4:")
            lines.append('        m.action("extra", func="extra", file="fam.c", actor="env", guard=~g,\n'
                     '                 updates={g: 1})')
        last = npc - 1
        if self.chance(0.5):
            lines.append(f'    m.set_final(forall("thread", lambda u: pc[u] == {last}))')
        props = {
            "cnt_nonneg": "cnt >= 0", "cnt_le_1": "cnt <= 1", "cnt_le_2": "cnt <= 2",
            "cnt_counts": f'cnt == count("thread", lambda u: pc[u] == {last})',
            "few_at_last": f'count("thread", lambda u: pc[u] == {last}) <= 1',
            "none_at_last": f'count("thread", lambda u: pc[u] == {last}) < 2048',
            "g_implies": 'implies(g, forall("thread", lambda u: pc[u] != 0))',
            "exists_not0": 'exists("thread", lambda u: pc[u] != 0) | ~g',
            "dist_ok": f"(pc[0] != {last}) | g",
            "flag_ok": 'forall("thread", lambda u: implies(flag[u], pc[u] != 0))',
            "one_left": 'count("thread", lambda u: pc[u] == 0) != 1',
            "sum_pc": 'count("thread", lambda u: pc[u]) != 1',
        }
        usable = [k for k in props if (has_cnt or "cnt" not in k) and (has_flag or "flag" not in k)
                  and (dist or "dist" not in k) and (pf.int_counts or k != "sum_pc")]
        inv = self.pick(usable)
        if inv == "sum_pc":
            self.notes.append("int_counts")
        lines.append(f'    m.invariant("inv", {props[inv]}, "{inv}")')
        lines.append('    m.no_deadlock("dl", "")')
        lines.append(f'    m.eventually("ev", forall("thread", lambda u: pc[u] == {last}), "")')
        pre = self.pick(["g", f'exists("thread", lambda u: pc[u] == {self.draw(st.integers(0, last))})'])
        lines.append(f'    m.leads_to("lt", {pre}, {self.pick(["~g", props["exists_not0"]])}, "")')
        lines += ['    m.sizes = {"threads": n}', '    m.family = Family("threads", "thread", 2, 6)',
              "    m.rebuild = lambda s: build(s)", "    return m", "",
              'm = build({"threads": 3})']
        return Source("\n".join(lines) + "\n", "family", self.notes)


@st.composite
def families(draw: st.DrawFn, profile: FamilyProfile = SYMMETRIC) -> Source:
    """A parametric family as the source of a `build(sizes)` function (and `m` at N=3)."""
    return _FamilyGen(draw, profile).build()
