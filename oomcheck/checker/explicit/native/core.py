"""Build the native search core of one compiled model with cffi, and run the layer search in it.

The C source is generated from the same Compiled model the Python engine runs (ccode.py), built
once per distinct source (cached by its hash), and drives a breadth-first search that keeps the
states, the visited set and the parent pointers in C. Python keeps the control: it calls the
core for a bounded number of expansions at a time, checks the time and memory limits in
between, and rebuilds counterexamples by re-expanding the parents with the Python expand.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

from oomcheck.checker.explicit.native.ccode import NativeUnsupportedError, generate, words_for
from oomcheck.checker.explicit.por import PorTables
from oomcheck.checker.language.bounds import value_bound
from oomcheck.checker.language.compile import Compiled
from oomcheck.checker.language.lang import Expr

CDEF = """
typedef struct {
    int64_t n;
    int64_t cap;
    int64_t pos;
    int64_t transitions;
    uint64_t pending;
    int want_dl;
    int64_t dl_at;
    int64_t bad_at[64];
    int64_t depth;
    int64_t layer_end;
    int64_t reduced;
    int64_t fp_from;
    ...;
} nc_ctx;
nc_ctx *nc_new(int64_t cap, uint64_t pending, int want_dl, int graph, int64_t fp_after);
void nc_free(nc_ctx *c);
int64_t nc_store_bytes(nc_ctx *c);
int64_t nc_edge_bytes(nc_ctx *c);
int nc_add(nc_ctx *c, const uint64_t *s);
int nc_get(nc_ctx *c, int64_t i, uint64_t *out);
int64_t nc_pred(nc_ctx *c, int64_t start, int64_t end, const uint64_t *t);
int nc_run(nc_ctx *c, int64_t end, int64_t budget);
int nc_graph_start(nc_ctx *c, int64_t pos, int64_t depth, int64_t layer_end, const int64_t *off,
                   const int64_t *succ, const int64_t *sact);
int nc_graph_run(nc_ctx *c, int64_t budget);
void nc_drop_table(nc_ctx *c);
int64_t *nc_off(nc_ctx *c);
uint32_t *nc_succ(nc_ctx *c);
uint16_t *nc_sact(nc_ctx *c);
uint32_t *nc_parents(nc_ctx *c, int64_t n_init);
int64_t nc_not_pred(nc_ctx *c, int k, uint8_t *in_r);
int64_t nc_fair_sccs(nc_ctx *c, const uint8_t *in_r, const uint8_t *fair, int symmetric,
                     uint32_t *comp_id, uint8_t *target);
int nc_reverse(nc_ctx *c, const uint8_t *in_r);
void nc_reverse_free(nc_ctx *c);
int64_t nc_first_start(nc_ctx *c, const uint8_t *target, int kinds, int pre, int64_t limit,
                       int64_t *err);
"""

RUNTIME = (Path(__file__).with_name("runtime.c")).read_text()
OPT_FLAGS = ["-O2"]
MAX_CAP = 0xFFFFFFF0  # table entries and edges are 32-bit state numbers
# A search whose states need more than 64 bits switches to 64-bit fingerprints past this many
# stored states (runtime.c); below it, and whenever a state fits in 64 bits, storage is exact.
FP_AFTER = 4_000_000

_loaded: dict[str, ModuleType] = {}
last_build_seconds = 0.0  # the compile time of the last build (0 when the cache served it)


class NativeUnavailableError(Exception):
    """No native core for this model here (no cffi, no compiler, a failed build, an unsupported
    model); the caller runs the Python engine and says why."""


def cache_dir() -> Path:
    """Where built cores are kept: $OOMCHECK_NATIVE_CACHE, else the user's cache directory."""
    env = os.environ.get("OOMCHECK_NATIVE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "oomcheck" / "native"


def source_for(comp: Compiled, invariants: Sequence[Expr], predicates: Sequence[Expr] = (),
               por: PorTables | None = None) -> str:
    try:
        model_code = generate(comp, invariants, predicates, por)
    except NativeUnsupportedError as e:
        raise NativeUnavailableError(str(e)) from None
    return RUNTIME.replace("/*MODEL_CODE*/", model_code)


def _module_name(source: str) -> str:
    try:
        import cffi
    except ImportError:
        raise NativeUnavailableError("cffi is not installed") from None
    key = hashlib.sha256("\0".join([source, CDEF, cffi.__version__, sys.version,
                                    *OPT_FLAGS]).encode()).hexdigest()[:20]
    return f"_oomcheck_native_{key}"


def is_built(comp: Compiled, invariants: Sequence[Expr], predicates: Sequence[Expr] = (),
             por: PorTables | None = None) -> bool:
    """Whether this model's core is loaded or in the cache (so using it costs no build)."""
    try:
        name = _module_name(source_for(comp, invariants, predicates, por))
    except NativeUnavailableError:
        return False
    return name in _loaded or (cache_dir() / (name + EXTENSION_SUFFIXES[0])).exists()


def build(source: str) -> ModuleType:
    """The cffi module for this source: from this process, from the cache, or compiled now."""
    global last_build_seconds
    import cffi

    name = _module_name(source)
    if name in _loaded:
        last_build_seconds = 0.0
        return _loaded[name]
    where = cache_dir()
    target = where / (name + EXTENSION_SUFFIXES[0])
    if not target.exists():
        t0 = time.perf_counter()
        try:
            where.mkdir(parents=True, exist_ok=True)
            tmp = tempfile.mkdtemp(dir=where, prefix="build-")
        except OSError:
            where = Path(tempfile.gettempdir()) / f"oomcheck-native-{os.getuid()}"
            where.mkdir(parents=True, exist_ok=True)
            target = where / (name + EXTENSION_SUFFIXES[0])
            tmp = tempfile.mkdtemp(dir=where, prefix="build-")
        try:
            _compile(cffi, name, source, Path(tmp), target)
        except NativeUnavailableError:
            raise
        except Exception as e:  # a build error: the Python engine runs
            raise NativeUnavailableError(f"build failed: {_last_line(str(e))}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        last_build_seconds = time.perf_counter() - t0
    else:
        last_build_seconds = 0.0
    spec = importlib.util.spec_from_file_location(name, target)
    if spec is None or spec.loader is None:
        raise NativeUnavailableError(f"cannot load {target}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except ImportError as e:
        raise NativeUnavailableError(f"cannot load the native core: {e}") from None
    _loaded[name] = mod
    return mod


def _last_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return lines[-1] if lines else "no message"


def _compile(cffi: ModuleType, name: str, source: str, tmp: Path, target: Path) -> None:
    """cffi writes the C wrapper, the C compiler builds it (directly: setuptools would double the
    build time), and the module replaces target atomically, so concurrent builders both win."""
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(name, source)
    c_file = tmp / f"{name}.c"
    with contextlib.redirect_stdout(io.StringIO()):
        ffi.emit_c_code(str(c_file))
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise NativeUnavailableError("no C compiler (gcc or cc) found")
    out = tmp / target.name
    cmd = [*shlex.split(cc), *OPT_FLAGS, "-w", "-shared", "-fPIC",
           "-I", sysconfig.get_paths()["include"], str(c_file), "-o", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise NativeUnavailableError(f"cannot run the C compiler: {e}") from None
    if proc.returncode != 0:
        raise NativeUnavailableError(f"build failed: {_last_line(proc.stderr)}")
    os.replace(out, target)


class Core:
    """One search's state store in C."""

    def __init__(self, mod: ModuleType, words: int, cap: int, n_inv: int, want_dl: bool,
                 graph: bool = False, fp_after: int = 0):
        self.ffi, self.lib = mod.ffi, mod.lib  # type: ignore[attr-defined]
        self.words = words
        ctx = self.lib.nc_new(cap, (1 << n_inv) - 1, int(want_dl), int(graph), fp_after)
        if ctx == self.ffi.NULL:
            raise MemoryError("native core: out of memory")
        self.ctx = self.ffi.gc(ctx, self.lib.nc_free)
        self.buf = self.ffi.new("uint64_t[]", words)

    def _load(self, s: int) -> None:
        for i in range(self.words):
            self.buf[i] = (s >> (64 * i)) & 0xFFFFFFFFFFFFFFFF

    def add(self, s: int) -> bool:
        self._load(s)
        r = self.lib.nc_add(self.ctx, self.buf)
        if r < 0:
            raise MemoryError("native core: out of memory")
        return r == 1

    def state(self, i: int) -> int:
        if self.lib.nc_get(self.ctx, i, self.buf) < 0:
            raise OSError("native core: cannot read back a stored state")
        return sum(int(self.buf[k]) << (64 * k) for k in range(self.words))

    def pred(self, start: int, end: int, s: int) -> int:
        """The first state numbered start..end-1 with a step to s (-1: none)."""
        self._load(s)
        r = int(self.lib.nc_pred(self.ctx, start, end, self.buf))
        if r == -2:
            raise OSError("native core: cannot re-expand a layer")
        return r

    def view(self, ptr: object, n: int, fmt: str) -> memoryview:
        """n items of a C array as a memoryview (no copy; valid while the core lives)."""
        size = self.ffi.sizeof(self.ffi.typeof(ptr).item)
        return memoryview(self.ffi.buffer(ptr, max(n, 0) * size)).cast(fmt)  # type: ignore[arg-type]

    def store_bytes(self) -> int:
        """Bytes held for the states and the visited set."""
        return int(self.lib.nc_store_bytes(self.ctx))

    def edge_bytes(self) -> int:
        """Bytes held for the graph search's edges."""
        return int(self.lib.nc_edge_bytes(self.ctx))

    def fingerprinted_from(self) -> int | None:
        """The number of states stored when the store switched to fingerprints, or None."""
        f = int(self.ctx.fp_from)
        return None if f < 0 else f


def open_core(comp: Compiled, invariants: Sequence[Expr], cap: int, want_dl: bool,
              predicates: Sequence[Expr] = (), graph: bool = False,
              por: PorTables | None = None, storage: str = "auto") -> Core:
    """The core for this model (built now unless cached); predicates are the graph search's, por
    the layer search's partial-order reduction; storage "exact" never uses fingerprints."""
    if cap > MAX_CAP:
        raise NativeUnavailableError(f"a state limit above {MAX_CAP}")
    if value_bound(comp.model, [*invariants, *predicates]) >= 1 << 62:  # C: int64, Python: exact
        raise NativeUnavailableError("a value of the model may not fit in 64 bits")
    mod = build(source_for(comp, invariants, predicates, por))
    return Core(mod, words_for(comp.layout.bits), cap, len(invariants), want_dl, graph,
                FP_AFTER if storage == "auto" else 0)
