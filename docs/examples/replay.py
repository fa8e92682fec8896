"""Replay the counterexamples of `oomcheck check --format json` with the reference interpreter.

    python3 -m oomcheck check freezer --variant v8 --threads 2 --format json > v8.json
    python3 docs/examples/replay.py v8.json

For each violated property, the model is rebuilt from the JSON header (model, variant, sizes,
knobs); then, from the trace's initial state, each step is re-run: the action instance with the
step's label must be enabled and must change exactly the variables the trace lists. The last state
must equal the trace's `final`, and for an invariant it must break the invariant. This is what
the tests do with every counterexample (tests/test_engine_vs_reference.py); docs/traces.md §7.
A variant given as a file path is not named in the header: pass it as a second argument.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from oomcheck.catalog import model_for
from oomcheck.checker.language.interp import evaluate, step


def replay(model, trace: dict) -> dict:  # type: ignore[no-untyped-def]
    """The last state of the trace, each step checked against the model; AssertionError if not."""
    slots = {model.slot_name(n, i): (n, i) for n, i, _ in model.slots()}
    decode = {key: {model.vars[key[0]].type.show(v): v for v in model.vars[key[0]].type.values()}
              for key in slots.values()}
    state = {slots[k]: decode[slots[k]][v] for k, v in trace["initial"].items()}
    by_label: dict[str, list] = {}
    for inst in model.instances():
        by_label.setdefault(inst.label, []).append(inst)
    for j, s in enumerate(trace["steps"], 1):
        want = {slots[k]: decode[slots[k]][c["new"]] for k, c in s["changes"].items()}
        nexts = [n for n in (step(model, i, state) for i in by_label.get(s["action"], []))
                 if n is not None and {k: v for k, v in n.items() if v != state[k]} == want]
        assert nexts, f"step {j} ({s['actor']}: {s['action']}) is not a transition of the model here"
        state = nexts[0]
        print(f"  {j:3}. {s['actor']:14} {s['action']:32} ok")
    return state


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[1]).read_text())
    variant = argv[2] if len(argv) > 2 else data["variant"]
    model, _ = model_for(data["model"], variant, None, data["sizes"], data["knobs"])
    for r in data["results"]:
        if r["verdict"] != "violated" or "trace" not in r:
            continue
        print(f"{r['property']}:")
        last = replay(model, r["trace"])
        shown = {model.slot_name(n, i): model.vars[n].type.show(v) for (n, i), v in last.items()}
        assert shown == r["trace"]["final"], "the replay ends elsewhere than the trace's final state"
        prop = model.properties[r["property"]]
        if prop.kind == "invariant":
            assert not evaluate(model, prop.expr, last), "the last state satisfies the invariant"
            print("  the last state breaks the invariant")
        else:
            print(f"  ends in the trace's final state ({prop.kind}: see loop_start / stutter)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
