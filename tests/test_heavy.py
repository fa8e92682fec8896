"""Larger instances, left out of the default run (pytest -m heavy)."""

from __future__ import annotations

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.search import check_explicit

pytestmark = pytest.mark.heavy


@pytest.mark.parametrize(("variant", "expect"), [
    ("v10", {"victim-exits": "holds", "oom-victims-balance": "holds", "no-lost-thaw": "holds"}),
    ("pre", {"victim-exits": "violated", "no-frozen-after-thaw": "violated"}),
    ("v8", {"victim-exits": "holds", "oom-victims-balance": "violated"}),
])
def test_six_threads(variant: str, expect: dict[str, str]) -> None:
    cat = catalog_for("freezer")
    m = build_variant(resolve_variant(cat, variant), {"threads": 6}, {}, cat)
    rs = check_explicit(m, [m.properties[p] for p in expect])
    assert {r.property: r.verdict for r in rs} == expect
