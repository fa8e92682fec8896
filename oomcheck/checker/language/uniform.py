"""Which variant files the proofs for every size may read: the uniform subset of Python.

A proof for every N reads a variant built once with its sizes as symbols. That one build is the
model at every size only if the file's code cannot tell a symbol from a number. The symbols
record every look they can see (a truth value, int(), a hash, a type test, their text), but
Python has looks no object can see: `type(n) is int`, `id(n)`, `n is 13`, `hasattr(n, "x")`, an
`except` around a look that fails for one of the two. So a variant file is read here before its
code takes part in a symbolic build, and a file that steps outside the subset below makes the
build a Python-level use like the others (the proof answers unknown; explicit runs are not
concerned). The subset is a list of what is allowed, not of what is known to leak:

- imports only `from oomcheck.lang import ...` and `from oomcheck.models.<model> import ...`
  (public names, no module and no class of the engines);
- names are the file's own, or one of the builtins in `BUILTINS` (no type test: `isinstance` of
  a value built from a size, such as a bound `-n`, reads a class no symbol guards);
- no attribute whose name starts with `_`;
- `is` and `is not` only against None;
- no try, with, match, class, global, nonlocal, async or await;
- nothing imported is changed, and no mutable object (a dict, a list) is imported: the model
  modules stay loaded between builds, so a change would carry over from one build to the next.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import inspect
from pathlib import Path

BUILTINS = frozenset({
    "range", "len", "enumerate", "zip", "min", "max", "sum", "any", "all", "sorted", "reversed",
    "list", "tuple", "dict", "set", "frozenset", "str", "int", "bool", "abs", "map", "filter",
    "print", "next", "iter", "True", "False", "None",
    "Exception", "ValueError", "KeyError", "TypeError", "RuntimeError", "AssertionError",
    "NotImplementedError",
})

_STATEMENTS = {
    ast.Import: "a plain import",
    ast.Try: "try/except",
    ast.With: "a with statement",
    ast.AsyncWith: "a with statement",
    ast.Match: "a match statement",
    ast.ClassDef: "a class",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement",
    ast.AsyncFunctionDef: "an async function",
    ast.Await: "await",
}
if hasattr(ast, "TryStar"):
    _STATEMENTS[ast.TryStar] = "try/except*"

_CACHE: dict[str, str | None] = {}


def nonuniform_use(path: Path) -> str | None:
    """The first construct of the file outside the uniform subset, as `file:line: what`, or
    None when the whole file is inside it."""
    try:
        source = path.read_bytes()
    except OSError as e:
        return f"{path}: cannot be read ({e.strerror})"
    key = f"{path.resolve()}:{hashlib.sha1(source).hexdigest()}"
    if key not in _CACHE:
        _CACHE[key] = _check(path, source)
    return _CACHE[key]


def _check(path: Path, source: bytes) -> str | None:
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        return f"{path}:{e.lineno}: does not parse ({e.msg})"
    own = _bound_names(tree)
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    for node in ast.walk(tree):
        why = _refused(node, own) or _changes_import(node, imported)
        if why:
            return f"{path}:{getattr(node, 'lineno', 0)}: {why}"
    return None


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the file binds anywhere (a loose scope: a name bound in one function and read
    in another is the file's own code either way)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name)
    return out


def _refused(node: ast.AST, own: set[str]) -> str | None:
    for kind, what in _STATEMENTS.items():
        if isinstance(node, kind):
            return f"{what} (outside the subset of Python a proof for every size can read)"
    if isinstance(node, ast.ImportFrom):
        return _refused_import(node)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id not in own and node.id not in BUILTINS:
            known = "a builtin that can tell a symbol from a number" if hasattr(builtins, node.id) \
                else "a name the file does not define"
            return f"uses {node.id} ({known})"
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return f"reads the attribute {node.attr} (a private or special attribute)"
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if isinstance(op, (ast.Is, ast.IsNot)) and not any(
                    isinstance(x, ast.Constant) and x.value is None for x in operands[i:i + 2]):
                return "an `is` comparison with something other than None (an identity test " \
                       "tells a symbol from a number)"
    return None


def _changes_import(node: ast.AST, imported: set[str]) -> str | None:
    """A store into something imported outlives the build: the next build of the same variant
    (the symbolic one, or one it is compared with) would start from a changed module."""
    if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        root: ast.AST = node
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if isinstance(root, ast.Name) and root.id in imported:
            return f"changes {root.id}, which it imported (the change would carry over to the " \
                   "next build)"
    return None


def _refused_import(node: ast.ImportFrom) -> str | None:
    mod = node.module or ""
    if node.level or not (mod == "__future__" or mod == "oomcheck.lang"
                          or mod.startswith("oomcheck.models.")):
        return f"imports from {'.' * node.level}{mod} (only oomcheck.lang and oomcheck.models.*)"
    if mod == "__future__":
        return None
    try:
        module = importlib.import_module(mod)
    except ImportError:
        return f"imports from {mod}, which does not exist"
    for alias in node.names:
        if alias.name == "*" or alias.name.startswith("_"):
            return f"imports {alias.name} from {mod} (only public names, one by one)"
        obj = getattr(module, alias.name, None)
        if inspect.ismodule(obj) or (
                (inspect.isclass(obj) or inspect.isfunction(obj))
                and getattr(obj, "__module__", "").startswith("oomcheck.checker.")
                and alias.name not in _public_language()):
            return f"imports {alias.name} from {mod} (a module, or a part of the engines, not " \
                   "of the modeling language)"
        if isinstance(obj, (dict, list, set, bytearray)):
            return f"imports {alias.name} from {mod} (a mutable object: a change to it would " \
                   "carry over to the next build)"
    return None


def _public_language() -> set[str]:
    import oomcheck.lang

    return set(oomcheck.lang.__all__)
