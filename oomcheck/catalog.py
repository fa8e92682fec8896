"""The spec catalog: variants (knob sets or derived-model files) and expected verdicts, as TOML.

A user adds a variant or an expectation by editing data under spec/, never an engine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from oomcheck.checker.language.lang import Model, ModelError, building_symbolically, record_python_use
from oomcheck.checker.language.sizes import Family
from oomcheck.checker.language.uniform import nonuniform_use
from oomcheck.models import ModelSpec, get_model


def _spec_dir() -> Path:
    """The shipped catalog: oomcheck/spec in an installed wheel, spec/ at the top of a source
    tree or an editable install (setup.py maps one to the other)."""
    here = Path(__file__).resolve().parent
    packaged = here / "spec"
    return packaged if packaged.is_dir() else here.parent / "spec"


SPEC_DIR = _spec_dir()
VERDICTS = ("holds", "violated", "unknown")


@dataclass
class Variant:
    name: str
    model: str
    knobs: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    base: str | None = None
    provenance: str = ""


@dataclass
class Expectation:
    variant: str
    knobs: dict[str, str]
    sizes: dict[str, list[int]]
    verdicts: dict[str, str]
    note: str = ""

    def size_points(self) -> list[dict[str, int]]:
        names = sorted(self.sizes)
        combos = itertools.product(*(self.sizes[n] for n in names))
        return [dict(zip(names, combo, strict=True)) for combo in combos]


STRENGTHS = ("proved", "violated", "bounded", "unknown")
PROOF_ENGINES = ("chc", "induction", "bmc", "parametric", "indexed")


@dataclass
class ProofExpectation:
    """A symbolic check and the strength of the answer it must give: `proved` (holds, proved
    for the instance), `bounded` (holds up to the BMC/k-induction depth only), `violated`."""

    variant: str
    knobs: dict[str, str]
    sizes: dict[str, list[int]]
    engine: str
    expect: dict[str, str]
    note: str = ""
    depth: int = 20  # bmc depth / largest k of k-induction

    def size_points(self) -> list[dict[str, int]]:
        return Expectation(self.variant, self.knobs, self.sizes, {}).size_points()


@dataclass
class Catalog:
    path: Path
    model: str
    doc: str
    variants: dict[str, Variant]
    expect: list[Expectation]
    proofs: list[ProofExpectation] = field(default_factory=list)


def _table(d: object, where: str) -> dict:
    if not isinstance(d, dict):
        raise ModelError(f"{where} must be a table")
    return d


def _str_map(d: object, where: str) -> dict[str, str]:
    t = _table(d, where)
    for k, v in t.items():
        if not isinstance(v, str):
            raise ModelError(f"{where}.{k} must be a string")
    return dict(t)


def load_catalog(path: Path, check: bool = True) -> Catalog:
    """A catalog, validated as a whole (every variant and row, see validate) unless check is
    False: a bad row is one error naming the file and the row, before anything runs."""
    cat = _parse_catalog(path)
    if check:
        validate(cat)
    return cat


def _parse_catalog(path: Path) -> Catalog:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"spec file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot read spec file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"spec file {path} is not valid TOML: {e}") from None
    unknown = set(data) - {"model", "description", "variants", "expect", "proof"}
    if unknown:
        raise ModelError(f"{path}: unknown top-level key {sorted(unknown)[0]!r}")
    model = data.get("model")
    if not isinstance(model, str):
        raise ModelError(f"{path}: needs model = \"NAME\"")
    try:
        spec = get_model(model)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    variants: dict[str, Variant] = {}
    for name, v in _table(data.get("variants", {}), f"{path}: variants").items():
        v = _table(v, f"{path}: variants.{name}")
        bad = set(v) - {"knobs", "file", "provenance"}
        if bad:
            raise ModelError(f"{path}: variants.{name} has unknown key {sorted(bad)[0]!r}")
        if ("knobs" in v) == ("file" in v):
            raise ModelError(f"{path}: variants.{name} needs exactly one of knobs or file")
        if "file" in v:
            variants[name] = Variant(name, model, file=(path.parent / str(v["file"])).resolve(),
                                     provenance=str(v.get("provenance", "")))
        else:
            knobs = _str_map(v["knobs"], f"{path}: variants.{name}.knobs")
            try:
                spec.check_knobs(knobs)  # validate() builds the variant
            except ModelError as e:
                raise ModelError(f"{path}: variants.{name}: {e}") from None
            variants[name] = Variant(name, model, knobs=knobs,
                                     provenance=str(v.get("provenance", "")))
    expect = []
    for i, e in enumerate(data.get("expect", [])):
        where = f"{path}: expect[{i}]"
        e = _table(e, where)
        bad = set(e) - {"variant", "knobs", "sizes", "verdicts", "note"}
        if bad:
            raise ModelError(f"{where} has unknown key {sorted(bad)[0]!r}")
        if e.get("variant") not in variants:
            raise ModelError(f"{where}: unknown variant {e.get('variant')!r}")
        sizes = _table(e.get("sizes", {}), f"{where}.sizes")
        for k, vals in sizes.items():
            if not isinstance(vals, list) or not vals or not all(isinstance(x, int) for x in vals):
                raise ModelError(f"{where}.sizes.{k} must be a non-empty list of integers")
        verdicts = _str_map(e.get("verdicts", {}), f"{where}.verdicts")
        for p, v in verdicts.items():
            if v not in VERDICTS:
                raise ModelError(f"{where}: verdict of {p} must be one of {', '.join(VERDICTS)}")
        expect.append(Expectation(e["variant"], _str_map(e.get("knobs", {}), f"{where}.knobs"),
                                  sizes, verdicts, str(e.get("note", ""))))
    proofs = []
    for i, e in enumerate(data.get("proof", [])):
        where = f"{path}: proof[{i}]"
        e = _table(e, where)
        bad = set(e) - {"variant", "knobs", "sizes", "engine", "expect", "note", "depth"}
        if bad:
            raise ModelError(f"{where} has unknown key {sorted(bad)[0]!r}")
        if e.get("variant") not in variants:
            raise ModelError(f"{where}: unknown variant {e.get('variant')!r}")
        if e.get("engine") not in PROOF_ENGINES:
            raise ModelError(f"{where}: engine must be one of {', '.join(PROOF_ENGINES)}")
        sizes = _table(e.get("sizes", {}), f"{where}.sizes")
        for k, vals in sizes.items():
            if not isinstance(vals, list) or not vals or not all(isinstance(x, int) for x in vals):
                raise ModelError(f"{where}.sizes.{k} must be a non-empty list of integers")
        want = _str_map(e.get("expect", {}), f"{where}.expect")
        for prop, v in want.items():
            if v not in STRENGTHS:
                raise ModelError(f"{where}: expectation of {prop} must be one of {', '.join(STRENGTHS)}")
        depth = e.get("depth", 20)
        if not isinstance(depth, int) or not 1 <= depth <= 200:
            raise ModelError(f"{where}: depth must be a whole number from 1 to 200")
        proofs.append(ProofExpectation(e["variant"], _str_map(e.get("knobs", {}), f"{where}.knobs"),
                                       sizes, e["engine"], want, str(e.get("note", "")), depth))
    return Catalog(path, model, str(data.get("description", "")), variants, expect, proofs)


def validate(cat: Catalog) -> None:
    """Every variant of the catalog builds, and every row names a variant, knobs, sizes and
    properties that exist; or one line names the file and the variant or row, before anything
    runs. Done once per process for an unchanged catalog (and variant files)."""
    key = _stamp(cat)
    if key in _VALID or key in _VALIDATING:  # _VALIDATING: a BASE chain came back here
        return
    _VALIDATING.add(key)
    try:
        _validate(cat)
    finally:
        _VALIDATING.discard(key)
    _VALID.add(key)


_VALID: set[tuple] = set()
_VALIDATING: set[tuple] = set()


def _stamp(cat: Catalog) -> tuple:
    """What a validation rests on: the catalog file and its variant files, as they are now."""
    def st(p: Path) -> tuple:
        try:
            s = p.stat()
        except OSError:
            return (str(p), None)
        return (str(p), s.st_mtime_ns, s.st_size)
    return (st(cat.path.resolve()), *(st(v.file) for v in cat.variants.values() if v.file))


def _validate(cat: Catalog) -> None:
    spec = get_model(cat.model)
    props: dict[tuple[str, tuple], set[str]] = {}

    def properties(variant: str, knobs: dict[str, str]) -> set[str]:
        key = (variant, tuple(sorted(knobs.items())))
        if key not in props:
            v = resolve_variant(cat, variant)
            if v.model != cat.model:
                raise ModelError(f"variant file {v.file} is for model {v.model}, not {cat.model}")
            props[key] = set(build_variant(v, {}, knobs, cat).properties)
        return props[key]

    for name in cat.variants:
        try:
            properties(name, {})
        except ModelError as e:
            raise ModelError(f"{cat.path}: variants.{name}: {e}") from None
    rows = [("expect", i, e.variant, e.knobs, e.sizes, e.verdicts) for i, e in enumerate(cat.expect)]
    rows += [("proof", i, e.variant, e.knobs, e.sizes, e.expect) for i, e in enumerate(cat.proofs)]
    for kind, i, variant, knobs, sizes, wanted in rows:
        where = f"{cat.path}: {kind}[{i}] (variant {variant})"
        for size, values in sizes.items():
            if size not in spec.sizes:
                raise ModelError(f"{where}: model {cat.model} has no size {size!r} "
                                 f"(sizes: {', '.join(spec.sizes)})")
            _, lo, hi = spec.sizes[size]
            bad = [v for v in values if not lo <= v <= hi]
            if bad:
                raise ModelError(f"{where}: {size}={bad[0]} is outside {lo}..{hi}")
        try:
            known = properties(variant, knobs)
        except ModelError as e:
            raise ModelError(f"{where}: {e}") from None
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise ModelError(f"{where}: no property {unknown[0]!r} in this variant "
                             f"(properties: {', '.join(sorted(known))})")


def default_catalogs(check: bool = True) -> list[Catalog]:
    """The catalogs shipped in spec/ (validated unless check is False)."""
    return [load_catalog(p, check) for p in sorted(SPEC_DIR.glob("*.toml"))]


def catalog_for(model: str) -> Catalog:
    """The model's catalog in spec/, validated (the other catalogs are only read)."""
    for c in default_catalogs(check=False):
        if c.model == model:
            validate(c)
            return c
    raise ModelError(f"no spec catalog for model {model!r} in {SPEC_DIR}")


def variant_from_file(path: Path) -> Variant:
    """A derived-model file: MODEL, optional BASE (a catalog variant) or KNOBS, and derive(m)."""
    mod = _load_module(path)
    model = getattr(mod, "MODEL", None)
    if not isinstance(model, str):
        raise ModelError(f"variant file {path} must set MODEL = \"name\"")
    if not callable(getattr(mod, "derive", None)):
        raise ModelError(f"variant file {path} must define derive(model)")
    base = getattr(mod, "BASE", None)
    knobs = getattr(mod, "KNOBS", {})
    if base is not None and not isinstance(base, str):
        raise ModelError(f"variant file {path}: BASE must be a variant name")
    if not isinstance(knobs, dict):
        raise ModelError(f"variant file {path}: KNOBS must be a dict")
    return Variant(path.stem, model, knobs=dict(knobs), file=path, base=base,
                   provenance=(mod.__doc__ or "").strip())


def _load_module(path: Path) -> object:
    if not path.is_file():
        raise ModelError(f"variant file {path} does not exist")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"oomcheck_variant_{digest}", path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot load variant file {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # a user's file: report, never trace back
        raise ModelError(f"variant file {path} failed to load: {type(e).__name__}: {e}") from None
    return mod


def call_user(path: Path, kind: str, name: str, *args: object) -> object:
    """Call name(*args) from a user's file; any failure becomes one clear ModelError."""
    fn = getattr(_load_module(path), name, None)
    if not callable(fn):
        raise ModelError(f"{kind} file {path} must define {name}(model)")
    if building_symbolically():  # a proof for every size reads only the uniform subset
        why = nonuniform_use(path)
        if why:
            record_python_use(f"{kind} file {why}")
    try:
        return fn(*args)
    except ModelError as e:
        raise ModelError(f"{kind} file {path}: {e}") from None
    except Exception as e:  # a user's file: report, never trace back
        raise ModelError(f"{kind} file {path}: {name}() failed: {type(e).__name__}: {e}") from None


def resolve_variant(catalog: Catalog | None, name_or_path: str) -> Variant:
    if name_or_path.endswith(".py") or "/" in name_or_path:
        return variant_from_file(Path(name_or_path))
    if catalog is None or name_or_path not in catalog.variants:
        known = ", ".join(catalog.variants) if catalog else ""
        raise ModelError(f"no variant {name_or_path!r}" + (f" (variants: {known})" if known else ""))
    v = catalog.variants[name_or_path]
    if v.file is not None:
        fv = variant_from_file(v.file)
        fv.name = v.name
        fv.provenance = v.provenance or fv.provenance
        return fv
    return v


def base_catalog(variant: Variant, catalog: Catalog | None) -> Catalog:
    """Where a variant file's BASE is looked up: the catalog that records the file (or that the
    command line names) when it has a variant of that name, else the model's catalog in spec/,
    wherever the file and that catalog are."""
    if catalog is not None and catalog.model == variant.model and variant.base in catalog.variants:
        return catalog
    return catalog_for(variant.model)


def build_variant(variant: Variant, sizes: dict[str, int], knobs: dict[str, str],
                  catalog: Catalog | None = None, max_size: int | None = None,
                  _depth: int = 0) -> Model:
    """The model instance of a variant, with extra knobs (which must not contradict it).
    max_size raises the registry's size maxima (they bound exhaustive checking, not simulation)."""
    spec: ModelSpec = get_model(variant.model)
    if max_size is not None:
        spec = dataclasses.replace(spec, sizes={s: (d, lo, max(hi, max_size))
                                                for s, (d, lo, hi) in spec.sizes.items()})
    for k, v in knobs.items():
        if k in variant.knobs and variant.knobs[k] != v:
            raise ModelError(f"variant {variant.name} fixes knob {k}={variant.knobs[k]}; "
                             f"cannot set {k}={v}")
    if _depth > 8:
        raise ModelError(f"variant {variant.name}: BASE chain too deep (a cycle?)")
    if variant.file is None:
        m = spec.instantiate(sizes, {**variant.knobs, **knobs})
    else:
        if variant.base is not None:
            cat = base_catalog(variant, catalog)
            base = resolve_variant(cat, variant.base)
            m = build_variant(base, sizes, {**variant.knobs, **knobs}, cat, max_size, _depth + 1)
        else:
            m = spec.instantiate(sizes, {**variant.knobs, **knobs})
        derived = call_user(variant.file, "variant", "derive", m.derive(variant.name))
        if not isinstance(derived, Model):
            raise ModelError(f"variant file {variant.file}: derive() must return the model")
        m = derived
    m.variant = variant.name
    m.provenance = variant.provenance
    for size, domain in spec.parametric.items():
        _, lo, hi = spec.sizes[size]
        m.family = Family(size, domain, lo, hi)
        m.rebuild = lambda sizes: build_variant(variant, sizes, knobs, catalog, max_size, _depth)
    if spec.indexed is not None:
        m.indexed = spec.indexed
        # the indexed engine builds the variant with the sizes as symbols, and at the sizes it
        # compares that build with, and at the sizes a violation is replayed at for every size
        # (indexed/violate.py; raised maxima: they bound exhaustive checking only)
        most = max(max(max(c) for c in spec.indexed.checks), 8, max_size or 0)
        m.rebuild = lambda sizes: build_variant(variant, sizes, knobs, catalog, most, _depth)
    return m


def model_for(model_name: str, variant_arg: str, spec_path: Path | None, sizes: dict[str, int],
              knobs: dict[str, str], max_size: int | None = None) -> tuple[Model, Catalog | None]:
    """The model a command line names: a catalog variant (or a variant file), sizes, knobs."""
    spec = get_model(model_name)
    catalog = load_catalog(spec_path) if spec_path else catalog_for(spec.name)
    variant = resolve_variant(catalog, variant_arg)
    if variant.model != spec.name:
        raise ModelError(f"variant {variant_arg} is for model {variant.model}, not {spec.name}")
    return build_variant(variant, sizes, knobs, catalog, max_size), catalog
