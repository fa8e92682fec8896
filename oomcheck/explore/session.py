"""What the trace explorer shows of one model instance, as JSON-ready dicts: the initial states,
each state's variables, property values and enabled steps (with the state each leads to), and the
counterexamples of the explicit search. The web server only serves this; every step is built by
checker/trace.py's build_trace and labelled by checker/render.py, as in the text view.

A state travels as a token: the packed integer of the compiled model (checker/language/
compile.py, no symmetry) in hex. A token is checked before it is used (every field within its
type), so a hand-edited one is refused with a reason, never expanded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.compile import Compiled, compile_model
from oomcheck.checker.language.lang import Model, ModelError, Property
from oomcheck.checker.render import actor_order, initial_text, short_label, strength_text, trace_text
from oomcheck.checker.trace import Result, Step, Trace, build_trace


def _sizes(model: Model) -> str:
    return ", ".join(f"{k}={v}" for k, v in model.sizes.items())


class Session:
    """One model instance, compiled once; the checker's results for the chosen properties."""

    def __init__(self, model: Model, props: list[Property], limits: Limits | None = None) -> None:
        self.model = model
        self.props = props
        self.limits = limits or Limits()
        self.compiled: Compiled = compile_model(model)
        self.layout = self.compiled.layout
        self.instances = self.compiled.instances
        self.actors = actor_order({i.actor for i in self.instances})
        self._final = self.compiled.predicate(model.final)
        self._preds: dict[str, tuple[Callable[[int], bool] | None, Callable[[int], bool] | None]] = {}
        for p in props:
            goal = self.compiled.predicate(p.expr) if p.expr is not None else None
            pre = self.compiled.predicate(p.pre) if p.pre is not None else None
            self._preds[p.name] = (goal, pre)
        self._results: dict[str, Result] | None = None
        self._lock = threading.Lock()

    # -- tokens ------------------------------------------------------------------------------

    @staticmethod
    def token(s: int) -> str:
        return format(s, "x")

    def parse(self, tok: str) -> int:
        """The state a token names, or a ModelError saying why it names none."""
        try:
            s = int(tok, 16)
        except (TypeError, ValueError):
            raise ModelError(f"not a state token: {tok!r}") from None
        if s < 0 or s >> self.layout.bits:
            raise ModelError(f"state token {tok!r} has more than {self.layout.bits} bits")
        for k, v in enumerate(self.layout.decode(s)):
            if v not in self.layout.slots[k][2].type.values():
                raise ModelError(f"state token {tok!r}: {self.layout.name(k)}={v} is outside its type")
        return s

    # -- the model and its states ------------------------------------------------------------

    def overview(self) -> dict:
        m = self.model
        return {
            "model": m.name, "variant": m.variant, "sizes": m.sizes, "knobs": m.knobs,
            "title": f"{m.name} {m.variant} ({_sizes(m)})",
            "provenance": " ".join(m.provenance.split()),
            "actors": self.actors,
            "properties": [{"name": p.name, "kind": p.kind, "doc": p.doc} for p in self.props],
            "initial": [self.token(s) for s in self.compiled.initial_states()],
        }

    def successors(self, s: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        self.compiled.expand(s, out)
        return out

    def step_json(self, s: int, aid: int, t: int) -> dict:
        """One step as the text view sees it (function, actor, changed variables), plus the
        tokens of both ends and the short label of its cell."""
        step = build_trace(self.layout, self.instances, [s, t], [aid]).steps[0]
        return _step_json(step, aid, self.instances[aid].action.fair, self.token(s), self.token(t))

    def state(self, tok: str) -> dict:
        s = self.parse(tok)
        vals = self.layout.decode(s)
        out: dict = {
            "token": tok,
            "vars": [{"name": n, "index": i, "value": self.layout.show(k, vals[k])}
                     for k, (n, i, _) in enumerate(self.layout.slots)],
            "final": self._final(s),
        }
        try:
            succ = self.successors(s)
        except ModelError as e:  # a step leaves its type here: the model's error, shown
            out.update(successors=[], error=str(e), deadlock=False)
        else:
            out["successors"] = [self.step_json(s, aid, t) for aid, t in succ]
            out["deadlock"] = not succ and not out["final"]
        out["properties"] = [self._value(p, s, out["deadlock"]) for p in self.props]
        return out

    def _value(self, p: Property, s: int, deadlock: bool) -> dict:
        """A property read in one state: an invariant true or false, a goal reached or not."""
        goal, pre = self._preds[p.name]
        try:
            if p.kind == "deadlock":
                ok, text = not deadlock, "deadlock: no step enabled" if deadlock else "steps enabled"
            elif p.kind == "invariant":
                assert goal is not None
                ok = goal(s)
                text = "holds here" if ok else "violated here"
            elif p.kind == "eventually":
                assert goal is not None
                ok = goal(s)
                text = "goal reached" if ok else "goal not reached yet"
            else:  # leads_to
                assert goal is not None and pre is not None
                g, q = goal(s), pre(s)
                ok = g or not q
                text = "goal reached" if g else ("premise true, goal pending" if q else "premise false")
        except ModelError as e:
            return {"name": p.name, "kind": p.kind, "ok": None, "text": f"error: {e}"}
        return {"name": p.name, "kind": p.kind, "ok": ok, "text": text}

    # -- the checker's answers ---------------------------------------------------------------

    def results(self) -> dict[str, Result]:
        """The explicit search of every chosen property, once (one exploration serves all)."""
        with self._lock:
            if self._results is None:
                rs = check_explicit(self.model, self.props, self.limits)
                self._results = {r.property: r for r in rs}
            return self._results

    def verdicts(self) -> list[dict]:
        return [{"property": r.property, "kind": r.kind, "verdict": r.verdict,
                 "strength": strength_text(r), "reason": r.reason,
                 "steps": len(r.trace.steps) if r.trace is not None else None}
                for r in self.results().values()]

    def counterexample(self, name: str) -> dict:
        """The property's counterexample as tokens and steps, each step replayed on the compiled
        model (it must be one of the enabled steps of the state before it)."""
        results = self.results()
        if name not in results:
            raise ModelError(f"no property {name!r} here (properties: {', '.join(results)})")
        r = results[name]
        out: dict = {"property": r.property, "kind": r.kind, "verdict": r.verdict,
                     "strength": strength_text(r), "reason": r.reason}
        if r.trace is None:
            return out
        trace: Trace = r.trace
        assert trace.path is not None
        states, actions = trace.path
        for j, aid in enumerate(actions):
            if (aid, states[j + 1]) not in self.successors(states[j]):
                raise ModelError(f"counterexample of {name}: step {j + 1} does not replay")
        toks = [self.token(s) for s in states]
        out.update(
            states=toks,
            steps=[_step_json(st, aid, self.instances[aid].action.fair, toks[j], toks[j + 1])
                   for j, (st, aid) in enumerate(zip(trace.steps, actions, strict=True))],
            loop_start=trace.loop_start, stutter=trace.stutter, never=trace.never,
            text=initial_text(trace) + "\n\n" + trace_text(trace),
        )
        return out


def _step_json(step: Step, aid: int, fair: bool, frm: str, to: str) -> dict:
    return {**step.to_json(), "id": aid, "label": short_label(step), "fair": fair,
            "from": frm, "to": to}
