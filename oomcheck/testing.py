"""Assert a property of a model variant in an ordinary test.

    from oomcheck.testing import assert_holds, assert_violated, check

    def test_my_patch_lets_the_victim_exit():
        assert_holds("freezer", variant="patches/my_thaw.py", threads=3, property="victim-exits")

    def test_the_old_kernel_still_hangs():
        r = assert_violated("freezer", variant="pre", threads=2, property="victim-exits")
        assert len(r["victim-exits"].trace.steps) <= 12

A variant is a catalog name or the path of a variant file (a patch on a catalog variant, see
the README); a built `Model` may be passed instead of a name. A failing assertion's message is
the verdict, its strength and the counterexample, as `oomcheck check` prints them. With the
pytest plugin (installed with oomcheck) the `oomcheck` fixture gives the same three functions.

Why assert_holds asks for more than the verdict: a "holds" up to a BMC depth, or one that a
limit cut short, is not an answer for every execution; it fails unless bounded_ok=True.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from oomcheck.catalog import model_for
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.render import result_text
from oomcheck.checker.trace import Result
from oomcheck.cli import is_proof

__all__ = ["Checked", "Checker", "assert_holds", "assert_violated", "check"]


@dataclass
class Checked:
    """The results of one check: one Result per property, in the order asked."""

    model: Model
    results: list[Result]

    def __getitem__(self, prop: str) -> Result:
        for r in self.results:
            if r.property == prop:
                return r
        raise KeyError(f"{prop!r} was not checked (checked: {', '.join(self.verdicts)})")

    @property
    def verdicts(self) -> dict[str, str]:
        return {r.property: r.verdict for r in self.results}

    @property
    def holds(self) -> bool:
        """Every property holds, proved or by a complete search (no bound, no limit)."""
        return all(r.verdict == "holds" and is_proof(r) for r in self.results)

    @property
    def violated(self) -> bool:
        """Some property has a counterexample."""
        return any(r.verdict == "violated" for r in self.results)

    def label(self) -> str:
        sizes = ",".join(f"{k}={v}" for k, v in self.model.sizes.items())
        return f"{self.model.name} {self.model.variant or '(model)'} [{sizes}]"

    def text(self) -> str:
        """What `oomcheck check` prints for these results (counterexamples included)."""
        return "\n".join(result_text(r) for r in self.results)


@dataclass
class Checker:
    """check / assert_holds / assert_violated with fixed limits (the `oomcheck` fixture's)."""

    limits: Limits = field(default_factory=Limits)

    def check(self, model: str | Model, variant: str | None = None, *,
              property: str | Sequence[str] | None = None,
              knobs: Mapping[str, str] | None = None, engine: str = "explicit",
              spec: str | Path | None = None, depth: int = 30, timeout: float = 60.0,
              symmetry: bool = True, **sizes: int) -> Checked:
        """Check a variant (a catalog name or a variant file) of a model at the given sizes
        (threads=3, ...) with one engine; every property of the model unless `property`."""
        if isinstance(model, Model):
            if variant is not None or sizes or knobs or spec is not None:
                raise ModelError("a built model takes no variant, sizes, knobs or spec")
            m = model
        else:
            if variant is None:
                raise ModelError(f"check({model!r}) needs variant=: a catalog variant or a file")
            m, _ = model_for(model, variant, Path(spec) if spec is not None else None,
                             dict(sizes), dict(knobs or {}))
        names = [property] if isinstance(property, str) else list(property or [])
        opts = Options(engine, depth, timeout, self.limits, symmetry=symmetry)
        return Checked(m, run(m, m.select(names), opts))

    def assert_holds(self, model: str | Model, variant: str | None = None, *,
                     bounded_ok: bool = False, **kw: object) -> Checked:
        """Check, and fail unless every property holds (proved, or by a complete search; also
        up to a bound when bounded_ok). The failure message shows each other result."""
        c = self.check(model, variant, **kw)  # type: ignore[arg-type]
        bad = [r for r in c.results
               if r.verdict != "holds" or not (bounded_ok or is_proof(r))]
        if bad:
            raise AssertionError(_message(c, bad, "expected to hold"))
        return c

    def assert_violated(self, model: str | Model, variant: str | None = None,
                        **kw: object) -> Checked:
        """Check, and fail unless every property is violated (has a counterexample)."""
        c = self.check(model, variant, **kw)  # type: ignore[arg-type]
        bad = [r for r in c.results if r.verdict != "violated"]
        if bad:
            raise AssertionError(_message(c, bad, "expected a counterexample"))
        return c


def _message(c: Checked, bad: list[Result], wanted: str) -> str:
    head = f"{c.label()}: {', '.join(r.property for r in bad)} {wanted}, got " + \
        ", ".join(f"{r.verdict}" + ("" if r.verdict != "holds" or is_proof(r) else " (bounded only)")
                  for r in bad)
    return head + "\n" + "\n".join(result_text(r) for r in bad)


_DEFAULT = Checker()
check = _DEFAULT.check
assert_holds = _DEFAULT.assert_holds
assert_violated = _DEFAULT.assert_violated
