"""Sweeps: the same table on local processes and on a two-worker Dask LocalCluster, the catalog's
expectations in the rows, and one clear line for every bad input before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oomcheck.checker.language.lang import ModelError
from oomcheck.cli import EXIT_USAGE, EXIT_VIOLATED, main
from oomcheck.sweep import DaskBackend, LocalBackend, plan, run_sweep

distributed = pytest.importorskip("distributed", reason="the Dask tests need oomcheck[dask]")

FREEZER = ["sweep", "freezer", "--variants", "pre,v8,thaw-all-keep-memdie,v10,v10-late-mark",
           "--sizes", "threads=2..4", "--quiet"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    # worker processes (not threads), as on a real cluster: a few seconds to start here
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c:
        yield c


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_local_and_dask_give_the_same_table(capsys: pytest.CaptureFixture[str],
                                            cluster: distributed.LocalCluster) -> None:
    code_l, local, _ = run(capsys, *FREEZER, "--jobs", "2")
    code_d, dask, _ = run(capsys, *FREEZER, "--scheduler", cluster.scheduler_address)
    assert (code_l, code_d) == (0, 0)
    assert local == dask
    rows = [ln for ln in local.splitlines() if "threads=" in ln]
    assert len(rows) == 15  # 5 variants x threads 2..4, in plan order
    assert rows[0].split()[:3] == ["pre", "threads=2", "violated"]
    assert all(ln.split()[2:12] == ["holds"] * 10 for ln in rows if ln.split()[0] == "v10")
    assert "150 results: 102 holds, 48 violated, 0 unknown; 135 with a catalog expectation, 0 differ" in local


def test_rows_have_verifys_shape_on_both_backends(cluster: distributed.LocalCluster) -> None:
    points = plan("freezer", ["pre", "v10"], {"threads": [2, 3]}, [], ["victim-exits", "no-deadlock"])
    with distributed.Client(cluster) as client:
        backends = [LocalBackend(2), DaskBackend(client)]
        try:
            done = [run_sweep(points, b) for b in backends]
        finally:
            for b in backends:
                b.close()
    keys = {"model", "variant", "knobs", "sizes", "property", "expected", "verdict", "engine",
            "strength", "states", "seconds", "ok"}
    local, dask = ([{k: v for k, v in row.items() if k not in ("seconds", "strength")}
                    for r in rs for row in r.rows] for rs in done)
    assert local == dask and len(local) == 8
    assert all(keys <= set(row) for rs in done for r in rs for row in r.rows)
    assert any("dask worker" in r.where for r in done[1])
    first = local[0]
    assert (first["variant"], first["sizes"], first["property"]) == ("pre", {"threads": 2}, "victim-exits")
    assert first["expected"] == first["verdict"] == "violated" and first["ok"]


CATALOG = """
model = "freezer"
description = "a catalog that expects the wrong verdict"
[variants.v10]
knobs = { thaw = "group", exemption = "oom_victim" }
[variants.pre]
knobs = { thaw = "victim", exemption = "memdie" }
[[expect]]
variant = "v10"
knobs = { freezer = "refrigerator" }
sizes = { threads = [2] }
[expect.verdicts]
victim-exits = "violated"
"""


def test_differences_and_unexpected_violations_fail(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    spec = tmp_path / "wrong.toml"
    spec.write_text(CATALOG)
    code, out, _ = run(capsys, "sweep", "freezer", "--spec", str(spec), "--variants", "v10",
                       "--sizes", "threads=2,3", "--property", "victim-exits", "--jobs", "1", "--quiet")
    assert code == EXIT_VIOLATED
    assert "holds!" in out  # threads=2: the catalog says violated
    assert "1 with a catalog expectation, 1 differ" in out
    assert "differs: v10  threads=2 victim-exits: expected violated, got holds" in out
    code, out, _ = run(capsys, "sweep", "freezer", "--spec", str(spec), "--variants", "pre",
                       "--sizes", "threads=2", "--property", "victim-exits", "--jobs", "1", "--quiet")
    assert code == EXIT_VIOLATED  # a violation the catalog does not expect
    assert "0 with a catalog expectation, 0 differ; 1 violated where the catalog expects nothing" in out


@pytest.mark.parametrize("argv, text", [
    (["--variants", "pre,nope"], "no variant 'nope'"),
    (["--sizes", "threads=1..3"], "must be 2..12"),
    (["--sizes", "threads=4..2"], "empty range"),
    (["--sizes", "threads=a"], "not whole numbers"),
    (["--sizes", "vmas=2"], "no size 'vmas'"),
    (["--knobs", "thaw=victim"], "fixes knob thaw"),
    (["--knobs", "thaw"], "expected K=V"),
    (["--property", "nope"], "no property 'nope'"),
    (["--jobs", "2", "--scheduler", "tcp://x:1"], "not allowed with"),
])
def test_bad_input_is_one_line_before_anything_runs(capsys: pytest.CaptureFixture[str],
                                                    argv: list[str], text: str) -> None:
    args = ["sweep", "freezer", *argv]
    if "--variants" not in argv:
        args += ["--variants", "v10"]
    code, out, err = run(capsys, *args)
    assert code == EXIT_USAGE and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in err, err


def test_unreachable_scheduler_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="cannot reach the Dask scheduler"):
        DaskBackend("tcp://127.0.0.1:9", timeout=1.0)
