"""Choosing an engine for each property, and `auto`, which says which engine answered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from oomcheck.checker.explicit.search import Limits, ProgressFn, check_explicit, peak_rss_mb
from oomcheck.checker.language.lang import Expr, Model, ModelError, Property
from oomcheck.checker.trace import Result

# The Z3 engines are imported where they are used: an explicit check (what CI runs most) then
# starts without Z3 and numpy, in a fifth of the time and half the memory.

ENGINES = ("explicit", "bmc", "induction", "chc", "parametric", "indexed", "auto")


@dataclass
class Options:
    engine: str = "explicit"
    depth: int = 30  # bmc depth, and the largest k of k-induction
    timeout: float = 60.0  # per property, for the Z3 engines
    limits: Limits = field(default_factory=Limits)
    progress: ProgressFn | None = None
    invariant: Expr | None = None  # a user's inductive invariant, for engine induction
    symmetry: bool = True  # explicit search: one state per orbit of interchangeable threads
    por: bool = True  # explicit safety search: partial-order reduction (explicit/por.py)
    deadline: float = float("inf")  # set by run(): --max-seconds for the whole run


def run(model: Model, props: list[Property], opts: Options) -> list[Result]:
    if opts.engine not in ENGINES:
        raise ModelError(f"no engine {opts.engine!r} (engines: {', '.join(ENGINES)})")
    if opts.engine == "explicit":
        return check_explicit(model, props, opts.limits, opts.progress, opts.symmetry, por=opts.por)
    import z3

    from oomcheck.checker.indexed.prove import check_indexed
    from oomcheck.checker.parametric.prove import check_parametric

    z3.set_param("memory_max_size", opts.limits.max_memory_mb)  # Z3 answers unknown past it
    opts = replace(opts, deadline=time.perf_counter() + opts.limits.max_seconds)
    if opts.engine == "auto":
        return _auto(model, props, opts)
    if opts.engine == "parametric":
        return check_parametric(model, props, opts.timeout, opts.limits)
    if opts.engine == "indexed":
        return check_indexed(model, props, opts.timeout, opts.limits)
    return [_symbolic(model, p, opts.engine, opts) for p in props]


def _symbolic(model: Model, p: Property, engine: str, opts: Options) -> Result:
    """One property with a Z3 engine, within what is left of --max-seconds and --max-memory."""
    left = min(opts.timeout, opts.deadline - time.perf_counter())
    if left <= 0:
        return Result(p.name, p.kind, "unknown", engine, strength={"kind": "none"},
                      reason=f"time limit reached ({opts.limits.max_seconds:g} s)")
    r = _z3_engine(model, p, engine, replace(opts, timeout=left))
    if r.verdict == "holds" and peak_rss_mb() > opts.limits.max_memory_mb:
        r.verdict, r.strength = "unknown", {"kind": "none"}
        r.reason = f"memory limit reached ({opts.limits.max_memory_mb} MB)"
    return r


def _z3_engine(model: Model, p: Property, engine: str, opts: Options) -> Result:
    from oomcheck.checker.symbolic.bmc import bmc_liveness, bmc_safety
    from oomcheck.checker.symbolic.chc import check_chc
    from oomcheck.checker.symbolic.induction import check_invariant, k_induction

    if engine == "bmc":
        if p.is_liveness:
            return bmc_liveness(model, p, opts.depth, opts.timeout)
        return bmc_safety(model, p, opts.depth, opts.timeout)
    if p.is_liveness:
        # induction and CHC prove safety only; say so rather than answer with another engine
        return Result(p.name, p.kind, "unknown", engine, strength={"kind": "none"},
                      reason=f"engine {engine} proves safety properties only; "
                             "use bmc, explicit or auto for liveness")
    if engine == "induction":
        if opts.invariant is not None:
            return check_invariant(model, p, opts.invariant, opts.timeout)
        return k_induction(model, p, opts.depth, opts.timeout)
    return check_chc(model, p, opts.timeout)


def _auto(model: Model, props: list[Property], opts: Options) -> list[Result]:
    """A proof for every size first, when the model has a size that can become a symbol (the
    thread count) or sizes that count ordered indices (VMAs, PTEs); then exhaustive search
    (complete for the instance, shortest traces); for what that leaves unknown (a limit hit), CHC
    then k-induction for safety, and BMC for bounded answers. A violation is also replayed for
    every size when it can be."""
    from oomcheck.checker.indexed.prove import IndexedProver, family_of, violated_at_lo
    from oomcheck.checker.indexed.prove import prove_one as prove_indexed
    from oomcheck.checker.indexed.violate import smallest_violation, with_every
    from oomcheck.checker.parametric.prove import Prover, prove_one, violation_for_all

    prover, why_not = None, ""
    iprover, iwhy_not = None, ""
    if model.family is not None:
        try:
            prover = Prover(model, opts.timeout, opts.limits)
        except ModelError as e:  # not symmetric, or a small instance breaks its own types
            why_not = str(e)
    elif family_of(model) is not None:
        try:
            iprover = IndexedProver(model, opts.timeout, opts.limits)
        except ModelError as e:  # not one template over its indices
            iwhy_not = str(e)
    proved: dict[str, Result] = {}
    for p in props:
        if prover is not None:
            r = prove_one(prover, p, props)
        elif iprover is not None and not p.is_liveness:
            if violated_at_lo(iprover, p):
                continue  # the explicit search below finds it; the violation is shown for every size
            r = prove_indexed(iprover, p, props)
        else:
            continue
        if r.verdict == "holds":
            proved[p.name] = r
        elif iprover is not None:
            iwhy_not = iwhy_not or r.reason
    rest = [p for p in props if p.name not in proved]
    first = dict(zip([p.name for p in rest], check_explicit(model, rest, opts.limits, opts.progress,
                                                    opts.symmetry, por=opts.por),
                     strict=True))
    out = []
    for p in props:
        tried = ["parametric"] if prover is not None else ["indexed"] if iprover is not None and \
            not p.is_liveness else []
        if p.name in proved:
            r = proved[p.name]
        else:
            r = first[p.name]
            tried.append("explicit")
            if r.verdict == "unknown":
                chain = ["bmc"] if p.is_liveness else ["chc", "induction", "bmc"]
                for engine in chain:
                    tried.append(engine)
                    r2 = _symbolic(model, p, engine, opts)
                    if r2.verdict != "unknown":
                        r = r2
                        break
            if r.verdict == "violated" and family_of(model) is not None:
                small = smallest_violation(model, family_of(model), p, opts.limits)  # type: ignore[arg-type]
                if small is not None:
                    r = with_every(iprover, p, small, opts.limits, iwhy_not)
            if r.verdict == "violated" and prover is not None:
                every = violation_for_all(prover, p, opts.limits)
                if every is not None:
                    r.strength = {**r.strength, "every": every.strength["covers"]}
                    r.reason = every.reason
        r.strength = {**r.strength, "auto": tried}
        if why_not:
            r.strength["parametric"] = f"not tried: {why_not}"
        if family_of(model) is not None and p.name not in proved and not p.is_liveness:
            r.strength["indexed"] = f"not proved: {iwhy_not}" if iwhy_not else "not proved"
        out.append(r)
    return out
