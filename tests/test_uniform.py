"""The uniform subset of Python that a proof for every size reads variant files in."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck.checker.language.uniform import nonuniform_use

ROOT = Path(__file__).parent.parent


# the regressions of tests/variants are caught by the symbols' own records, not by this reading,
# except size_isinstance.py, whose isinstance() is now refused here as well
_SHIPPED = sorted((ROOT / "spec" / "variants").glob("*.py")) + sorted(
    p for p in (ROOT / "tests" / "variants").glob("*.py") if p.name != "size_isinstance.py")


@pytest.mark.parametrize("path", _SHIPPED, ids=lambda p: p.name)
def test_every_shipped_variant_file_is_in_the_subset(path: Path) -> None:
    assert nonuniform_use(path) is None


def test_a_type_test_is_outside_the_subset() -> None:
    why = nonuniform_use(ROOT / "tests" / "variants" / "size_isinstance.py")
    assert why is not None and "uses isinstance" in why, why


@pytest.mark.parametrize(("code", "words"), [
    ("import os", "a plain import"),
    ("from oomcheck.checker.language.lang import Size", "imports from oomcheck.checker"),
    ("from oomcheck.models import freezer", "imports from oomcheck.models (only"),
    ("from oomcheck.models.freezer import *", "one by one"),
    ("from . import x", "imports from ."),
    ("from mylib import helper", "imports from mylib"),
    ("x = type(1)", "uses type"),
    ("x = id(1)", "uses id"),
    ("x = isinstance(1, int)", "uses isinstance"),
    ("x = eval('1')", "uses eval"),
    ("x = undefined_name", "does not define"),
    ("x = (1).__class__", "attribute __class__"),
    ("x = 1 is 2", "`is` comparison"),
    ("try:\n    pass\nexcept Exception:\n    pass", "try/except"),
    ("with x:\n    pass", "a with statement"),
    ("class A:\n    pass", "a class"),
    ("match 1:\n    case 1:\n        pass", "a match"),
    ("global g", "a global"),
    ("x = (", "does not parse"),
    ("from oomcheck.models.freezer import DEFAULT_KNOBS", "a mutable object"),
    ("from oomcheck.models.freezer import thaw_done\nthaw_done.x = 1", "changes thaw_done"),
    ("from oomcheck.lang import IntType\nIntType.symbolic = 1", "changes IntType"),
])
def test_each_construct_outside_the_subset_is_named_with_its_line(tmp_path: Path, code: str,
                                                                   words: str) -> None:
    f = tmp_path / "v.py"
    f.write_text('"""doc"""\n' + code + "\n")
    why = nonuniform_use(f)
    lines = range(2, 2 + code.count("\n") + 1)
    assert why is not None and words in why, why
    assert any(why.startswith(f"{f}:{n}:") for n in lines), why


def test_what_a_patch_needs_is_in_the_subset(tmp_path: Path) -> None:
    f = tmp_path / "v.py"
    f.write_text('from __future__ import annotations\n\n'
                 'from oomcheck.lang import IntType, forall, ite\n'
                 'from oomcheck.models.freezer import THREAD, OomPC\n\n'
                 'MODEL = "freezer"\nKNOBS = {"thaw": "group"}\n\n\n'
                 'def derive(m):\n'
                 '    names = [a.name for a in m.actions if a.name is not None]\n'
                 '    for i, name in enumerate(sorted(names)):\n'
                 '        print(f"{i}: {name}")\n'
                 '    x = m.ref("oom_pc")\n'
                 '    m.invariant("p", forall(THREAD, lambda t: ite(x == OomPC.DONE, 1, 1) == 1), "")\n'
                 '    return m\n')
    assert nonuniform_use(f) is None


def test_a_file_is_read_again_once_it_changes(tmp_path: Path) -> None:
    f = tmp_path / "v.py"
    f.write_text("x = 1\n")
    assert nonuniform_use(f) is None
    f.write_text("x = type(1)\n")
    assert nonuniform_use(f) is not None
