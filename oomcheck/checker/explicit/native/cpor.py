"""C tables and functions of the partial-order reduction (por.py) for one compiled model: the
same dependency masks, visibility and necessary enabling sets, so the C layer search picks the
same ample sets as the Python one (runtime.c's `ample`)."""

from __future__ import annotations

from oomcheck.checker.explicit.native.ccode import CGen
from oomcheck.checker.explicit.por import PorTables
from oomcheck.checker.language.compile import Compiled


def _words(mask: int, mw: int) -> str:
    return "{" + ", ".join(f"0x{(mask >> (64 * i)) & (2**64 - 1):x}ULL" for i in range(mw)) + "}"


def generate_por(comp: Compiled, tables: PorTables | None) -> str:
    """POR_ON, NT (transitions, failures included), MW (words per mask), por_dep, por_visible,
    por_masks and por_nes(u, s): the index in por_masks of a necessary enabling set of the
    disabled transition u in s (-1 on a model error: the caller takes every transition)."""
    if tables is None:
        return ("#define POR_ON 0\n#define NT 1\n#define MW 1\n#define POR_FULL 0\n"
                "static const uint64_t por_dep[1][1] = {{0}};\n"
                "static const uint64_t por_visible[1] = {0};\n"
                "static const uint64_t por_masks[1][1] = {{0}};\n"
                "static int por_nes(int u, const uint64_t *s) { (void)u; (void)s; return -1; }\n")
    nt = tables.size
    mw = max(1, (nt + 63) // 64)
    masks: dict[int, int] = {}

    def mask_ix(m: int) -> int:
        return masks.setdefault(m, len(masks))

    cases = []
    for u in range(nt):
        t = u if u < tables.n else tables.fails[u - tables.n]
        if u >= tables.n and tables.guard_raises[t]:
            tests = list(zip([c.expr for c in tables.conj[t]], tables.fail_nes_prefix[t], strict=True))
        else:
            tests = [(c.expr, c.nes) for c in tables.conj[t]]
        g = CGen(comp)
        body = [f"        if (!{g.truth(e, {})}) return {mask_ix(m)};" for e, m in tests]
        body.append(f"        return {mask_ix(tables.fail_nes_all[t])};")
        pre = ["    " + x for x in g.prelude()]
        cases.append(f"    case {u}: {{\n" + "\n".join(pre + body) + "\n    }")
    full = (1 << nt) - 1
    mask_ix(full)
    dep = ",\n".join("    " + _words(d, mw) for d in tables.dep[:tables.n])
    tab = ",\n".join("    " + _words(m, mw) for m in masks)
    return (f"#define POR_ON 1\n#define NT {nt}\n#define MW {mw}\n#define POR_FULL {masks[full]}\n"
            f"static const uint64_t por_dep[{tables.n}][MW] = {{\n{dep}\n}};\n"
            f"static const uint64_t por_visible[MW] = {_words(tables.visible, mw)};\n"
            f"static const uint64_t por_masks[{len(masks)}][MW] = {{\n{tab}\n}};\n"
            "#define ERR_RET (-1)\n"
            "static int por_nes(int u, const uint64_t *s) {\n    switch (u) {\n"
            + "\n".join(cases) + "\n    }\n    return POR_FULL;\n}\n#undef ERR_RET\n")
