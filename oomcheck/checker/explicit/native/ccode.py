"""C source for one compiled model: the same expressions compile.py turns into Python, as C.

The generated functions work on a state of W uint64 words (the layout's bit fields, possibly
straddling words). Semantics follow compile.py's `_Gen` exactly: values are int64, booleans 0/1,
`and`/`or`/`ite` short-circuit, quantifiers are unrolled, a variable array index is checked at
run time. Any error (index out of range, a value outside its type) makes the function return an
error code; the Python side then re-runs its own expand on that state to raise the very same
ModelError, so messages cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from oomcheck.checker.explicit.por import PorTables
from oomcheck.checker.language.compile import Compiled, const_value
from oomcheck.checker.language.lang import BoolType, Const, Expr, Index, ModelError, Op, Param, Quant, Var


class NativeUnsupportedError(Exception):
    """The model is outside what the C generator handles; the Python engine runs instead."""


def words_for(bits: int) -> int:
    return max(1, (bits + 63) // 64)


def _read(off: int, w: int) -> str:
    """C expression: the raw field at bit offset off, w bits wide, of the state `s`."""
    i, b = divmod(off, 64)
    mask = f"0x{(1 << w) - 1:x}ULL"
    x = f"(s[{i}] >> {b})" if b else f"s[{i}]"
    if b + w > 64:
        x = f"({x} | (s[{i + 1}] << {64 - b}))"
    return f"({x} & {mask})"


class CGen:
    """Expressions to C, remembering which slots they read (decoded once per state)."""

    def __init__(self, comp: Compiled):
        self.comp = comp
        self.layout = comp.layout
        self.model = comp.model
        self.used: set[int] = set()
        self.n_tmp = 0

    def local(self, k: int) -> str:
        self.used.add(k)
        return f"v{k}"

    def tmp(self) -> str:
        self.n_tmp += 1
        return f"_t{self.n_tmp}"

    def check_index(self, idx: str, n: int) -> str:
        """The index, or the function's error return when it is outside 0..n-1."""
        t = self.tmp()
        return f"({{ int64_t {t} = {idx}; if ({t} < 0 || {t} >= {n}) return ERR_RET; {t}; }})"

    def expr(self, e: Expr, qenv: dict[str, int]) -> str:
        if isinstance(e, Const):
            return f"((int64_t){e.value})"
        if isinstance(e, Param):
            if e.name not in qenv:
                raise ModelError(f"parameter {e.name} is not bound here")
            return f"((int64_t){qenv[e.name]})"
        if isinstance(e, Var):
            return self.local(self.layout.slot_of(e.name, None))
        if isinstance(e, Index):
            i = const_value(e.index, qenv)
            if i is not None:
                return self.local(self.layout.slot_of(e.array, i))
            ks = self.layout.array_slots[e.array]
            elems = ", ".join(self.local(k) for k in ks)
            return f"(((const int64_t[]){{{elems}}})[{self.check_index(self.expr(e.index, qenv), len(ks))}])"
        if isinstance(e, Op):
            op = e.op
            if op in ("and", "or", "not", "implies"):
                b = [self.truth(x, qenv) for x in e.args]
                if op == "and":
                    return f"((int64_t)({b[0]} && {b[1]}))"
                if op == "or":
                    return f"((int64_t)({b[0]} || {b[1]}))"
                if op == "not":
                    return f"((int64_t)!{b[0]})"
                return f"((int64_t)(!{b[0]} || {b[1]}))"
            a = [self.expr(x, qenv) for x in e.args]
            if op in ("+", "-"):
                return f"({a[0]} {op} {a[1]})"
            if op in ("==", "!=", "<", "<="):
                return f"((int64_t)({a[0]} {op} {a[1]}))"
            if op == "ite":
                return f"({a[0]} ? {a[1]} : {a[2]})"
            raise ModelError(f"unknown operator {op}")
        if isinstance(e, Quant):
            n = self.model.domains.get(e.domain)
            if n is None:
                raise ModelError(f"quantifier over unknown domain {e.domain}")
            parts = [self.truth(e.body, {**qenv, e.var: i}) for i in range(n)]
            if e.kind == "forall":
                return "((int64_t)(" + " && ".join(parts) + "))"
            if e.kind == "exists":
                return "((int64_t)(" + " || ".join(parts) + "))"
            if e.kind == "count":
                return "((int64_t)0 + " + " + ".join(f"(int64_t){p}" for p in parts) + ")"
            raise ModelError(f"unknown quantifier {e.kind}")
        raise ModelError(f"not an expression: {e!r}")

    def truth(self, e: Expr, qenv: dict[str, int]) -> str:
        return f"({self.expr(e, qenv)} != 0)"

    def prelude(self) -> list[str]:
        lay = self.layout
        out = []
        for k in sorted(self.used):
            field = _read(lay.offset[k], lay.width[k])
            lo = lay.lo[k]
            out.append(f"    const int64_t v{k} = (int64_t){field} + ({lo});" if lo
                       else f"    const int64_t v{k} = (int64_t){field};")
        return out


def _xor_field(target: str, off: str | int, w: int, delta: str) -> list[str]:
    """Statements XOR-ing delta (a uint64 < 2^w) into the field at off of target."""
    if isinstance(off, int):
        i, b = divmod(off, 64)
        out = [f"{target}[{i}] ^= {delta} << {b};" if b else f"{target}[{i}] ^= {delta};"]
        if b + w > 64:
            out.append(f"{target}[{i + 1}] ^= {delta} >> {64 - b};")
        return out
    return [f"xor_field({target}, {off}, {w}, {delta});"]


def generate(comp: Compiled, invariants: Sequence[Expr], predicates: Sequence[Expr] = (),
             por: PorTables | None = None) -> str:
    """The model's part of the C source: W, N_ACTIONS, expand(), is_final(), canon(),
    eval_pred(k, s) for the liveness properties' goals and premises (the graph search's), and
    the partial-order reduction's tables (cpor.py)."""
    lay = comp.layout
    if any(w > 62 for w in lay.width):
        raise NativeUnsupportedError("a variable wider than 62 bits")
    if len(invariants) > 64:
        raise NativeUnsupportedError("more than 64 invariants")
    if len(comp.instances) > 0xFFFF:
        raise NativeUnsupportedError("more than 65535 action instances")
    n_words = words_for(lay.bits)
    g = CGen(comp)
    body: list[str] = ["    uint64_t bad = 0;", "    int cnt = 0;"]
    for bit, e in enumerate(invariants):
        body.append(f"    if (!({g.expr(e, {})} != 0)) bad |= 0x{1 << bit:x}ULL;")
    tables: list[str] = []
    for inst in comp.instances:
        body.append(f"    /* {inst.id}: {inst.action.name} {dict(inst.binding)} */".replace("*/ ", "* / "))
        body.append(f"    if ({g.expr(inst.guard, {})} != 0) {{")
        body += ["        " + x for x in _update_c(g, inst, tables)]
        body.append("    }")
    body += ["    *nout = cnt;", "    *bad_out = bad;", "    return 0;"]
    expand = ("#define ERR_RET 1\n"
              "static int expand(const uint64_t *s, uint64_t *out, uint16_t *aout, int *nout,"
              " uint64_t *bad_out) {\n"
              + "\n".join(g.prelude() + body) + "\n}\n#undef ERR_RET\n")
    gf = CGen(comp)
    fin = gf.expr(comp.model.final, {})
    final = ("#define ERR_RET (-1)\n"
             "static int is_final(const uint64_t *s) {\n" + "\n".join(gf.prelude())
             + f"\n    return ({fin}) != 0;\n}}\n#undef ERR_RET\n")
    head = [f"#define W {n_words}", f"#define N_ACTIONS {max(1, len(comp.instances))}",
            f"#define STATE_BITS {lay.bits}"]
    from oomcheck.checker.explicit.native.cpor import generate_por
    return ("\n".join(head) + "\n" + _canon_c(comp) + "\n".join(tables) + "\n" + final + "\n" + expand
            + _predicates_c(comp, predicates) + generate_por(comp, por if comp.instances else None))


def _predicates_c(comp: Compiled, predicates: Sequence[Expr]) -> str:
    """eval_pred(k, s): 1 or 0 as predicate k holds in s, -1 on a model error (Python then raises
    it with the Python predicate)."""
    out = ["#define ERR_RET (-1)"]
    for k, e in enumerate(predicates):
        g = CGen(comp)
        body = g.expr(e, {})
        out.append(f"static int pred_{k}(const uint64_t *s) {{\n" + "\n".join(g.prelude())
                   + f"\n    return ({body}) != 0;\n}}")
    out.append("#undef ERR_RET")
    out.append("static int eval_pred(int k, const uint64_t *s) {\n    switch (k) {")
    out += [f"    case {k}: return pred_{k}(s);" for k in range(len(predicates))]
    out.append("    }\n    (void)s;\n    return -1;\n}")
    return "\n".join(out) + "\n"


def _canon_c(comp: Compiled) -> str:
    """canon(t): sort the free threads' blocks in place, as Layout.canon_source does in Python."""
    lay = comp.layout
    sym = lay.symmetry
    if sym is None:
        return "#define SYMMETRIC 0\nstatic inline void canon(uint64_t *t) { (void)t; }\n"
    base = lay.offset[lay.fixed]
    n = len(sym.free)
    w = (lay.bits - base) // n
    if w > 62:
        raise NativeUnsupportedError("a thread's local state is wider than 62 bits")
    lines = ["#define SYMMETRIC 1", "static inline void canon(uint64_t *t) {", f"    uint64_t c[{n}];"]
    for j in range(n):
        lines.append(f"    c[{j}] = read_field(t, {base + j * w}, {w});")
    lines += [f"    for (int i = 1; i < {n}; i++) {{",
              "        uint64_t x = c[i]; int j = i - 1;",
              "        while (j >= 0 && c[j] > x) { c[j + 1] = c[j]; j--; }",
              "        c[j + 1] = x;", "    }"]
    for j in range(n):
        lines.append(f"    xor_field(t, {base + j * w}, {w}, read_field(t, {base + j * w}, {w}) ^ c[{j}]);")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _update_c(g: CGen, inst, tables: list[str]) -> list[str]:
    lay = g.layout
    lines = ["uint64_t *t = out + (size_t)cnt * W;",
             "for (int q = 0; q < W; q++) t[q] = s[q];"]
    deltas: list[str] = []
    for j, (lhs, rhs) in enumerate(inst.updates):
        arr = lhs.name if isinstance(lhs, Var) else lhs.array
        d = g.model.vars[arr]
        rhs_src = g.expr(rhs, {})
        new = f"n{j}"
        if isinstance(d.type, BoolType):
            lines.append(f"const int64_t {new} = ({rhs_src} != 0) ? 1 : 0;")
        else:
            lines.append(f"const int64_t {new} = {rhs_src};")
            if const_value(rhs, {}) is None:
                vals = d.type.values()
                lines.append(f"if ({new} < {vals.start} || {new} > {vals.stop - 1}) return 1;")
        i = None if isinstance(lhs, Var) else const_value(lhs.index, {})
        if isinstance(lhs, Var) or i is not None:
            k = lay.slot_of(arr, i)
            old, lo = g.local(k), lay.lo[k]
            delta = f"(uint64_t)(({old} - ({lo})) ^ ({new} - ({lo})))"
            deltas += _xor_field("t", lay.offset[k], lay.width[k], f"d{j}")
            lines.append(f"const uint64_t d{j} = {delta};")
        else:
            ks = lay.array_slots[arr]
            tab = f"off_{inst.id}_{j}"
            offs = ", ".join(str(lay.offset[k]) for k in ks)
            tables.append(f"static const int {tab}[{len(ks)}] = {{{offs}}};")
            elems = ", ".join(g.local(k) for k in ks)
            lines.append(f"const int64_t i{j} = {g.check_index(g.expr(lhs.index, {}), len(ks))};")
            lo = lay.lo[ks[0]]
            old = f"((const int64_t[]){{{elems}}})[i{j}]"
            lines.append(f"const uint64_t d{j} = (uint64_t)(({old} - ({lo})) ^ ({new} - ({lo})));")
            deltas += _xor_field("t", f"{tab}[i{j}]", lay.width[ks[0]], f"d{j}")
    lines += deltas
    lines += ["canon(t);", f"aout[cnt] = {inst.id};", "cnt++;"]
    return lines
