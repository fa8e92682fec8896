"""Which threads of one model instance are interchangeable, so a search may store one state per
orbit (symmetry reduction).

Threads of a domain are interchangeable when the model only ever reaches them through a
parameter over the domain (an action's own thread, a quantifier, a count, an `each` broadcast),
compares such parameters only with each other or with constants, and names the rest by
constants (the "named" threads, left in place). Every other use (a thread index stored in a
variable, added to, compared with <, or indexing another domain's array) breaks the symmetry.
With the free threads starting alike, a permutation of them maps initial states to initial
states, steps to steps, and keeps the truth of every guard and property: the conditions of the
counter abstraction (counters.py), read here off one instance instead of for every size.
"""

from __future__ import annotations

from dataclasses import dataclass

from oomcheck.checker.language.lang import Const, Expr, Index, Model, Op, Param, Property, Quant, Var


@dataclass(frozen=True)
class Symmetry:
    domain: str
    named: tuple[int, ...]  # threads a constant names: never permuted
    free: tuple[int, ...]  # the interchangeable threads

    def describe(self) -> str:
        return (f"{self.domain} {', '.join(map(str, self.free))} interchangeable"
                + (f" ({self.domain} {', '.join(map(str, self.named))} named)" if self.named else ""))


class _AsymmetricError(Exception):
    pass


def find_symmetry(model: Model, props: list[Property]) -> tuple[Symmetry | None, str]:
    """The symmetry of the model's family domain, or None and why there is none."""
    fam = model.family
    domain = getattr(fam, "domain", None)
    if domain is None or domain not in model.domains:
        return None, "the model has no domain of interchangeable threads"
    named: set[int] = set()
    try:
        for e in _exprs(model, props):
            _walk(model, domain, e, named)
    except _AsymmetricError as e:
        return None, str(e)
    n = model.domains[domain]
    free = tuple(i for i in range(n) if i not in named)
    if len(free) < 2:
        return None, "fewer than two interchangeable threads"
    choices = dict(zip([(nm, i) for nm, i, _ in model.slots()], model.init_choices(), strict=True))
    for name, d in model.vars.items():
        if d.domain == domain and len({tuple(choices[(name, i)]) for i in free}) > 1:
            return None, f"threads start with different values of {name}"
    return Symmetry(domain, tuple(sorted(named)), free), ""


def _exprs(model: Model, props: list[Property]) -> list[Expr]:
    out: list[Expr] = [*model.init_constraints, model.final]
    for p in [*model.properties.values(), *props]:
        out += [x for x in (p.expr, p.pre) if x is not None]
    for a in model.actions:
        out.append(a.guard)
        for lhs, rhs in [*a.updates, *(u for _, ups in a.each for u in ups)]:
            out += [lhs, rhs]
    return out


def _is_thread(domain: str, e: Expr) -> bool:
    return isinstance(e, Param) and e.domain == domain


def _mentions(model: Model, domain: str, e: Expr) -> bool:
    if _is_thread(domain, e):
        return True
    if isinstance(e, Index):
        return model.vars[e.array].domain == domain or _mentions(model, domain, e.index)
    if isinstance(e, Op):
        return any(_mentions(model, domain, a) for a in e.args)
    if isinstance(e, Quant):
        return e.domain == domain or _mentions(model, domain, e.body)
    return False


def _walk(model: Model, domain: str, e: Expr, named: set[int]) -> None:
    if isinstance(e, Index):
        if model.vars[e.array].domain == domain:
            if isinstance(e.index, Const):
                named.add(e.index.value)
            elif not _is_thread(domain, e.index):
                raise _AsymmetricError(f"{e.array} indexed by an expression that is not a thread parameter")
        elif _mentions(model, domain, e.index):
            raise _AsymmetricError(f"{e.array} indexed by a thread")
        else:
            _walk(model, domain, e.index, named)
        return
    if isinstance(e, Op):
        threads = [a for a in e.args if _is_thread(domain, a)]
        if threads:
            if e.op not in ("==", "!="):
                raise _AsymmetricError(f"a thread parameter used as a number (operator {e.op})")
            other = [a for a in e.args if not _is_thread(domain, a)]
            for a in other:
                if not isinstance(a, Const):
                    raise _AsymmetricError("a thread parameter compared with a non-constant")
                named.add(a.value)
            return
        for a in e.args:
            _walk(model, domain, a, named)
        return
    if isinstance(e, Quant):
        _walk(model, domain, e.body, named)
        return
    if _is_thread(domain, e):
        raise _AsymmetricError("a thread parameter used as a value")
    if isinstance(e, (Const, Var, Param)):
        return
