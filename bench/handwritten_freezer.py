"""A plain hand-written Python BFS of the freezer model, variant v10 with the refrigerator.

The baseline the compiled engine is measured against: tuples as states, one loop over threads,
no modeling language. It must find the same number of states as the engine (bench/run.py checks).
"""

from __future__ import annotations

import itertools

RUNNING, PUBLISH, CHECK, SLEEP, TRAP, EXITING, EXIT_OOM, EXITED = range(8)
IDLE, MARK, THAW, DONE = range(4)


def initial_states(n: int) -> list[tuple]:
    out = []
    for pcs in itertools.product((RUNNING, SLEEP), repeat=n):
        frozen = tuple(1 if p == SLEEP else 0 for p in pcs)
        out.append((pcs, frozen, (0,) * n, (0,) * n, 0, 0, 0, IDLE, (0,) * n))
    return out


def successors(s: tuple, n: int) -> list[tuple]:
    pc, frozen, sigkill, memdie, gexit, oom_mm, victims, opc, thawed = s
    out = []
    if opc == IDLE:
        out.append((pc, frozen, (1,) * n, memdie, 1, oom_mm, victims, MARK, thawed))
    elif opc == MARK:
        md = (1, *memdie[1:])
        out.append((pc, frozen, sigkill, md, gexit, 1, victims, THAW, thawed))
    elif opc == THAW:
        # thaw_process visits the threads in any order, one per step
        for t in range(n):
            if not thawed[t]:
                fz = (*frozen[:t], 0, *frozen[t + 1:])
                th = (*thawed[:t], 1, *thawed[t + 1:])
                out.append((pc, fz, sigkill, memdie, gexit, oom_mm, victims, THAW, th))
        if all(thawed):
            out.append((pc, frozen, sigkill, memdie, gexit, oom_mm, victims + 1, DONE, thawed))
    freezing = not oom_mm
    lock_held = opc in (MARK, THAW)
    for t in range(n):
        p = pc[t]

        def with_pc(v: int, fz: tuple = frozen, md: tuple = memdie, vic: int = victims,
                    t: int = t) -> tuple:
            return ((*pc[:t], v, *pc[t + 1:]), fz, sigkill, md, gexit, oom_mm, vic, opc, thawed)

        if p == RUNNING:
            if freezing:
                out.append(with_pc(PUBLISH))
            elif sigkill[t]:
                out.append(with_pc(EXITING))
        elif p == PUBLISH:
            out.append(with_pc(CHECK, fz=(*frozen[:t], 1, *frozen[t + 1:])))
        elif p == CHECK:
            if freezing:
                out.append(with_pc(SLEEP))
            else:
                out.append(with_pc(RUNNING, fz=(*frozen[:t], 0, *frozen[t + 1:])))
        elif p == SLEEP:
            if not frozen[t]:
                out.append(with_pc(PUBLISH))
        elif p == EXITING:
            if not (t == 0 and lock_held):
                out.append(with_pc(EXIT_OOM if memdie[t] else EXITED))
        elif p == EXIT_OOM:
            out.append(with_pc(EXITED, md=(*memdie[:t], 0, *memdie[t + 1:]), vic=victims - 1))
    return out


def bfs(n: int) -> tuple[int, int, bool]:
    """States, transitions, and whether oom-victims-balance held."""
    inits = initial_states(n)
    seen = set(inits)
    frontier = inits
    transitions = 0
    ok = True
    while frontier:
        nxt = []
        for s in frontier:
            victims, opc, pc = s[6], s[7], s[0]
            if victims < 0 or (opc == DONE and all(p == EXITED for p in pc) and victims != 0):
                ok = False
            succ = successors(s, n)
            transitions += len(succ)
            for ns in succ:
                if ns not in seen:
                    seen.add(ns)
                    nxt.append(ns)
        frontier = nxt
    return len(seen), transitions, ok
