"""The explicit engine against the brute-force reference, on random small transition systems."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomcheck.checker.explicit.search import check_explicit
from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import BOOL, FALSE, Enum, Expr, IntType, Model, count, exists, forall, ite

from . import reference as ref

COLOR = Enum("color", ["RED", "GREEN", "BLUE"])


@st.composite
def var_specs(draw: st.DrawFn) -> list[tuple[str, object]]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bool", "int", "enum"]))
        if kind == "bool":
            out.append((f"b{i}", BOOL))
        elif kind == "int":
            lo = draw(st.integers(-3, 2))  # negative lower bounds exercise the field offsets
            out.append((f"x{i}", IntType(lo, lo + draw(st.integers(1, 2)))))
        else:
            out.append((f"c{i}", COLOR))
    return out


def _values(t: object) -> list[int]:
    return list(t.values())  # type: ignore[attr-defined]


@st.composite
def models(draw: st.DrawFn) -> Model:
    m = Model("random")
    np_ = draw(st.integers(1, 2))
    m.domain("p", np_)
    m.actor("p", "proc")
    scalars = draw(var_specs())
    handles: list[tuple[object, object]] = []
    for name, t in scalars:
        vals = _values(t)
        init = draw(st.lists(st.sampled_from(vals), min_size=1, max_size=2, unique=True))
        handles.append((m.var(name, t, init=tuple(init)), t))
    arr_t = IntType(draw(st.integers(-1, 0)), 1)
    arr_init = draw(st.lists(st.sampled_from(_values(arr_t)), min_size=1, max_size=2, unique=True))
    arr = m.array("a", "p", arr_t, init=tuple(arr_init))

    def atom(param: object | None) -> Expr:
        which = draw(st.integers(0, len(handles) + 2))
        if which < len(handles):
            h, t = handles[which]
            c = draw(st.sampled_from(_values(t)))
            # order comparisons are for ints only (the language's types)
            op = draw(st.sampled_from(["==", "!=", "<="] if isinstance(t, IntType) else ["==", "!="]))
        elif which == len(handles) and param is not None:
            h, t, c = arr[param], arr_t, draw(st.sampled_from(_values(arr_t)))
            op = draw(st.sampled_from(["==", "!="]))
        elif which == len(handles) + 1:
            c = draw(st.sampled_from(_values(arr_t)))
            q = draw(st.sampled_from(["forall", "exists", "count"]))
            if q == "forall":
                return forall("p", lambda p: arr[p] == c)
            if q == "exists":
                return exists("p", lambda p: arr[p] != c)
            return count("p", lambda p: arr[p] == c) <= draw(st.integers(0, np_))
        else:
            i = draw(st.integers(0, np_ - 1))
            h, t, c = arr[i], arr_t, draw(st.sampled_from(_values(arr_t)))
            op = "=="
        return {"==": h == c, "!=": h != c, "<=": h <= c}[op]

    def predicate(param: object | None = None) -> Expr:
        e = atom(param)
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["and", "or", "not"]))
            e = (e & atom(param)) if kind == "and" else (e | atom(param)) if kind == "or" else ~e
        return e

    def update(h: object, t: object) -> Expr:
        kind = draw(st.sampled_from(["const", "step"]))
        if kind == "const" or isinstance(t, type(BOOL)):
            if isinstance(t, type(BOOL)) and kind == "step":
                return ~h  # type: ignore[operator]
            return draw(st.sampled_from(_values(t)))  # type: ignore[return-value]
        vals = _values(t)
        if not isinstance(t, IntType):  # the next enum member, cyclically (no + on enums)
            out: Expr = vals[0]  # type: ignore[assignment]
            for v, nxt in zip(reversed(vals[:-1]), reversed(vals[1:]), strict=True):
                out = ite(h == v, nxt, out)  # type: ignore[operator]
            return out
        return ite(h == vals[-1], vals[0], h + 1)  # type: ignore[operator]

    for k in range(draw(st.integers(1, 4))):
        param = draw(st.booleans())
        fair = draw(st.booleans())
        targets = draw(st.lists(st.integers(0, len(handles)), min_size=1, max_size=2, unique=True))
        if param:
            def guard(p: object) -> Expr:
                return predicate(p)

            def ups(p: object, targets: list[int] = targets) -> dict:
                out = {}
                for j in targets:
                    if j == len(handles):
                        out[arr[p]] = update(arr[p], arr_t)
                    else:
                        h, t = handles[j]
                        out[h] = update(h, t)
                return out

            m.action(f"act{k}", func=f"f{k}", file="test.c", actor="p", params={"p": "p"},
                     guard=guard, updates=ups, fair=fair)
        else:
            i = draw(st.integers(0, np_ - 1))
            out = {}
            for j in targets:
                if j == len(handles):
                    out[arr[i]] = update(arr[i], arr_t)
                else:
                    h, t = handles[j]
                    out[h] = update(h, t)
            m.action(f"act{k}", func=f"f{k}", file="test.c", actor="env", guard=predicate(),
                     updates=out, fair=fair)
    if draw(st.booleans()):
        m.set_final(predicate())
    else:
        m.set_final(FALSE)
    m.invariant("inv", predicate(), "random invariant")
    m.no_deadlock("dl", "no deadlock")
    m.eventually("ev", predicate(), "random eventually")
    m.leads_to("lt", predicate(), predicate(), "random leads-to")
    return m


def _replay(m: Model, trace) -> list[dict]:
    """Re-run a trace with the interpreter; every step must be a real transition."""
    slots = m.slots()
    names = {m.slot_name(n, i): (n, i) for n, i, _ in slots}
    decode = {}
    for n, i, d in slots:
        decode[(n, i)] = {d.type.show(v): v for v in d.type.values()}
    state = {names[k]: decode[names[k]][v] for k, v in trace.initial.items()}
    states = [state]
    insts: dict[str, list] = {}
    for i in m.instances():  # two actions may model steps of one kernel function: same label
        insts.setdefault(i.label, []).append(i)
    for s in trace.steps:
        want = {names[k]: decode[names[k]][new] for k, (_, new) in s.changes.items()}
        nexts = [x for x in (step(m, i, state) for i in insts[s.action]) if x is not None]
        nexts = [x for x in nexts if {k: x[k] for k in x if x[k] != state[k]} == want]
        assert nexts, f"step {s.action} is not enabled in the replay, or changes something else"
        state = nexts[0]
        states.append(state)
    return states


SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(models())
def test_reachable_states_and_transitions(m: Model) -> None:
    r = ref.explore(m)
    (res,) = check_explicit(m, [m.properties["inv"]], por=False)  # (test_por.py: the reduced one)
    if res.verdict == "holds":  # a complete search saw every reachable state
        assert res.states == len(r.reach)
        assert res.transitions == r.graph.number_of_edges()
    (full,) = check_explicit(m, [m.properties["lt"]])
    assert full.states == len(r.reach)
    assert full.transitions == r.graph.number_of_edges()


@SETTINGS
@given(models())
def test_invariant_verdict_and_shortest_counterexample(m: Model) -> None:
    r = ref.explore(m)
    p = m.properties["inv"]
    (res,) = check_explicit(m, [p])
    expected = ref.invariant_cex_length(r, p)
    assert (res.verdict == "violated") == (expected is not None)
    if expected is not None:
        assert len(res.trace.steps) == expected
        states = _replay(m, res.trace)
        assert not evaluate(m, p.expr, states[-1])


@SETTINGS
@given(models())
def test_deadlock_verdict_and_shortest_counterexample(m: Model) -> None:
    r = ref.explore(m)
    (res,) = check_explicit(m, [m.properties["dl"]])
    expected = ref.deadlock_cex_length(r)
    assert (res.verdict == "violated") == (expected is not None)
    if expected is not None:
        assert len(res.trace.steps) == expected
        last = _replay(m, res.trace)[-1]
        assert all(step(m, i, last) is None for i in m.instances())
        assert not evaluate(m, m.final, last)


def _check_lasso(m: Model, p, trace) -> None:
    states = _replay(m, trace)
    insts = m.instances()
    fair = [i for i in insts if i.action.fair]
    k = trace.loop_start
    assert k is not None
    if p.kind == "leads_to":
        # some P-state from which Q never holds again
        assert any(evaluate(m, p.pre, s) and all(not evaluate(m, p.expr, t) for t in states[j:])
                   for j, s in enumerate(states))
    else:
        assert all(not evaluate(m, p.expr, s) for s in states)
    if trace.stutter:
        assert k == len(trace.steps)
        assert all(step(m, i, states[-1]) is None for i in fair)
        return
    loop_states = states[k:]
    assert loop_states[0] == loop_states[-1] and len(trace.steps) > k
    taken = {s.action for s in trace.steps[k:]}
    for i in fair:
        if all(step(m, i, s) is not None for s in loop_states):
            assert i.label in taken, f"{i.label} is enabled all along the loop but never taken"


@SETTINGS
@given(models(), st.sampled_from(["ev", "lt"]))
def test_liveness_verdict_and_lasso(m: Model, name: str) -> None:
    r = ref.explore(m)
    p = m.properties[name]
    (res,) = check_explicit(m, [p])
    expected = ref.fair_lasso_exists(r, p)
    assert (res.verdict == "violated") == expected
    if expected:
        _check_lasso(m, p, res.trace)


@SETTINGS
@given(models())
def test_all_properties_in_one_run_agree_with_separate_runs(m: Model) -> None:
    props = list(m.properties.values())
    together = {r.property: r.verdict for r in check_explicit(m, props)}
    for p in props:
        (alone,) = check_explicit(m, [p])
        assert together[p.name] == alone.verdict
