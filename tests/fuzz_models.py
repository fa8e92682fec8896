"""Hypothesis strategies for the differential fuzzer (tests/test_differential.py).

Every model is generated as Python source written against the modeling language, the way a user
writes one, and built by running that source. A failing example therefore prints as a model a
person can read, and a minimal one can be pasted into a regression test as it is.

Two kinds of models:
- `models(profile)`: one model over the whole (typed) language: bool, int with small, large and
  negative ranges, enum; scalars and arrays over one or two domains; parameterised actions,
  `each` broadcasts (whose bodies may read the action's parameters), per-index and
  nondeterministic initial values, init constraints, `final`, unfair actions; all four
  property kinds; sometimes a thread domain (a `Family`) so that the explicit engine may
  reduce by symmetry. A `Profile` says which risky but well-typed corners
  are drawn (large constants, indices computed from the state, updates that may leave their
  type) and how often exactly one ill-typed expression is planted (an int under `&`, a bool in
  arithmetic, a count over numbers, mixed `==`, ...): such a model must be refused when it is
  built, with one line naming the place, before any engine sees it.
- `families(profile)`: a `build(sizes)` function for the parametric engine, reading
  `n = sizes["threads"]` (a number, or a `lang.Size` symbol when the parametric engine builds
  it), symmetric or with the mistakes a user makes when writing a variant.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import strategies as st

from oomcheck.checker.language.lang import (
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
from oomcheck.checker.parametric.prove import Family

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
    wild_index: bool = True  # an array index computed from the state (may leave the domain)
    overflow: bool = True  # updates that may leave the variable's type
    big_ranges: bool = True  # int variables over 0..5000, -5000..5000, 0..70000
    threads: float = 0.4  # the chance that domain p is a family's thread domain (symmetry reduction)
    ill_typed: float = 0.0  # the chance that one expression is ill-typed (refused when built)

    def name(self) -> str:
        on = [f"{k}={v}" if isinstance(v, float) else k for k, v in self.__dict__.items() if v]
        return "+".join(on) or "clean"


WHOLE = Profile(ill_typed=0.2)
CLEAN = Profile(big_constants=False, wild_index=False, overflow=False, big_ranges=True)
ILL_TYPED = Profile(big_constants=False, wild_index=False, overflow=False, ill_typed=1.0)


@dataclass
class Source:
    """A model (or family) as source text; builds it on demand. repr is the source itself.
    refused_at: where the one ill-typed expression is, as the refusal names it
    ("action act1: guard", "invariant inv", ...); empty for a well-typed model."""

    text: str
    kind: str = "model"  # model | family
    notes: list[str] = field(default_factory=list)
    refused_at: str = ""
    corner: str = ""  # which ill-typed construct was planted

    def build(self) -> Model:
        ns = dict(NAMESPACE)
        exec(compile(self.text, "<fuzz model>", "exec"), ns)
        return ns["m"]  # type: ignore[return-value]

    def __repr__(self) -> str:
        where = f"# refused at: {self.refused_at} ({self.corner})\n" if self.refused_at else ""
        return "\n" + where + self.text


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


Scope = list[tuple[str, str]]  # bound parameters: (name, domain)


class _ModelGen:
    """Draws one model's source, piece by piece; expressions are strings of model source, each
    of one type (int, bool or enum) unless it is the planted ill-typed one."""

    def __init__(self, draw: st.DrawFn, profile: Profile):
        self.draw = draw
        self.pf = profile
        self.domains: dict[str, int] = {}
        self.scalars: list[VarInfo] = []
        self.arrays: list[VarInfo] = []
        self.fresh = 0
        self.threads = False  # domain p is a family's thread domain
        self.bad_site: tuple[str, int] | None = None
        self.refused_at = ""
        self.corner = ""

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

    def of_kind(self, kind: str) -> list[VarInfo]:
        return [v for v in self.scalars + self.arrays if v.kind == kind]

    # -- declarations ------------------------------------------------------------------------

    def declare(self) -> list[str]:
        lines = ['m = Model("fuzz")']
        self.threads = self.chance(self.pf.threads)
        self.domains["p"] = self.draw(st.sampled_from([3, 3, 2]) if self.threads else st.integers(1, 3))
        if self.chance(0.4):
            self.domains["q"] = self.draw(st.integers(1, 2))
        for d, n in self.domains.items():
            lines.append(f'm.domain("{d}", {n})')
        lines.append('m.actor("p", "proc")')
        if "q" in self.domains:
            lines.append('m.actor("q", "queue")')
        n_scalars = self.draw(st.integers(1, 3))
        n_arrays = self.draw(st.integers(1 if self.threads else 0, 2))
        for j in range(n_scalars + n_arrays):
            kind = self.pick(["bool", "int", "enum"])
            domain = None if j < n_scalars else ("p" if self.threads and j == n_scalars
                                                 else self.pick(self.domains))
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
        if self.threads:
            lines.append('m.family = Family("procs", "p", 1, 3)')
        return lines

    def init_spec(self, v: VarInfo) -> str:
        vals = self.values(v)
        kinds = ["one", "tuple", "lambda", "lambda_tuple"] if v.domain else ["one", "tuple"]
        if self.threads and v.domain == "p" and self.chance(0.7):
            kinds = ["one", "tuple"]  # the threads start alike (else no symmetry)
        how = self.pick(kinds)
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

    # -- well-typed expressions --------------------------------------------------------------

    def const_int(self) -> str:
        if self.pf.big_constants and self.chance(0.2):
            return str(self.pick(BIG))
        return str(self.draw(st.integers(-3, 4)))

    def index(self, arr: VarInfo, scope: Scope) -> str:
        """An index into arr: a parameter over its domain, a constant, or (wild) state."""
        size = self.domains[arr.domain]  # type: ignore[index]
        own = [p for p, d in scope if d == arr.domain]
        other = [p for p, d in scope if d != arr.domain and self.domains[d] <= size]
        ints = [v for v in self.scalars if v.kind == "int"]
        thread = self.threads and arr.domain == "p"  # a constant names a thread: rarely, thread 0
        if thread:
            other = []
        choices = ["const"] + (["own"] * (8 if thread else 3) if own else []) + (["other"] if other else [])
        if self.pf.wild_index and self.chance(0.3):
            choices.append("wild")
        how = self.pick(choices)
        if how == "own":
            return self.pick(own)
        if how == "other":
            return self.pick(other)
        if how == "wild":
            if ints and self.chance(0.6):
                return self.pick(ints).name
            v = self.pick(self.scalars)
            lo = self.show_value(v, v.lo)
            return f"ite({v.name} == {lo}, 0, {size - 1 + self.draw(st.integers(0, 1))})"
        return str(self.draw(st.integers(0, 0 if thread else size - 1)))

    def read(self, v: VarInfo, scope: Scope) -> str:
        return v.name if v.domain is None else f"{v.name}[{self.index(v, scope)}]"

    # depth: how much nesting is left; below 0, no quantifier (so every expression is finite)

    def count_expr(self, scope: Scope, depth: int) -> str:
        d = self.pick(self.domains)
        u = self.var_name()
        return f'count("{d}", lambda {u}: {self.bool_expr([*scope, (u, d)], depth - 1)})'

    def int_atom(self, scope: Scope, depth: int = 0) -> str:
        """An int that is surely an expression (never a Python literal): a read, a parameter or
        a count. Comparisons start with one, so Python never folds them to a bool."""
        opts = []
        ints = self.of_kind("int")
        if ints:
            opts += ["var"] * 4
        nums = self.numbers(scope)
        if nums:
            opts += ["param"] * 2
        if depth >= 0:
            opts.append("count")
        if not opts:  # nothing left to read: the size of a domain, as an expression
            return f'count("{self.pick(self.domains)}", lambda {self.var_name()}: TRUE)'

        how = self.pick(opts)
        if how == "var":
            return self.read(self.pick(ints), scope)
        if how == "param":
            p = self.pick(nums)
            return p if self.chance(0.6) else f"({p} + {self.draw(st.integers(-1, 2))})"
        return self.count_expr(scope, depth)

    def numbers(self, scope: Scope) -> list[str]:
        """The parameters an expression may use as numbers (not a thread's: that would break
        the symmetry a thread domain is there to test)."""
        return [p for p, d in scope if not (self.threads and d == "p")]

    def int_expr(self, scope: Scope, depth: int) -> str:
        opts = ["const", "atom", "atom"]
        if depth > 0:
            opts += ["+", "-", "ite", "count"]
        how = self.pick(opts)
        if how == "const":
            return self.const_int()
        if how == "atom":
            return self.int_atom(scope, depth)
        if how in ("+", "-"):
            return f"({self.int_expr(scope, depth - 1)} {how} {self.int_expr(scope, depth - 1)})"
        if how == "ite":
            return (f"ite({self.bool_expr(scope, depth - 1)}, {self.int_expr(scope, depth - 1)}, "
                    f"{self.int_expr(scope, depth - 1)})")
        return self.count_expr(scope, depth)

    def enum_expr(self, scope: Scope, depth: int) -> str:
        opts = ["const", "const", "literal"]
        if self.of_kind("enum"):
            opts += ["var", "var"]
        if depth > 0:
            opts.append("ite")
        how = self.pick(opts)
        if how == "const":
            return f"COLOR.{self.pick(COLOR.members)}"
        if how == "literal":  # an in-range int literal stands for a member
            return str(self.draw(st.integers(0, 2)))
        if how == "var":
            return self.read(self.pick(self.of_kind("enum")), scope)
        return (f"ite({self.bool_expr(scope, depth - 1)}, {self.enum_expr(scope, depth - 1)}, "
                f"{self.enum_expr(scope, depth - 1)})")

    def bool_expr(self, scope: Scope, depth: int) -> str:
        """A boolean that is surely an expression (so &, |, ~ on it are the language's)."""
        opts = ["cmp", "cmp", "cmp"]
        if self.of_kind("bool"):
            opts += ["var", "var", "bool_eq"]
        if self.of_kind("enum"):
            opts += ["enum_eq"]
        if depth > 0:
            opts += ["and", "or", "not", "implies", "quant", "ite", "guarded_quant"]
        if scope:
            opts.append("param_eq")
        pairs = [(a, b) for (a, da), (b, db) in itertools.combinations(scope, 2) if da == db]
        if pairs:
            opts += ["params_eq"] * 2
        how = self.pick(opts)
        if how == "var":
            return self.read(self.pick(self.of_kind("bool")), scope)
        if how == "bool_eq":
            v = self.pick(self.of_kind("bool"))
            rhs = self.pick(["0", "1", "True", "False"] + (["rhs"] if depth >= 0 else []))
            if rhs == "rhs":
                rhs = self.bool_expr(scope, depth - 1)
            return f"({self.read(v, scope)} {self.pick(['==', '!='])} {rhs})"
        if how == "enum_eq":
            v = self.pick(self.of_kind("enum"))
            return f"({self.read(v, scope)} {self.pick(['==', '!='])} {self.enum_expr(scope, depth)})"
        if how == "params_eq":  # two parameters of one domain: the same element or another one
            a, b = self.pick(pairs)
            return f"({a} {self.pick(['==', '!='])} {b})"
        if how == "param_eq":
            p, d = self.pick(scope)
            op = self.pick(["==", "!="])
            hi = 0 if self.threads and d == "p" else self.domains[d] - 1
            return f"({p} {op} {self.draw(st.integers(0, hi))})"
        if how == "cmp":
            op = self.pick(["<", "<=", "==", "!=", ">", ">="])
            ints = self.of_kind("int")
            if ints and self.chance(0.6):
                v = self.pick(ints)
                rhs = str(self.pick(self.values(v))) if self.chance(0.6) else self.int_expr(scope, depth - 1)
                if self.pf.big_constants and self.chance(0.15):
                    rhs = str(self.pick(BIG))
                return f"({self.read(v, scope)} {op} {rhs})"
            return f"({self.int_atom(scope, depth)} {op} {self.int_expr(scope, depth - 1)})"
        if how in ("and", "or"):
            sym = "&" if how == "and" else "|"
            return f"({self.bool_expr(scope, depth - 1)} {sym} {self.bool_expr(scope, depth - 1)})"
        if how == "not":
            return f"~{self.bool_expr(scope, depth - 1)}"
        if how == "implies":
            return f"implies({self.bool_expr(scope, depth - 1)}, {self.bool_expr(scope, depth - 1)})"
        if how == "ite":
            return (f"ite({self.bool_expr(scope, depth - 1)}, {self.bool_expr(scope, depth - 1)}, "
                    f"{self.bool_expr(scope, depth - 1)})")
        if how == "guarded_quant":
            return self.guarded_quant(scope, depth)
        kind = self.pick(["forall", "exists", "count"])
        if kind == "count":
            op = self.pick(["<", "<=", "==", "!=", ">="])
            return f"({self.count_expr(scope, depth)} {op} {self.draw(st.integers(0, 3))})"
        d = self.pick(self.domains)
        u = self.var_name()
        return f'{kind}("{d}", lambda {u}: {self.bool_expr([*scope, (u, d)], depth - 1)})'

    def guarded_quant(self, scope: Scope, depth: int) -> str:
        """A quantifier whose body is `&`, `|`, `implies` or `ite` with a first operand about its
        own element (which decides whether the rest, maybe a read out of range, is evaluated)."""
        d = self.pick(self.domains)
        u = self.var_name()
        inner = [*scope, (u, d)]
        own = [v for v in self.arrays if v.domain == d]
        if own and self.chance(0.6):
            v = self.pick(own)
            val = self.show_value(v, self.pick(self.values(v)))
            first = f"({v.name}[{u}] {self.pick(['==', '!='])} {val})"
        else:
            hi = 0 if self.threads and d == "p" else self.domains[d] - 1
            first = f"({u} {self.pick(['==', '!='])} {self.draw(st.integers(0, hi))})"
        rest = self.bool_expr(inner, depth - 1)
        form = self.pick(["&", "|", "implies", "ite"])
        if form in ("&", "|"):
            body = f"({first} {form} {rest})"
        elif form == "implies":
            body = f"implies({first}, {rest})"
        else:
            body = f"ite({first}, {rest}, {self.bool_expr(inner, depth - 1)})"
        kind = self.pick(["forall", "exists", "count"])
        if kind == "count":
            op, k = self.pick(["<=", ">="]), self.draw(st.integers(0, 2))
            return f'(count("{d}", lambda {u}: {body}) {op} {k})'
        return f'{kind}("{d}", lambda {u}: {body})'

    # -- the planted ill-typed expression ----------------------------------------------------

    def any_bool(self, scope: Scope) -> str:
        return self.bool_expr(scope, 0)

    def bad_core(self, scope: Scope) -> str:
        """An expression in a boolean position that the type rules refuse."""
        enums, arrays = self.of_kind("enum"), self.arrays
        opts = ["int_logic", "int_cond", "bool_arith", "mixed_eq", "quant_body", "ite_arms",
                "ite_cond", "bool_literal"]
        if enums:
            opts += ["enum_arith", "enum_eq"]
        if arrays:
            opts.append("index")
        how = self.pick(opts)
        self.corner = how
        i, b, b2 = self.int_atom(scope), self.any_bool(scope), self.any_bool(scope)
        if how == "int_logic":  # an int under &, |, ~, implies
            return self.pick([f"({i} & {b})", f"({b} | {i})", f"~{i}", f"implies({b}, {i})",
                              f"implies({i}, {b})"])
        if how == "int_cond":  # an int where a boolean is needed
            return self.pick([i, f"ite({i}, {b}, {b2})"])
        if how == "bool_arith":  # a boolean in arithmetic
            return self.pick([f"({b} + 1 <= 2)", f"({b} < {i})", f"({i} <= {b})",
                              f"({b} - {b2} == 0)"])
        if how == "mixed_eq":
            return self.pick([f"({b} == {i})", f"({i} != {b})", f"({b} == 2)", f"({b} != -1)"])
        if how == "quant_body":  # forall / exists / count over numbers
            d = self.pick(self.domains)
            u = self.var_name()
            body = self.int_atom([*scope, (u, d)])
            return self.pick([f'(count("{d}", lambda {u}: {body}) <= {self.draw(st.integers(0, 2))})',
                              f'forall("{d}", lambda {u}: {body})',
                              f'exists("{d}", lambda {u}: {body})'])
        if how == "ite_arms":
            return self.pick([f"(ite({b}, {i}, {b2}) == 1)", f"ite({b}, {b2}, {i})"])
        if how == "ite_cond":
            return f"(ite({i}, {i}, 0) == 0)"
        if how == "bool_literal":
            return self.pick([f"({b} & 2)", f"(3 | {b})", f"implies({b}, 5)", f"ite({b}, {b2}, 2)"])
        if how == "index":  # an array indexed by a boolean or an enum member
            arr = self.pick(arrays)
            e = self.read(self.pick(enums), scope) if enums and self.chance(0.4) else b
            return f"({arr.name}[{e}] == {arr.name}[0])"
        e = self.read(self.pick(enums), scope)
        if how == "enum_arith":
            return self.pick([f"({e} < COLOR.BLUE)", f"({e} + 1 == COLOR.RED)", f"({e} <= 1)"])
        # enum_eq: an enum against an int, a bool, or a literal outside the enum
        return self.pick([f"({e} == {i})", f"({e} != {b})", f"({e} == 3)", f"({e} != -1)"])

    def bad_bool(self, scope: Scope) -> str:
        """The ill-typed expression, bare or inside well-typed context."""
        bad = self.bad_core(scope)
        good = self.any_bool(scope)
        d = self.pick(self.domains)
        return self.pick([bad, bad, f"({good} & {bad})", f"({bad} | {good})", f"~{bad}",
                          f"implies({good}, {bad})", f"ite({good}, {bad}, {good})",
                          f'forall("{d}", lambda {self.var_name()}: {bad})'])

    def bad_value(self, v: VarInfo, target: str, scope: Scope) -> str:
        """A value the type rules refuse for v."""
        i, b = self.int_atom(scope), self.any_bool(scope)
        enums = self.of_kind("enum")
        e = self.read(self.pick(enums), scope) if enums else None
        if v.kind == "int":
            opts = {"bool_to_int": b, "bool_arith": f"({b} + 1)", "int_cond": f"ite({i}, 1, 2)",
                    "ite_arms": f"ite({b}, {i}, {b})", "int_logic": f"({i} & {b})",
                    "quant_body": f'count("p", lambda {self.var_name()}: {i})'}
            if e:
                opts["enum_to_int"] = e
        elif v.kind == "bool":
            opts = {"int_to_bool": i, "bool_literal": self.pick(["2", "-1"]),
                    "bool_arith": f"({target} + 1)", "ite_arms": f"ite({b}, 1, 2)",
                    "count_to_bool": f'count("p", lambda {self.var_name()}: {b})'}
            if e:
                opts["enum_to_bool"] = e
        else:
            opts = {"enum_literal": self.pick(["3", "-1"]), "int_to_enum": i, "bool_to_enum": b,
                    "enum_arith": f"({target} + 1)", "ite_arms": f"ite({b}, COLOR.RED, {i})"}
        self.corner = self.pick(sorted(opts))
        return opts[self.corner]

    # -- updates and actions -----------------------------------------------------------------

    def update(self, v: VarInfo, target: str, scope: Scope, depth: int = 1) -> str:
        """A value for v; depth > 1 (an `each` body) nests conditions deeper, quantifiers in them."""
        if v.kind == "bool":
            how = self.pick(["const", "not", "expr"] + (["expr"] if depth > 1 else []))
            if how == "const":
                return self.pick(["0", "1", "True", "False"])
            if how == "not":
                return f"~{target}"
            return self.bool_expr(scope, depth)
        if v.kind == "enum":
            return self.enum_expr(scope, depth)
        lo, hi = v.lo, v.hi
        opts = ["const", "const", "wrap", "copy"]
        if lo <= 0 and hi >= 3:
            opts.append("count")
        if depth > 1:
            opts += ["choose", "choose"]
        if self.pf.overflow and self.chance(0.5):
            opts += ["raw", "step", "step"]
        how = self.pick(opts)
        if how == "const":
            return str(self.pick(self.values(v)))
        if how == "choose":  # one of two values of its type, by a condition
            a, b = self.pick(self.values(v)), self.pick(self.values(v))
            return f"ite({self.bool_expr(scope, depth)}, {a}, {b})"
        if how == "wrap":
            k = 1 if v.small else self.pick([1, 2048, 4096])
            if self.chance(0.5):
                return f"ite({target} <= {hi - k}, {target} + {k}, {lo})"
            return f"ite({target} >= {lo + k}, {target} - {k}, {hi})"
        if how == "copy":
            ints = self.of_kind("int")
            e = self.read(self.pick(ints), scope)
            return f"ite(({e} >= {lo}) & ({e} <= {hi}), {e}, {lo})"
        if how == "count":
            return self.count_expr(scope, 2)
        if how == "step":
            return f"{target} {self.pick(['+', '-'])} 1"
        return self.int_expr(scope, 1)

    def targets(self, scope: Scope, avoid: set[str]) -> list[tuple[VarInfo, str]]:
        pool = [v for v in self.scalars + self.arrays if v.name not in avoid]
        if not pool:
            return []
        k = self.draw(st.integers(1, min(2, len(pool))))
        chosen = self.draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k,
                                    unique_by=lambda v: v.name))
        return [(v, self.read(v, scope)) for v in chosen]

    def action(self, j: int) -> str:
        params: Scope = []
        n_params = self.draw(st.integers(0, 2))
        for k in range(n_params):
            d = "p" if k == 0 else self.pick(self.domains)
            params.append((f"{d}{k}", d))
        names = ", ".join(p for p, _ in params)
        lam = f"lambda {names}: " if params else ""
        if self.bad_site == ("guard", j):
            guard = self.bad_bool(params)
        elif self.chance(0.15):
            guard = "True"
        else:
            guard = self.bool_expr(params, 2)
        bad_update = self.bad_site == ("update", j)
        each = None
        use_each = self.arrays and not bad_update and self.chance(0.2)
        avoid: set[str] = set()
        if use_each:
            arr = self.pick(self.arrays)
            avoid.add(arr.name)
            e = self.var_name()
            # the body sees its own element, and sometimes the action's parameters after it
            takes = params and self.chance(0.5)
            escope = [(e, arr.domain), *(params if takes else [])]
            args = ", ".join(p for p, _ in escope)
            each = f'("{arr.domain}", lambda {args}: {{{arr.name}[{e}]: ' \
                   f'{self.update(arr, f"{arr.name}[{e}]", escope, 2)}}})'
        ups = self.targets(params, avoid)
        if not ups and each is None:
            ups = self.targets(params, set())
        vals = [self.update(v, t, params) for v, t in ups]
        if bad_update:
            vals[0] = self.bad_value(ups[0][0], ups[0][1], params)
        body = ", ".join(f"{t}: {x}" for (_, t), x in zip(ups, vals, strict=True))
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

    def prop_expr(self, site: str, depth: int) -> str:
        return self.bad_bool([]) if self.bad_site == (site, 0) else self.bool_expr([], depth)

    def build(self) -> Source:
        lines = self.declare()
        has_init = self.chance(0.2)
        has_final = self.chance(0.5)
        n_actions = self.draw(st.integers(1, 4))
        if self.pf.ill_typed and self.chance(self.pf.ill_typed):
            sites = [("guard", j) for j in range(n_actions)] + [("update", j) for j in range(n_actions)]
            sites += [("inv", 0), ("ev", 0), ("lt_pre", 0), ("lt_goal", 0)]
            sites += [("init", 0)] if has_init else []
            sites += [("final", 0)] if has_final else []
            self.bad_site = self.pick(sites)
            kind, j = self.bad_site
            self.refused_at = {
                "guard": f"action act{j}: guard", "update": f"action act{j}", "inv": "invariant inv",
                "ev": "eventually ev", "lt_pre": "leads_to lt: premise", "lt_goal": "leads_to lt: goal",
                "init": "init constraint", "final": "final"}[kind]
        if has_init:
            lines.append(f"m.constrain_init({self.prop_expr('init', 1)})")
        for j in range(n_actions):
            lines.append(self.action(j))
        if has_final:
            lines.append(f"m.set_final({self.prop_expr('final', 1)})")
        lines.append(f'm.invariant("inv", {self.prop_expr("inv", 2)}, "")')
        lines.append('m.no_deadlock("dl", "")')
        lines.append(f'm.eventually("ev", {self.prop_expr("ev", 2)}, "")')
        lines.append(f'm.leads_to("lt", {self.prop_expr("lt_pre", 1)}, {self.prop_expr("lt_goal", 2)}, "")')
        return Source("\n".join(lines) + "\n", refused_at=self.refused_at, corner=self.corner)


@st.composite
def models(draw: st.DrawFn, profile: Profile = WHOLE) -> Source:
    """A random model over the whole language (as far as profile allows), as source."""
    return _ModelGen(draw, profile).build()


# --------------------------------------------------------------------------------------------
# Parametric families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyProfile:
    """Which mistakes a family may contain (all off: written symmetrically, the size used only
    inside the language)."""

    late_init: bool = False  # flag[i] starts at 1 only for i >= 4 (Python-level `if` on i)
    per_cpu: bool = False  # a second domain of size n, with a count over it in a guard
    per_cpu_array: bool = False  # an array over that domain (the definition changes with n)
    token: bool = False  # thread steps write a global array indexed by another domain
    python_n: bool = False  # `if n > 4:` in the builder
    small_counter: bool = False  # a global counter typed 0..3 whatever n is
    int_counts: bool = False  # count("thread", lambda u: pc[u]): ill-typed, refused when built

    def any(self) -> bool:
        return any(self.__dict__.values())


SYMMETRIC = FamilyProfile()
NASTY = FamilyProfile(True, True, True, True, True, True, True)

# the mistakes that make the definition depend on n outside the language: never parametric
NOT_PARAMETRIC = ("late_init", "per_cpu", "python_n")


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
            cinit = "0" if cnt_kind == "0..3" else self.pick(["0", "0", "n", "(0, n)"])
            if cnt_kind.startswith("-") and self.chance(0.2):
                cinit = "-n"
            lines.append(f'    cnt = m.var("cnt", {typ}, init={cinit})')
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
        own_each = has_flag and self.chance(0.3)  # a broadcast over one element writes flag[t]
        if own_each:
            lines.append('    m.domain("one", 1)')

        def cond_local(t: str) -> str:
            c = [f"(pc[{t}] == {self.draw(st.integers(0, npc - 1))})"]
            if has_flag and self.chance(0.5):
                c.append(f"(flag[{t}] == {self.draw(st.integers(0, 1))})")
            return " & ".join(c)

        def global_cond() -> str | None:
            opts = ["none", "none", "g", "not_g", "count", "exists", "forall", "count_n", "another"]
            if has_cnt:
                opts += ["cnt_lt", "cnt_ge", "cnt_n"]
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
                "count_n": f'(count("thread", lambda u: pc[u] == {x}) < n - {k % 2})',
                "exists": f'exists("thread", lambda u: pc[u] == {x})',
                "another": f'exists("thread", lambda u: (u != t) & (pc[u] == {x}))',
                "forall": f'forall("thread", lambda u: pc[u] != {x})',
                "cnt_lt": f"(cnt < {k})", "cnt_ge": f"(cnt >= {k - 1})",
                "cnt_n": f"(cnt + {k} <= n)",
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
            each = ""
            if own_each and self.chance(0.5):  # the action's own thread's flag, in an each body
                x, k = self.draw(st.integers(0, npc - 1)), self.draw(st.integers(0, 2))
                val = self.pick(["1", "0", "~flag[t]", f'count("thread", lambda u: pc[u] == {x}) > {k}',
                                 'exists("one", lambda o2: ~flag[t])'])
                args = "o, t, s" if use_tok else "o, t"
                each = f', each=("one", lambda {args}: {{flag[t]: {val}}})'
            elif has_flag and self.chance(0.3):
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
                         f'             updates={lam} {{{", ".join(ups)}}}{each}{fair})')
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
            "cnt_le_n": "cnt <= n - 1",
            "cnt_counts": f'cnt == count("thread", lambda u: pc[u] == {last})',
            "few_at_last": f'count("thread", lambda u: pc[u] == {last}) <= 1',
            "not_all_at_last": f'count("thread", lambda u: pc[u] == {last}) < n',
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
        refused_at = corner = ""
        if inv == "sum_pc":
            self.notes.append("int_counts")
            refused_at, corner = "invariant inv", "quant_body"
        lines.append(f'    m.invariant("inv", {props[inv]}, "{inv}")')
        lines.append('    m.no_deadlock("dl", "")')
        lines.append(f'    m.eventually("ev", forall("thread", lambda u: pc[u] == {last}), "")')
        pre = self.pick(["g", f'exists("thread", lambda u: pc[u] == {self.draw(st.integers(0, last))})'])
        lines.append(f'    m.leads_to("lt", {pre}, {self.pick(["~g", props["exists_not0"]])}, "")')
        lines += ['    m.sizes = {"threads": n}', '    m.family = Family("threads", "thread", 2, 6)',
                  "    m.rebuild = lambda s: build(s)", "    return m", "",
                  'm = build({"threads": 3})']
        return Source("\n".join(lines) + "\n", "family", self.notes, refused_at, corner)


@st.composite
def families(draw: st.DrawFn, profile: FamilyProfile = SYMMETRIC) -> Source:
    """A parametric family as the source of a `build(sizes)` function (and `m` at N=3)."""
    return _FamilyGen(draw, profile).build()
