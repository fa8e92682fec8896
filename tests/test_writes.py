"""One step writes each slot at most once (language/writes.py): the variants that break the rule
are refused with the same line by every engine that runs a size, and the engines that prove for
every size answer unknown, never holds or violated."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck.catalog import model_for
from oomcheck.checker.engines import Options, run
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.export.promela import to_promela

VARIANTS = Path(__file__).parent / "variants"

CASES = [
    ("drop_token_twice", "thread-0-never-holds", "action take assigns held[0] twice (in take_token(t=0))"),
    ("owner_and_taker", "one-holder", "action take may assign held twice (in take_token(t=0)"),
    ("count_per_slot", "last-is-0", "action scan assigns last twice (in scan_slots(t=0))"),
]


def variant(name: str, threads: int) -> Model:
    return model_for("freezer", str(VARIANTS / f"{name}.py"), None, {"threads": threads}, {})[0]


@pytest.mark.parametrize(("name", "prop", "line"), CASES)
@pytest.mark.parametrize("threads", [2, 3])
def test_every_engine_that_runs_a_size_refuses_a_double_write(name: str, prop: str, line: str,
                                                             threads: int) -> None:
    m = variant(name, threads)
    attempts = {
        "instances": lambda: m.instances(),
        "explicit": lambda: check_explicit(m, [m.properties[prop]], Limits(max_seconds=60)),
        "explicit, unreduced": lambda: check_explicit(m, [m.properties[prop]], Limits(max_seconds=60),
                                                      symmetry=False, por=False),
        "promela": lambda: to_promela(m, [m.properties[prop]]),
    }
    attempts.update({e: (lambda e=e: run(m, [m.properties[prop]], Options(e, timeout=30)))
                     for e in ("bmc", "induction", "chc", "auto")})
    for engine, attempt in attempts.items():
        with pytest.raises(ModelError) as err:
            attempt()
        assert line in str(err.value), engine


@pytest.mark.parametrize(("name", "prop", "line"), CASES)
def test_the_engines_for_every_size_do_not_claim_a_double_write(name: str, prop: str, line: str) -> None:
    m = variant(name, 3)
    for engine in ("parametric", "indexed"):
        r = run(m, [m.properties[prop]], Options(engine, timeout=30))[0]
        assert r.verdict == "unknown", (engine, r.verdict, r.reason)


def test_the_counter_abstraction_refuses_a_double_write_itself() -> None:
    """The parametric engine's own step (counters.apply) refuses the second write rather than
    letting it win, even before the sample size is compiled."""
    m = variant("drop_token_twice", 3)
    r = run(m, [m.properties["thread-0-never-holds"]], Options("parametric", timeout=30))
    reasons = {x.reason for x in r}
    assert reasons == {"not parametric: held[0] assigned twice in one step"}, reasons


def test_two_elements_and_a_broadcast_to_other_elements_are_one_write_each() -> None:
    """The rule is about slots, not arrays: the reaper writes every VMA's element of one array
    in one step (a broadcast over the VMAs) and is accepted."""
    m = model_for("reaper", "reverse", None, {"vmas": 3, "ptes": 1}, {})[0]
    broadcasts = [i for i in m.instances() if i.action.each]
    assert broadcasts and all(len(i.updates) > 1 for i in broadcasts)
