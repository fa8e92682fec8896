"""The pytest plugin (entry point `pytest11: oomcheck`): catalog rows as test items, and the
`oomcheck` fixture.

    pytest spec/ -k v10 -n 2 --junitxml=catalog.xml

A catalog file (a .toml file with `model = ...` and [[expect]] or [[proof]] rows) is collected
as one node per variant and one item per (row, size point, property) under it:
`spec/freezer.toml::v10::victim-exits[threads=3]`, with the row's knobs before the sizes and,
for a [[proof]] row, its engine after them (`...::victim-exits[threads=3,chc]`). Any other
.toml file is left alone, so an ordinary test run is unchanged.

An item passes when the verdict (for a proof row: the strength) is the catalog's, computed by
the same functions as `oomcheck verify` (oomcheck.verify); a failing item shows both and the
counterexample. The items of one row and size point share one check: the explicit engine
checks the selected properties of the row in one search, once per process.

oomcheck modules are imported only when a catalog is collected or the fixture is used: loading
the plugin costs an ordinary test run nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from oomcheck.catalog import Catalog
    from oomcheck.checker.explicit.search import Limits
    from oomcheck.checker.trace import Result
    from oomcheck.testing import Checker
    from oomcheck.verify import Settings

_MODEL_LINE = re.compile(r"^\s*model\s*=", re.M)
_ROW_HEADER = re.compile(r"^\s*\[\[(expect|proof)\]\]", re.M)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("oomcheck", "oomcheck catalog rows and fixture")
    g.addoption("--oomcheck-max-states", type=int, default=20_000_000, metavar="N",
                help="a check stops with 'unknown' (a failed item) past this many states")
    g.addoption("--oomcheck-max-seconds", type=float, default=1800.0, metavar="S",
                help="... or past this many seconds per model instance")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNS] = _Runs()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".toml" and is_catalog(file_path):
        return CatalogFile.from_parent(parent, path=file_path)
    return None


def is_catalog(path: Path) -> bool:
    """A model line and a row header: what a catalog has and pyproject.toml & co. do not (a
    catalog that does not parse is still collected, so that its error is reported)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_MODEL_LINE.search(text) and _ROW_HEADER.search(text))


@pytest.fixture
def oomcheck(pytestconfig: pytest.Config) -> Checker:
    """check / assert_holds / assert_violated (oomcheck.testing) with this session's limits."""
    from oomcheck.testing import Checker

    return Checker(_limits(pytestconfig))


def _limits(config: pytest.Config) -> Limits:
    from oomcheck.checker.explicit.search import Limits

    return Limits(config.getoption("oomcheck_max_states"), config.getoption("oomcheck_max_seconds"))


# ---- collection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowKey:
    """One row of a catalog at one of its size points."""

    path: str
    kind: str  # expect | proof
    row: int
    point: int


class CatalogFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from oomcheck.checker.language.lang import ModelError

        try:
            from oomcheck.catalog import load_catalog

            cat = load_catalog(self.path)  # validated as a whole: one line for a bad row
        except ModelError as e:
            raise self.CollectError(f"oomcheck: error: {e}") from None
        self.catalog = cat
        lines = {kind: [n + 1 for n, ln in enumerate(self.path.read_text().splitlines())
                        if re.match(rf"\s*\[\[{kind}\]\]", ln)] for kind in ("expect", "proof")}
        by_variant: dict[str, list[tuple[RowKey, str, str, str]]] = {}
        rows = [("expect", i, e.variant, e.knobs, e.size_points(), e.verdicts, "")
                for i, e in enumerate(cat.expect)]
        rows += [("proof", i, pe.variant, pe.knobs, pe.size_points(), pe.expect, pe.engine)
                 for i, pe in enumerate(cat.proofs)]
        for kind, i, variant, knobs, points, wanted, engine in rows:
            for n, point in enumerate(points):
                key = RowKey(str(self.path), kind, i, n)
                for prop, want in wanted.items():
                    by_variant.setdefault(variant, []).append(
                        (key, item_name(prop, knobs, point, engine), prop, want))
        for variant, checks in by_variant.items():
            yield VariantNode.from_parent(self, name=variant, checks=checks, lines=lines)


def item_name(prop: str, knobs: dict[str, str], point: dict[str, int], engine: str = "") -> str:
    """victim-exits[threads=3], victim-exits[freezer=cgroup2,threads=3], and with a proof row's
    engine victim-exits[threads=3,chc]. The instance goes in the item's brackets, as pytest's
    parameters do: pytest reads a bracket in a node id as the item's parameters, so a
    collector's name cannot have one."""
    inside = [*(f"{k}={v}" for k, v in knobs.items()), *(f"{k}={v}" for k, v in point.items())]
    inside += [engine] if engine else []
    return f"{prop}[{','.join(inside)}]" if inside else prop


class VariantNode(pytest.Collector):
    """A variant of a catalog; its items are the rows' properties at each size point."""

    def __init__(self, *, checks: list[tuple[RowKey, str, str, str]],
                 lines: dict[str, list[int]], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.checks = checks
        self.lines = lines

    def collect(self) -> Iterator[pytest.Item]:
        seen: set[str] = set()
        for key, name, prop, want in self.checks:
            if name in seen:  # the same check in two rows: both run, told apart by the row
                name = name[:-1] + f",{key.kind}{key.row}]" if name.endswith("]") \
                    else f"{name}[{key.kind}{key.row}]"
            seen.add(name)
            rows = self.lines[key.kind]
            line = rows[key.row] if key.row < len(rows) else 1
            yield CatalogItem.from_parent(self, name=name, key=key, prop=prop, want=want,
                                          line=line)


class CatalogItem(pytest.Item):
    """One property of one catalog row at one size point: the verdict must be the catalog's."""

    def __init__(self, *, key: RowKey, prop: str, want: str, line: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.key = key
        self.prop = prop
        self.want = want
        self.line = line

    @property
    def catalog(self) -> Catalog:
        node = self.parent.parent  # type: ignore[union-attr]
        return node.catalog  # type: ignore[union-attr]

    def runtest(self) -> None:
        from oomcheck.verify import proof_strength

        r = self.config.stash[_RUNS].result(self)
        got = r.verdict if self.key.kind == "expect" else proof_strength(r)
        if got != self.want:
            raise CatalogMismatchError(got, r)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: object = None) -> str:
        from oomcheck.checker.language.lang import ModelError
        from oomcheck.checker.render import result_text

        e = excinfo.value
        if isinstance(e, CatalogMismatchError):
            cat = self.catalog
            row = (cat.expect if self.key.kind == "expect" else cat.proofs)[self.key.row]
            what = "verdict" if self.key.kind == "expect" else "strength"
            reason = f" ({e.result.reason})" if e.result.reason else ""
            head = [f"expected {what} {self.want}, got {e.got}{reason}: {cat.model} {row.variant} "
                    f"{self.name}",
                    f"catalog row: {self.path.name}:{self.line}, {self.key.kind}[{self.key.row}]"]
            if row.note:
                head.append(f"row note: {' '.join(row.note.split())}")
            return "\n".join([*head, "", result_text(e.result)])
        if isinstance(e, ModelError):
            return f"oomcheck: error: {e}"
        return str(super().repr_failure(excinfo))  # type: ignore[arg-type]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.line - 1, f"{self.key.kind}[{self.key.row}] {self.name}"


class CatalogMismatchError(Exception):
    def __init__(self, got: str, result: Result) -> None:
        super().__init__(f"got {got}")
        self.got = got
        self.result = result


# ---- running: one check per row and size point, shared by its items -----------------------------


@dataclass
class _Runs:
    """The results of the rows run so far in this process, and which properties of each row
    the selected items need (filled when collection is final)."""

    wanted: dict[RowKey, set[str]] = field(default_factory=dict)
    left: dict[RowKey, int] = field(default_factory=dict)
    results: dict[RowKey, dict[str, Result]] = field(default_factory=dict)

    def result(self, item: CatalogItem) -> Result:
        key = item.key
        if key not in self.results:
            self.results[key] = self._run(item, self.wanted.get(key, {item.prop}))
        res = self.results[key]
        self.left[key] = self.left.get(key, 1) - 1
        if self.left[key] <= 0:  # every selected item of the row has run: let it go
            del self.results[key]
        if item.prop not in res:  # not selected when collected (a plugin added it): run it alone
            return self._run(item, {item.prop})[item.prop]
        return res[item.prop]

    def _run(self, item: CatalogItem, props: set[str]) -> dict[str, Result]:
        from oomcheck.verify import expect_results, proof_results

        cat, key = item.catalog, item.key
        settings = _settings(item.config)
        if key.kind == "expect":
            e = cat.expect[key.row]
            _, _, results = expect_results(cat, e, e.size_points()[key.point], settings, props)
        else:
            pe = cat.proofs[key.row]
            results = proof_results(cat, pe, pe.size_points()[key.point], settings, props)
        return {r.property: r for r in results}


_RUNS = pytest.StashKey[_Runs]()


def _settings(config: pytest.Config) -> Settings:
    from oomcheck.verify import Settings

    return Settings(_limits(config), cross=False)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After -k/-m selection: which properties of each row the selected items need."""
    runs = config.stash[_RUNS]
    for item in items:
        if isinstance(item, CatalogItem):
            runs.wanted.setdefault(item.key, set()).add(item.prop)
            runs.left[item.key] = runs.left.get(item.key, 0) + 1
