"""The expression types, and the wrong answers they (and the encoders' widths) rule out.

Three ways user-written variants used to get wrong answers: a constant wider than the bit-vector
encoding wrapped around (BMC, k-induction and --invariant); `x | 0` on an integer was a number in
the explicit engine and a truth value elsewhere; a `count` whose body is a number was summed by Z3
and counted by the explicit engine. The first must now give the right verdict in every engine;
the other two are refused when the model is built, with one line naming the expression.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.catalog import build_variant, default_catalogs, resolve_variant, variant_from_file
from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.compile import compile_model
from oomcheck.checker.language.interp import evaluate
from oomcheck.checker.language.lang import (
    BOOL,
    Const,
    Enum,
    Expr,
    Index,
    IntType,
    Model,
    ModelError,
    Op,
    Param,
    Quant,
    Var,
    count,
    exists,
    forall,
    implies,
    ite,
)
from oomcheck.checker.language.typecheck import BOOL_T, INT_T, check_bool, check_model, show, type_of
from oomcheck.checker.symbolic.bmc import BITS, bmc_safety
from oomcheck.checker.symbolic.chc import check_chc
from oomcheck.checker.symbolic.encode import Encoder, bits_for
from oomcheck.checker.symbolic.induction import check_invariant, k_induction
from oomcheck.cli import EXIT_USAGE, main
from oomcheck.models import get_model

COLOR = Enum("color", ["RED", "GREEN", "BLUE"])


def freezer(threads: int = 2) -> Model:
    return get_model("freezer").instantiate({"threads": threads}, {})


def refused(build, *fragments: str) -> str:
    """build() must raise one ModelError line containing every fragment."""
    with pytest.raises(ModelError) as err:
        build()
    msg = str(err.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


def small() -> Model:
    m = Model("small")
    m.domain("p", 2)
    m.var("b", BOOL, init=0)
    m.var("x", IntType(0, 3), init=0)
    m.var("c", COLOR, init=COLOR.RED)
    m.array("f", "p", BOOL, init=0)
    m.array("a", "p", IntType(0, 2), init=0)
    return m


def _refusals(m: Model) -> list[tuple[object, tuple[str, ...]]]:
    b, x, c = Var("b"), Var("x"), Var("c")
    f, a = m.ref("f"), m.ref("a")

    def act(**kw: object):
        return lambda: m.action("step", func="f", file="f.c", actor="env", **kw)

    return [
        (lambda: m.invariant("or-int", (x | 0) == x, ""), ("invariant or-int", "(x | 0)",
                                                          "`|` takes booleans", "x is an int")),
        (lambda: m.invariant("and-int", b & x, ""), ("`&` takes booleans",)),
        (lambda: m.invariant("not-int", ~x, ""), ("`~` takes booleans",)),
        (lambda: m.invariant("implies-int", implies(x, b), ""), ("`implies` takes booleans",)),
        (lambda: m.invariant("plus-bool", b + 1 == 2, ""), ("`+` takes ints", "b is a bool")),
        (lambda: m.invariant("minus-enum", c - 1 == 0, ""), ("`-` takes ints", "color")),
        (lambda: m.invariant("lt-enum", c < COLOR.BLUE, ""), ("`<` takes ints",)),
        (lambda: m.invariant("le-bool", b <= f[0], ""), ("`<=` takes ints",)),
        (lambda: m.invariant("eq-mixed", x == b, ""), ("`==` needs two sides of one type",
                                                      "x is an int and b is a bool")),
        (lambda: m.invariant("eq-enum-int", c != x, ""), ("`!=` needs two sides of one type",)),
        (lambda: m.invariant("bool-lit", b == 2, ""), ("2 is not a boolean",)),
        (lambda: m.invariant("enum-lit", c == 3, ""), ("3 is not a member of enum color",)),
        (lambda: m.invariant("ite-cond", ite(x, b, b), ""), ("the condition of ite",)),
        (lambda: m.invariant("ite-arms", ite(b, x, c) == 1, ""), ("the branches of ite need one type",)),
        (lambda: m.invariant("count-int", count("p", lambda p: a[p]) <= 1, ""),
         ("count(p, lambda p: a[p])", "the body of count must be a boolean")),
        (lambda: m.invariant("forall-int", forall("p", lambda p: a[p]), ""),
         ("the body of forall must be a boolean",)),
        (lambda: m.invariant("exists-int", exists("p", lambda p: a[p] + 1), ""),
         ("the body of exists must be a boolean",)),
        (lambda: m.invariant("count-is-int", count("p", lambda p: f[p]), ""),
         ("it must be a boolean", "is an int")),
        (lambda: m.invariant("param-is-int", forall("p", lambda p: f[0] == p), ""),
         ("`==` needs two sides of one type",)),
        (lambda: m.invariant("index-bool", f[b], ""), ("the index of f must be an int",)),
        (lambda: m.invariant("not-bool", x, ""), ("invariant not-bool", "it must be a boolean")),
        (lambda: m.eventually("ev", x + 1, ""), ("eventually ev",)),
        (lambda: m.leads_to("lt", x, b, ""), ("leads_to lt: premise",)),
        (lambda: m.leads_to("lt2", b, c, ""), ("leads_to lt2: goal",)),
        (lambda: m.constrain_init(x), ("init constraint",)),
        (lambda: m.set_final(c), ("final",)),
        (act(guard=x), ("action step: guard",)),
        (act(updates={b: x}), ("action step", "b := x", "b holds a bool")),
        (act(updates={x: b}), ("x holds an int", "b is a bool")),
        (act(updates={x: COLOR.RED}), ("x holds an int",)),
        (act(updates={c: 3}), ("3 is not a member of enum color",)),
        (act(updates={b: 2}), ("2 is not a boolean",)),
        (act(updates={f[0]: ite(b, 1, 2)}), ("f[0] := ite(b, 1, 2)", "2 is not a boolean")),
        (act(updates={a[b]: 1}), ("the index of a must be an int",)),
        (act(each=("p", lambda p: {f[p]: a[p]})), ("f[p] := a[p]", "f[p] holds a bool")),
        (act(params={"q": "p"}, guard=lambda q: q), ("guard",)),
    ]


@pytest.mark.parametrize("case", range(len(_refusals(small()))))
def test_an_ill_typed_expression_is_refused_with_one_line(case: int) -> None:
    m = small()
    build, fragments = _refusals(m)[case]
    before = (len(m.actions), list(m.properties), len(m.init_constraints), id(m.final))
    refused(build, *fragments)
    assert (len(m.actions), list(m.properties), len(m.init_constraints), id(m.final)) == before


def test_literals_stand_for_booleans_and_enum_members_where_they_fit() -> None:
    m = small()
    b, x, c = Var("b"), Var("x"), Var("c")
    f, a = m.ref("f"), m.ref("a")
    m.action("ok", func="f", file="f.c", actor="env", params={"q": "p"},
             guard=lambda q: (f[q] == 0) & (c != 2) & (a[q] < 2) & (b | 0),
             updates=lambda q: {f[q]: ite(b, 0, 1), c: ite(x == 3, 0, COLOR.GREEN),
                                a[q]: ite(b, a[q] + 1, 0), x: count("p", lambda p: f[p] == 1)})
    m.invariant("ok", implies(b, ite(c == COLOR.RED, f[0], 1)) & (x - 3000 < 0), "")
    m.constrain_init(forall("p", lambda p: a[p] == 0))
    m.set_final(exists("p", lambda p: f[p]))
    check_model(m)
    assert type_of(m, count("p", lambda p: f[p])) == INT_T
    assert type_of(m, ite(b, 0, 1) == f[1]) == BOOL_T
    assert type_of(m, c) == COLOR


def test_show_renders_expressions_as_a_model_writes_them() -> None:
    m = freezer()
    ov, memdie = m.ref("oom_victims"), m.ref("memdie")
    assert show((ov | 0) == ov) == "((oom_victims | 0) == oom_victims)"
    assert show(count("thread", lambda t: memdie[t]) <= 1) == \
        "(count(thread, lambda t: memdie[t]) <= 1)"
    assert show(implies(~memdie[0], ite(ov > 0, True, 0))) == \
        "implies(~memdie[0], ite((0 < oom_victims), True, 0))"


def test_every_shipped_model_and_catalog_variant_is_well_typed() -> None:
    for cat in default_catalogs():
        spec = get_model(cat.model)
        for name in cat.variants:
            v = resolve_variant(cat, name)
            for pick in (0, 1):  # default and smallest sizes
                sizes = {s: t[pick] for s, t in spec.sizes.items()}
                m = build_variant(v, sizes, {}, cat)  # refused here if ill-typed
                check_model(m)


def test_a_user_invariant_is_type_checked() -> None:
    m = freezer()
    p = m.properties["memdie-single-thread"]
    refused(lambda: check_invariant(m, p, m.ref("oom_victims") + 1, timeout=30),
            "the inductive invariant", "(oom_victims + 1)", "it must be a boolean")


# --------------------------------------------------------------------------------------------
# The reported bugs, written as a user would
# --------------------------------------------------------------------------------------------

VARIANT = '''
from oomcheck.lang import count, ite
from oomcheck.models.freezer import THREAD

MODEL = "freezer"
BASE = "v10"


def derive(m):
    oom_victims, memdie = m.ref("oom_victims"), m.ref("memdie")
    m.invariant("mine", {expr}, "a user's property")
    return m
'''


def _variant(tmp_path: Path, expr: str) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(VARIANT.replace("{expr}", expr))
    return path


def _build(path: Path, threads: int = 2) -> Model:
    cat = next(c for c in default_catalogs() if c.model == "freezer")
    return build_variant(variant_from_file(path), {"threads": threads}, {}, cat)


def test_or_on_an_integer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bug (b): the explicit engine said `(oom_victims | 0) == oom_victims` holds (Python's `or`
    returned oom_victims), every other engine that it is violated."""
    path = _variant(tmp_path, "(oom_victims | 0) == oom_victims")
    refused(lambda: _build(path), "invariant mine", "((oom_victims | 0) == oom_victims)",
            "`|` takes booleans, but oom_victims is an int")
    code = main(["check", "freezer", "--variant", str(path), "--threads", "2", "--quiet"])
    _, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == EXIT_USAGE and len(lines) == 1 and "Traceback" not in err
    assert "(oom_victims | 0)" in lines[0] and "invariant mine" in lines[0]


@pytest.mark.parametrize("body", ["oom_victims + 2", "ite(memdie[t], 2, 0)", "oom_victims"])
def test_count_of_a_number_is_refused(tmp_path: Path, body: str) -> None:
    """Bug (c): Z3 summed the body's values, the explicit engine counted the non-zero ones, so
    CHC and k-induction proved what the explicit engine violated at depth 0."""
    path = _variant(tmp_path, f"count(THREAD, lambda t: {body}) == 2")
    refused(lambda: _build(path), "invariant mine", "count(thread, lambda t:",
            "the body of count must be a boolean")


def test_boolean_operators_agree_across_engines_even_unchecked() -> None:
    """Defence in depth for bug (b): an unchecked `x | 0` evaluates to 0/1 in the compiled code,
    the interpreter and Z3 alike."""
    m = freezer()
    ov = Var("oom_victims")
    exprs = [Op("==", (Op("or", (ov, Const(0))), ov)), Op("and", (ov, Const(3))),
             Op("implies", (Const(0), ov)), Op("not", (Op("or", (Const(0), ov)),)),
             Quant("count", "thread", "_q", Op("+", (ov, Const(2)))),
             Quant("forall", "thread", "_q", ov), Quant("exists", "thread", "_q", Op("-", (ov, ov)))]
    for e in exprs:
        for v in range(-2, 3):
            assert _engines_agree(m, e, {**_initial(m), ("oom_victims", None): v})


def _small_counter() -> Model:
    """x counts 0..3 and wraps to 0: every variable fits in 3 bits."""
    m = Model("counter")
    x = m.var("x", IntType(0, 3), init=0)
    m.action("inc", func="inc", file="c.c", actor="env", guard=x < 3, updates={x: x + 1})
    m.action("reset", func="reset", file="c.c", actor="env", guard=x == 3, updates={x: 0})
    return m


# each: the invariant, and the length of its shortest counterexample (None: it holds)
WIDE = [
    (lambda x: x < 4096, None),
    (lambda x: x + 2048 > 0, None),
    (lambda x: x - 3000 < 0, None),
    (lambda x: x + 65536 - 65536 <= 3, None),
    (lambda x: 4096 > x + 4092, None),  # needs x < 4: the largest x is 3
    (lambda x: x > 4096, 0),
    (lambda x: x + 4000 == 4001, 0),
    (lambda x: x + 2048 < 2050, 2),
    (lambda x: x - 3000 < -2997, 3),
    (lambda x: x + x + x + 2045 < 2048 + 5, 3),  # x < 3, through intermediates up to 2054
]


@pytest.mark.parametrize("case", range(len(WIDE)))
def test_wide_constants_give_the_same_verdict_in_every_engine(case: int) -> None:
    """Bug (a): the bit width came from the variables' types only, so 4096 wrapped to 0."""
    make, cex = WIDE[case]
    m = _small_counter()
    m.invariant("wide", make(Var("x")), "")
    p = m.properties["wide"]
    (ex,) = check_explicit(m, [p])
    assert ex.verdict == ("holds" if cex is None else "violated")
    if cex is not None:
        assert len(ex.trace.steps) == cex
    bmc = bmc_safety(m, p, 6, timeout=60)
    ki = k_induction(m, p, 6, timeout=60)
    inv = check_invariant(m, p, p.expr, timeout=60)  # type: ignore[arg-type]
    chc = check_chc(m, p, timeout=60)
    if cex is None:
        assert bmc.verdict == "holds" and bmc.strength == {"kind": "bounded", "depth": 6}
        assert ki.verdict == "holds" and ki.strength["kind"] == "proved"
        assert chc.verdict == "holds" and chc.strength["kind"] == "proved"
        # each of these is inductive within the types (x stays in 0..3)
        assert inv.verdict == "holds" and inv.strength["kind"] == "proved"
    else:
        for r in (bmc, ki):
            assert r.verdict == "violated" and len(r.trace.steps) == cex, r.engine
        assert chc.verdict == "violated"
        assert inv.verdict == "unknown"
        if cex == 0:
            assert inv.reason == "the invariant fails in an initial state"


def test_a_wide_user_invariant_proves_only_what_holds() -> None:
    """--invariant with wide constants: an invariant that wrapped used to be 'proved'."""
    m = _small_counter()
    x = Var("x")
    m.invariant("small", x <= 3, "")
    p = m.properties["small"]
    good = check_invariant(m, p, (x + 2048 > 2047) & (x - 4096 < -4092), timeout=60)
    assert good.verdict == "holds" and good.strength["method"] == "inductive invariant"
    m.invariant("wrong", x + 4096 < 4098, "")  # x < 2: violated after two steps
    q = m.properties["wrong"]
    bad = check_invariant(m, q, q.expr, timeout=60)  # type: ignore[arg-type]
    assert bad.verdict == "unknown" and bad.reason.startswith("the invariant is not inductive")


def test_wide_constants_in_a_freezer_variant(tmp_path: Path) -> None:
    """The same, in a variant file deriving freezer as a user writes one."""
    for expr, holds in (("oom_victims < 4096", True), ("oom_victims + 2048 > 0", True),
                        ("oom_victims - 3000 < 0", True), ("oom_victims - 3000 > -3000", False),
                        ("oom_victims + 4096 >= 4096", True)):
        m = _build(_variant(tmp_path, expr))
        p = m.properties["mine"]
        want = "holds" if holds else "violated"
        (ex,) = check_explicit(m, [p])
        assert ex.verdict == want, expr
        assert bmc_safety(m, p, 4, timeout=60).verdict == want, expr
        ki = k_induction(m, p, 3, timeout=60)
        assert ki.verdict == want or (holds and ki.verdict == "unknown"), expr
        chc = check_chc(m, p, timeout=120)
        assert chc.verdict == want, expr
        if not holds:
            assert ki.verdict == "violated" and len(ki.trace.steps) == 0


def test_the_width_covers_every_constant_and_intermediate() -> None:
    m = _small_counter()
    x = Var("x")
    assert bits_for(m) <= 5  # 0..3 and the +1: small
    assert bits_for(m, [x < 4096]) >= 14  # 4096 needs 13 bits signed, plus one to spare
    assert bits_for(m, [x + 30000 - 30000 < 1]) >= 17
    m.invariant("far", x - 70000 < 0, "")  # the model's own properties count too
    assert bits_for(m) >= 19
    assert Encoder(m, bits=BITS).bits == bits_for(m)


# --------------------------------------------------------------------------------------------
# Random expressions: the compiled code, the interpreter and Z3 give one value
# --------------------------------------------------------------------------------------------


def _expr_model() -> Model:
    m = Model("exprs")
    m.domain("p", 2)
    m.var("b", BOOL, init=(0, 1))
    m.var("x", IntType(-3, 3), init=tuple(range(-3, 4)))
    m.var("c", COLOR, init=(0, 1, 2))
    m.array("a", "p", IntType(0, 2), init=(0, 1, 2))
    m.array("f", "p", BOOL, init=(0, 1))
    return m


def _initial(m: Model) -> dict[tuple[str, int | None], int]:
    return {(n, i): choices[0] for (n, i, _), choices in zip(m.slots(), m.init_choices(), strict=True)}


def _z3_value(enc: Encoder, e: Expr, values: list[int]) -> int:
    vec = [enc.val(v) for v in values]
    r = z3.simplify(enc.expr(e, vec))  # type: ignore[arg-type]
    if z3.is_bool(r):
        assert z3.is_true(r) or z3.is_false(r)
        return int(z3.is_true(r))
    return r.as_signed_long() if enc.bits is not None else r.as_long()  # type: ignore[attr-defined]


def _engines_agree(m: Model, e: Expr, state: dict[tuple[str, int | None], int]) -> bool:
    """interp.evaluate, the compiled code (via Compiled.predicate) and both Z3 encodings give e
    one value in the state."""
    v = evaluate(m, e, state)
    comp = compile_model(m)
    values = [state[(n, i)] for n, i, _ in m.slots()]
    packed = comp.layout.encode(values)
    assert comp.predicate(Op("==", (e, Const(v))))(packed), "compiled code differs"
    assert not comp.predicate(Op("==", (e, Const(v + 1))))(packed), "compiled code differs"
    assert comp.predicate(e)(packed) == bool(v)
    bv = Encoder(m, bits=BITS, extra=[e])
    assert _z3_value(bv, e, values) == v, f"bit-vectors ({bv.bits} bits) differ"
    assert _z3_value(Encoder(m), e, values) == v, "Z3 integers differ"
    return True


BIG = st.one_of(st.integers(-9, 9), st.integers(-100_000, 100_000),
                st.sampled_from([127, 128, 255, 1023, 1024, 2047, 2048, 3000, 4095, 4096, 32767,
                                 32768, 65535, 65536, -2048, -4096, -32769]))
_names = iter(range(10**9))


@st.composite
def typed_expr(draw: st.DrawFn, kind: str, depth: int, params: tuple[Param, ...] = ()) -> Expr:
    """A random well-typed expression of kind bool, int or enum."""
    leaf = depth <= 0 or draw(st.integers(0, 4)) == 0

    def sub(k: str, ps: tuple[Param, ...] = params) -> Expr:
        return draw(typed_expr(k, depth - 1, ps))

    def index() -> Expr:
        return draw(st.sampled_from([Const(0), Const(1), *params]))

    if kind == "int":
        if leaf:
            return draw(st.sampled_from([
                Const(draw(BIG)), Var("x"), Index("a", index()),
                *(params[-1:] if params else [Const(draw(BIG))])]))
        which = draw(st.sampled_from(["+", "-", "ite", "count"]))
        if which in ("+", "-"):
            return Op(which, (sub("int"), sub("int")))
        if which == "ite":
            return Op("ite", (sub("bool"), sub("int"), sub("int")))
        q = Param(f"_q{next(_names)}", "p")
        return Quant("count", "p", q.name, sub("bool", (*params, q)))
    if kind == "enum":
        if leaf:
            return draw(st.sampled_from([Var("c"), COLOR.RED, COLOR.BLUE, Const(1)]))
        return Op("ite", (sub("bool"), sub("enum"), sub("enum")))
    if leaf:
        return draw(st.sampled_from([Var("b"), Index("f", index()), Const(1, BOOL), Const(0, BOOL),
                                     Const(0), Const(1)]))
    which = draw(st.sampled_from(["and", "or", "not", "implies", "<", "<=", "==int", "!=enum",
                                  "==bool", "ite", "forall", "exists"]))
    if which in ("and", "or", "implies"):
        return Op(which, (sub("bool"), sub("bool")))
    if which == "not":
        return Op("not", (sub("bool"),))
    if which in ("<", "<="):
        return Op(which, (sub("int"), sub("int")))
    if which == "==int":
        return Op("==", (sub("int"), sub("int")))
    if which == "!=enum":
        return Op("!=", (sub("enum"), sub("enum")))
    if which == "==bool":
        return Op("==", (sub("bool"), sub("bool")))
    if which == "ite":
        return Op("ite", (sub("bool"), sub("bool"), sub("bool")))
    q = Param(f"_q{next(_names)}", "p")
    return Quant(which, "p", q.name, sub("bool", (*params, q)))


@st.composite
def states(draw: st.DrawFn, m: Model) -> dict[tuple[str, int | None], int]:
    return {(n, i): draw(st.sampled_from(list(d.type.values()))) for n, i, d in m.slots()}


EXPR_SETTINGS = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MODEL = _expr_model()


@EXPR_SETTINGS
@given(st.sampled_from(["bool", "int", "enum"]).flatmap(lambda k: typed_expr(k, 4)), states(MODEL))
def test_well_typed_expressions_evaluate_alike_everywhere(e: Expr, state: dict) -> None:
    t = type_of(MODEL, e)  # the generator makes well-typed expressions only
    if t == BOOL_T:
        check_bool(MODEL, e, "test")
    assert _engines_agree(MODEL, e, state)


@st.composite
def untyped_expr(draw: st.DrawFn, depth: int, params: tuple[Param, ...] = ()) -> Expr:
    """Any operator on any operands: what the type checker refuses must still evaluate alike."""
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        i = draw(st.sampled_from([Const(0), Const(1), *params]))
        return draw(st.sampled_from([
            Const(draw(BIG)), Const(1, BOOL), COLOR.GREEN, Var("x"), Var("b"), Var("c"),
            Index("a", i), Index("f", i), *params]))
    which = draw(st.sampled_from(["+", "-", "==", "!=", "<", "<=", "and", "or", "not",
                                  "implies", "ite", "forall", "exists", "count"]))
    if which in ("forall", "exists", "count"):
        q = Param(f"_q{next(_names)}", "p")
        return Quant(which, "p", q.name, draw(untyped_expr(depth - 1, (*params, q))))
    n = {"not": 1, "ite": 3}.get(which, 2)
    return Op(which, tuple(draw(untyped_expr(depth - 1, params)) for _ in range(n)))


@EXPR_SETTINGS
@given(untyped_expr(4), states(MODEL))
def test_unchecked_expressions_still_evaluate_alike_everywhere(e: Expr, state: dict) -> None:
    assert _engines_agree(MODEL, e, state)
