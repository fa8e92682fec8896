"""Choosing an engine for each property, and `auto`, which says which engine answered."""

from __future__ import annotations

from dataclasses import dataclass, field

from .bmc import bmc_liveness, bmc_safety
from .chc import check_chc
from .explicit import Limits, ProgressFn, check_explicit
from .induction import check_invariant, k_induction
from .lang import Expr, Model, ModelError, Property
from .trace import Result

ENGINES = ("explicit", "bmc", "induction", "chc", "auto")


@dataclass
class Options:
    engine: str = "explicit"
    depth: int = 30  # bmc depth, and the largest k of k-induction
    timeout: float = 60.0  # per property, for the Z3 engines
    limits: Limits = field(default_factory=Limits)
    progress: ProgressFn | None = None
    invariant: Expr | None = None  # a user's inductive invariant, for engine induction


def run(model: Model, props: list[Property], opts: Options) -> list[Result]:
    if opts.engine not in ENGINES:
        raise ModelError(f"no engine {opts.engine!r} (engines: {', '.join(ENGINES)})")
    if opts.engine == "explicit":
        return check_explicit(model, props, opts.limits, opts.progress)
    if opts.engine == "auto":
        return _auto(model, props, opts)
    return [_symbolic(model, p, opts.engine, opts) for p in props]


def _symbolic(model: Model, p: Property, engine: str, opts: Options) -> Result:
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
    """Exhaustive search first (complete for the instance, shortest traces); for what it leaves
    unknown (a limit hit), CHC then k-induction for safety, and BMC for bounded answers."""
    first = check_explicit(model, props, opts.limits, opts.progress)
    out = []
    for p, r in zip(props, first, strict=True):
        tried = ["explicit"]
        if r.verdict == "unknown":
            chain = ["bmc"] if p.is_liveness else ["chc", "induction", "bmc"]
            for engine in chain:
                tried.append(engine)
                r2 = _symbolic(model, p, engine, opts)
                if r2.verdict != "unknown":
                    r = r2
                    break
        r.strength = {**r.strength, "auto": tried}
        out.append(r)
    return out
