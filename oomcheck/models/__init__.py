"""The registry of kernel models: what each one is called, its sizes and knobs, how to build it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from oomcheck.checker.indexed.template import IndexedFamily
from oomcheck.checker.language.lang import Model, ModelError, Size
from oomcheck.models import freezer, oomadj, reaper


@dataclass(frozen=True)
class ModelSpec:
    name: str
    doc: str
    build: Callable[[dict[str, int], dict[str, str]], Model]
    knobs: dict[str, tuple[str, ...]]
    default_knobs: dict[str, str]
    sizes: dict[str, tuple[int, int, int]]  # size -> (default, min, max)
    # sizes whose elements the model treats alike, so a proof may cover every value:
    # size -> the domain it sizes
    parametric: dict[str, str] = field(default_factory=dict)
    # sizes that count ordered indices (not interchangeable): proofs for every value by the
    # indexed engine (checker/indexed/)
    indexed: IndexedFamily | None = None

    def check_knobs(self, knobs: dict[str, str]) -> None:
        """Every knob named exists and has one of its values (a clear error otherwise)."""
        for k, v in knobs.items():
            if k not in self.knobs:
                raise ModelError(f"model {self.name} has no knob {k!r} "
                                 f"(knobs: {', '.join(self.knobs)})")
            if v not in self.knobs[k]:
                raise ModelError(f"knob {k} of model {self.name} must be one of "
                                 f"{', '.join(self.knobs[k])}, not {v!r}")

    def instantiate(self, sizes: dict[str, int], knobs: dict[str, str]) -> Model:
        self.check_knobs(knobs)
        full_sizes = {}
        for s, (default, lo, hi) in self.sizes.items():
            v = sizes.get(s, default)
            if isinstance(v, Size) and (s in self.parametric or (
                    self.indexed is not None and s in dict(self.indexed.sizes))):
                full_sizes[s] = v  # built once for every value, by the parametric or indexed engine
                continue
            if not isinstance(v, int) or not lo <= v <= hi:
                raise ModelError(f"size {s} of model {self.name} must be {lo}..{hi}, not {v}")
            full_sizes[s] = v
        extra = set(sizes) - set(self.sizes)
        if extra:
            raise ModelError(f"model {self.name} has no size {sorted(extra)[0]!r} "
                             f"(sizes: {', '.join(self.sizes)})")
        return self.build(full_sizes, {**self.default_knobs, **knobs})


MODELS: dict[str, ModelSpec] = {
    "freezer": ModelSpec(
        "freezer",
        "OOM victim thaw against the freezer (kernel/freezer.c, mm/oom_kill.c)",
        freezer.build, freezer.KNOBS, freezer.DEFAULT_KNOBS, freezer.SIZES,
        parametric={"threads": freezer.THREAD},
    ),
    "reaper": ModelSpec(
        "reaper",
        "OOM reaper and process_mrelease against exit_mmap (mm/oom_kill.c, mm/mmap.c, mm/memory.c)",
        reaper.build, reaper.KNOBS, reaper.DEFAULT_KNOBS, reaper.SIZES,
        indexed=IndexedFamily((("vmas", reaper.VMA), ("ptes", reaper.PTE)),
                              (reaper.PAGE, reaper.VMA, reaper.PTE)),
    ),
    "oomadj": ModelSpec(
        "oomadj",
        "oom_score_adj of mm-sharing processes: __set_oom_adj against clone "
        "(fs/proc/base.c, kernel/fork.c)",
        oomadj.build, oomadj.KNOBS, oomadj.DEFAULT_KNOBS, oomadj.SIZES,
    ),
}


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"no model {name!r} (models: {', '.join(MODELS)})") from None
