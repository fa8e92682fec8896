"""A direct interpreter of the modeling language: slow, obviously right, independent of the compiler.

Tests use it as the reference semantics the compiled engine is checked against; the trace
renderer uses it to explain which part of a quantified goal a counterexample never reaches.
"""

from __future__ import annotations

from collections.abc import Mapping

from oomcheck.checker.language.compile import _apply
from oomcheck.checker.language.lang import (
    ActionInstance,
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

State = Mapping[tuple[str, int | None], int]


def evaluate(model: Model, e: Expr, state: State, env: Mapping[str, int] | None = None) -> int:
    env = env or {}
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Param):
        if e.name not in env:
            raise ModelError(f"parameter {e.name} is not bound here")
        return env[e.name]
    if isinstance(e, Var):
        return state[(e.name, None)]
    if isinstance(e, Index):
        i = evaluate(model, e.index, state, env)
        if (e.array, i) not in state:
            raise ModelError(f"index {i} out of range for {e.array}")
        return state[(e.array, i)]
    if isinstance(e, Op):
        # the lazy operators evaluate only what the compiled code evaluates (an index out of
        # range in a branch not taken is no error in either)
        if e.op == "and":
            return int(bool(evaluate(model, e.args[0], state, env))
                       and bool(evaluate(model, e.args[1], state, env)))
        if e.op == "or":
            return int(bool(evaluate(model, e.args[0], state, env))
                       or bool(evaluate(model, e.args[1], state, env)))
        if e.op == "implies":
            return int(not evaluate(model, e.args[0], state, env)
                       or bool(evaluate(model, e.args[1], state, env)))
        if e.op == "ite" and len(e.args) == 3:
            c = evaluate(model, e.args[0], state, env)
            return evaluate(model, e.args[1] if c else e.args[2], state, env)
        return int(_apply(e.op, [evaluate(model, a, state, env) for a in e.args]))
    if isinstance(e, Quant):
        vals = (evaluate(model, e.body, state, {**env, e.var: i})  # lazy, as compiled
                for i in range(model.domains[e.domain]))
        if e.kind == "forall":
            return int(all(vals))
        if e.kind == "exists":
            return int(any(vals))
        if e.kind == "count":  # the number of elements where the body is non-zero
            return sum(1 for v in vals if v)
        raise ModelError(f"unknown quantifier {e.kind}")
    raise ModelError(f"not an expression: {e!r}")


def step(model: Model, inst: ActionInstance, state: State) -> dict | None:
    """The successor of state under one action instance, or None when its guard is false."""
    if not evaluate(model, inst.guard, state):
        return None
    new = dict(state)
    for lhs, rhs in inst.updates:
        v = evaluate(model, rhs, state)
        if isinstance(lhs, Var):
            key = (lhs.name, None)
        else:
            key = (lhs.array, evaluate(model, lhs.index, state))
            if key not in state:
                raise ModelError(f"index {key[1]} out of range for {lhs.array}")
        d = model.vars[key[0]]
        if d.type.__class__.__name__ == "BoolType":
            v = int(bool(v))
        if v not in d.type.values():
            raise ModelError(f"action {inst.label} assigns {v} to {key[0]}, outside its type")
        new[key] = v
    return new
