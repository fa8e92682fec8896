"""A brute-force reference checker: enumerate every state, step with the interpreter, and decide
fair cycles from the definition. Slow on purpose; it shares no code with the engines except the
modeling language's data structures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx

from oomcheck.checker.language.interp import evaluate, step
from oomcheck.checker.language.lang import Model, Property

State = tuple[tuple[tuple[str, int | None], int], ...]


def freeze(d: dict) -> State:
    return tuple(sorted(d.items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])))


@dataclass
class Reference:
    model: Model
    init: set[State]
    reach: set[State]
    graph: nx.MultiDiGraph  # edges carry the action instance id as key

    def enabled(self, s: State) -> set[int]:
        return {k for _, _, k in self.graph.out_edges(s, keys=True)}


def explore(model: Model) -> Reference:
    slots = model.slots()
    choices = model.init_choices()
    inits = set()
    for combo in itertools.product(*choices):
        st = {(n, i): v for (n, i, _), v in zip(slots, combo, strict=True)}
        if all(evaluate(model, c, st) for c in model.init_constraints):
            inits.add(freeze(st))
    insts = model.instances()
    g = nx.MultiDiGraph()
    reach = set(inits)
    frontier = list(inits)
    while frontier:  # plain fixpoint, no BFS bookkeeping
        new = []
        for s in frontier:
            g.add_node(s)
            for inst in insts:
                t = step(model, inst, dict(s))
                if t is not None:
                    ft = freeze(t)
                    g.add_edge(s, ft, key=inst.id)
                    if ft not in reach:
                        reach.add(ft)
                        new.append(ft)
        frontier = new
    return Reference(model, inits, reach, g)


def holds(ref: Reference, e, s: State) -> bool:
    return bool(evaluate(ref.model, e, dict(s)))


def shortest_bad(ref: Reference, bad) -> int | None:
    """Length of a shortest path from an initial state to a state satisfying bad(s)."""
    dist = nx.multi_source_dijkstra_path_length(ref.graph, ref.init) if ref.init else {}
    ds = [d for s, d in dist.items() if bad(s)]
    return min(ds) if ds else None


def invariant_cex_length(ref: Reference, p: Property) -> int | None:
    return shortest_bad(ref, lambda s: not holds(ref, p.expr, s))


def deadlock_cex_length(ref: Reference) -> int | None:
    return shortest_bad(
        ref, lambda s: ref.graph.out_degree(s) == 0 and not holds(ref, ref.model.final, s))


def fair_lasso_exists(ref: Reference, p: Property, max_subset: int = 12) -> bool:
    """Is there a fair infinite path that violates p? Decided two ways where small enough:
    by enumerating every candidate set of states a closed walk can visit, and by maximal SCCs."""
    fair = {i.id for i in ref.model.instances() if i.action.fair}
    notq = {s for s in ref.reach if not holds(ref, p.expr, s)}
    if p.kind == "eventually":
        starts = {s for s in ref.init if s in notq}
    else:
        starts = {s for s in notq if holds(ref, p.pre, s)}
    sub = ref.graph.subgraph(notq)
    region: set[State] = set()
    for s in starts:
        region |= nx.descendants(sub, s) | {s}
    by_scc = _fair_by_scc(ref, sub.subgraph(region), fair)
    if len(region) <= max_subset:
        assert by_scc == _fair_by_subsets(ref, sub.subgraph(region), fair)
    return by_scc


def _fair_set(ref: Reference, g: nx.MultiDiGraph, members: set[State], fair: set[int]) -> bool:
    inner = [(u, v, k) for u, v, k in g.subgraph(members).edges(keys=True)]
    if len(members) == 1 and not inner:
        (s,) = members
        return not (ref.enabled(s) & fair)  # may stay here forever
    if not nx.is_strongly_connected(nx.DiGraph(g.subgraph(members))) or not inner:
        return False
    taken = {k for _, _, k in inner}
    for a in fair:
        if a not in taken and all(a in ref.enabled(s) for s in members):
            return False
    return True


def _fair_by_subsets(ref: Reference, g: nx.MultiDiGraph, fair: set[int]) -> bool:
    nodes = list(g.nodes)
    for r in range(1, len(nodes) + 1):
        for combo in itertools.combinations(nodes, r):
            if _fair_set(ref, g, set(combo), fair):
                return True
    return False


def _fair_by_scc(ref: Reference, g: nx.MultiDiGraph, fair: set[int]) -> bool:
    for comp in nx.strongly_connected_components(g):
        if _fair_set(ref, g, set(comp), fair):
            return True
        if any(_fair_set(ref, g, {s}, fair) for s in comp):
            return True
    return False
