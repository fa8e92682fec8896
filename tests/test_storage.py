"""The native core's compact storage: a search that switches to 64-bit fingerprints (forced
early here) gives the same verdicts, state and transition counts as the exact one, says that a
"holds" is probabilistic, and its counterexamples (rebuilt from the states written to the file,
without parent pointers) replay on the model."""

from __future__ import annotations

import json
import shutil

import pytest

from oomcheck.catalog import build_variant, catalog_for, resolve_variant
from oomcheck.checker.explicit.native import core as native_core
from oomcheck.checker.explicit.search import Limits, check_explicit
from oomcheck.checker.language.lang import Model
from oomcheck.checker.render import strength_text
from oomcheck.cli import main

from .test_engine_vs_reference import _check_lasso, _replay

pytest.importorskip("cffi")
if not (shutil.which("gcc") or shutil.which("cc")):
    pytest.skip("no C compiler", allow_module_level=True)


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("OOMCHECK_NATIVE_CACHE", str(tmp_path_factory.mktemp("native-cache")))
    yield
    mp.undo()


def _freezer(variant: str, n: int) -> Model:
    cat = catalog_for("freezer")
    return build_variant(resolve_variant(cat, variant), {"threads": n}, {}, cat, max_size=n)


@pytest.mark.parametrize("liveness", [False, True], ids=["layers", "graph"])
@pytest.mark.parametrize("variant", ["v10", "pre"])
def test_fingerprints_agree_with_exact_storage(variant: str, liveness: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    m = _freezer(variant, 9)  # 71 state bits: two words, so fingerprints may be used
    props = [p for p in m.properties.values() if liveness or not p.is_liveness]
    exact = check_explicit(m, props, core="native", storage="exact")
    monkeypatch.setattr(native_core, "FP_AFTER", 500)
    fp = check_explicit(m, props, core="native")
    for a, b in zip(exact, fp, strict=True):
        assert "storage" not in a.strength and not a.strength.get("probabilistic")
        assert (a.verdict, a.states, a.transitions, a.depth) == (b.verdict, b.states, b.transitions,
                                                                  b.depth), a.property
        assert b.strength["probabilistic"] and "fingerprints from 500 states" in b.strength["storage"]
        if b.verdict == "holds":
            assert "high probability only" in strength_text(b)
        if b.trace is not None:
            assert [s.action for s in a.trace.steps] == [s.action for s in b.trace.steps]
            p = m.properties[b.property]
            if p.is_liveness:
                _check_lasso(m, p, b.trace)
            else:
                _replay(m, b.trace)
    if variant == "pre":
        assert any(r.verdict == "violated" for r in fp)


def test_states_that_fit_in_64_bits_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_core, "FP_AFTER", 10)
    m = _freezer("v10", 4)
    rs = check_explicit(m, [m.properties["no-deadlock"]], core="native")
    assert "storage" not in rs[0].strength


def test_state_limit_is_exact_with_fingerprints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_core, "FP_AFTER", 100)
    m = _freezer("v10", 9)
    props = [p for p in m.properties.values() if not p.is_liveness]
    for cap in (99, 100, 5000):
        rs = check_explicit(m, props, Limits(max_states=cap), core="native")
        assert all(r.states == cap and r.verdict == "unknown" for r in rs)


def test_cli_storage_exact(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(native_core, "FP_AFTER", 100)
    monkeypatch.setenv("OOMCHECK_STORAGE", "auto")  # main() sets both: restored afterwards
    monkeypatch.setenv("OOMCHECK_CORE", "native")
    argv = ["check", "freezer", "--variant", "v10", "--threads", "9", "--property", "no-deadlock",
            "--format", "json", "--quiet", "--core", "native", "--por", "off"]
    main(argv)
    fp = json.loads(capsys.readouterr().out)["results"][0]
    main([*argv, "--storage", "exact"])
    exact = json.loads(capsys.readouterr().out)["results"][0]
    assert fp["strength"]["probabilistic"] and "probabilistic" not in exact["strength"]
    assert fp["states"] == exact["states"] and fp["verdict"] == exact["verdict"] == "holds"
