"""Loading a catalog: validated as a whole on every load, and where a variant file's BASE is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomcheck import catalog
from oomcheck.catalog import build_variant, load_catalog, resolve_variant
from oomcheck.checker.language.lang import ModelError
from oomcheck.cli import EXIT_USAGE, EXIT_VIOLATED, main

SPEC = Path(catalog.__file__).resolve().parent.parent / "spec"
HEAD = 'model = "freezer"\n[variants.pre]\nknobs = { thaw = "victim", exemption = "memdie" }\n'
ROW = '[[expect]]\nvariant = "pre"\nsizes = { threads = [2] }\n'

BAD_ROWS = {
    "unknown knob": (ROW + 'knobs = { nokob = "x" }\nverdicts = { victim-exits = "violated" }\n',
                     "expect[1] (variant pre): model freezer has no knob 'nokob'"),
    "knob value": (ROW + 'knobs = { freezer = "v3" }\nverdicts = { victim-exits = "violated" }\n',
                   "expect[1] (variant pre): knob freezer of model freezer must be one of"),
    "unknown property": (ROW + 'verdicts = { flies = "holds" }\n',
                         "expect[1] (variant pre): no property 'flies'"),
    "unknown size": ('[[expect]]\nvariant = "pre"\nsizes = { cpus = [2] }\n',
                     "expect[1] (variant pre): model freezer has no size 'cpus'"),
    "unknown variant": ('[[expect]]\nvariant = "post"\n', "expect[1]: unknown variant 'post'"),
    "proof row": ('[[proof]]\nvariant = "pre"\nengine = "chc"\nsizes = { threads = [2] }\n'
                  'expect = { flies = "proved" }\n', "proof[0] (variant pre): no property 'flies'"),
}
GOOD_ROW = ROW + 'verdicts = { victim-exits = "violated" }\n'


def _spec(tmp_path: Path, extra: str) -> Path:
    f = tmp_path / "my.toml"
    f.write_text(HEAD + GOOD_ROW + extra)
    return f


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_every_load_refuses_a_bad_row(name: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    row, message = BAD_ROWS[name]
    spec = _spec(tmp_path, row)
    with pytest.raises(ModelError) as e:
        load_catalog(spec)
    assert str(e.value).startswith(f"{spec}: ") and message in str(e.value)
    # check and simulate load the whole catalog first, even for a good variant of it
    for argv in (["check", "freezer", "--variant", "pre", "--threads", "2", "--quiet"],
                 ["simulate", "freezer", "--variant", "pre"], ["verify", "--quiet"]):
        argv = [*argv, "--spec", str(spec)] if argv[0] != "verify" else [*argv, str(spec)]
        code, out, err = _run(capsys, *argv)
        assert (code, out) == (EXIT_USAGE, ""), argv
        assert err.count("\n") == 1 and message in err and str(spec) in err, err


def test_list_refuses_a_bad_shipped_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, BAD_ROWS["unknown property"][0])
    monkeypatch.setattr(catalog, "SPEC_DIR", tmp_path)
    code, out, err = _run(capsys, "list")
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and f"{spec}: expect[1]" in err


def test_a_broken_variant_is_refused_even_without_a_row(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text('MODEL = "freezer"\ndef derive(m):\n    return None\n')
    (tmp_path / "other.py").write_text('MODEL = "reaper"\ndef derive(m):\n    return m\n')
    for name, message in (("broken.py", "derive() must return the model"),
                          ("other.py", "is for model reaper, not freezer")):
        spec = _spec(tmp_path, f'[variants.x]\nfile = "{name}"\n')
        with pytest.raises(ModelError, match=r"variants\.x") as e:
            load_catalog(spec)
        assert str(spec) in str(e.value) and message in str(e.value)


def test_the_shipped_catalogs_load() -> None:
    cats = catalog.default_catalogs()
    assert {c.model for c in cats} >= {"freezer", "reaper"}


def test_base_is_found_in_the_models_catalog_wherever_the_file_is_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # v8 is written as a patch on `pre`; a catalog elsewhere that records the file but has no
    # `pre` of its own still builds it on the model's `pre`
    spec = tmp_path / "elsewhere.toml"
    spec.write_text(f'model = "freezer"\n[variants.v8copy]\nfile = "{SPEC}/variants/freezer_v8.py"\n'
                    '[[expect]]\nvariant = "v8copy"\nsizes = { threads = [2] }\n'
                    'verdicts = { oom-victims-balance = "violated", victim-exits = "holds" }\n')
    cat = load_catalog(spec)
    mine = build_variant(resolve_variant(cat, "v8copy"), {"threads": 2}, {}, cat)
    shipped = catalog.catalog_for("freezer")
    ref = build_variant(resolve_variant(shipped, "v8"), {"threads": 2}, {}, shipped)
    assert [a.name for a in mine.actions] == [a.name for a in ref.actions]
    assert mine.knobs == ref.knobs
    code, out, _ = _run(capsys, "verify", str(spec), "--quiet", "--no-cross-check", "--jobs", "1")
    assert code == 0 and "all 2 verdicts as expected" in out


def test_base_prefers_the_recording_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a catalog's own variant of that name wins: here its `pre` is the v10 knob set
    (tmp_path / "patch.py").write_text('MODEL = "freezer"\nBASE = "pre"\ndef derive(m):\n    return m\n')
    spec = tmp_path / "own.toml"
    spec.write_text('model = "freezer"\n[variants.patched]\nfile = "patch.py"\n[variants.pre]\n'
                    'knobs = { thaw = "group", exemption = "oom_victim" }\n')
    code, out, _ = _run(capsys, "check", "freezer", "--spec", str(spec), "--variant", "patched",
                        "--threads", "2", "--property", "victim-exits", "--quiet")
    assert code == 0 and "thaw=group" in out
    code, out, _ = _run(capsys, "check", "freezer", "--variant", str(tmp_path / "patch.py"),
                        "--threads", "2", "--property", "victim-exits", "--quiet")
    assert code == EXIT_VIOLATED and "thaw=victim" in out  # no --spec: the model's catalog
