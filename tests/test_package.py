"""A wheel works on its own: built from a copy of this tree, installed into a fresh virtual
environment, run from outside the repository (the catalog, the variant files, the native core's
C runtime and the pytest entry point come from the wheel).

Heavy: building the wheel fetches setuptools into pip's isolated build environment, and the
whole takes about half a minute. The new environment reuses this one's dependencies through a
.pth file (a path added that way has its own .pth files ignored, so this environment's editable
oomcheck stays out), with the wheel installed with --no-deps.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
    for name in ("oomcheck", "spec"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(src)], check=True, cwd=tmp)
    (wheel,) = dist.glob("oomcheck-*.whl")
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                    "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    (purelib,) = (env / "lib").glob("python3*/site-packages")
    (purelib / "deps-of-the-test-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env


def _run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def test_the_wheel_has_the_catalog(venv: Path, tmp_path: Path) -> None:
    code = ("import importlib.resources as r, oomcheck, oomcheck.catalog as c; "
            "print(oomcheck.__file__); print(c.SPEC_DIR); "
            "print(r.files('oomcheck.checker.explicit.native').joinpath('runtime.c').is_file())")
    out = _run(venv, "python", "-c", code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    where, spec_dir, runtime = out.stdout.split()
    assert where.startswith(str(venv)) and spec_dir.startswith(str(venv)), out.stdout
    assert spec_dir.endswith("oomcheck/spec") and runtime == "True"
    listed = _run(venv, "oomcheck", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in ("v10-late-mark", "file freezer_v8.py", "file reaper_zap_without_ptl.py"):
        assert name in listed.stdout
    assert "variants: none" not in listed.stdout
    # v8 is a variant file on `pre`: the file and its BASE come from the wheel's catalog
    checked = _run(venv, "oomcheck", "check", "freezer", "--variant", "v8", "--threads", "2",
                   "--property", "oom-victims-balance", "--quiet", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr
    assert "oom-victims-balance: violated" in checked.stdout
    version = _run(venv, "oomcheck", "--version", cwd=tmp_path)
    assert version.stdout.strip() == "oomcheck 0.1.0"


def test_the_wheel_brings_the_pytest_plugin(venv: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "mini.toml").write_text(
        'model = "freezer"\n[variants.v10]\nknobs = { thaw = "group", exemption = "oom_victim" }\n'
        '[variants.pre]\nknobs = { thaw = "victim", exemption = "memdie" }\n'
        '[[expect]]\nvariant = "v10"\nsizes = { threads = [2, 3] }\n'
        'verdicts = { victim-exits = "holds", oom-victims-balance = "holds" }\n'
        '[[expect]]\nvariant = "pre"\nsizes = { threads = [2] }\n'
        'verdicts = { victim-exits = "violated" }\n')
    out = _run(venv, "python", "-m", "pytest", "spec", "-k", "v10", "-n", "2", "-p", "no:cacheprovider",
               cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed in" in out.stdout  # the pre row is deselected


def test_an_editable_install_sees_spec_edits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")
    for name in ("oomcheck", "spec"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                    "-q", "--no-deps", "-e", str(src)], check=True, cwd=tmp_path)
    (purelib,) = (env / "lib").glob("python3*/site-packages")
    (purelib / "deps-of-the-test-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    with (src / "spec" / "freezer.toml").open("a") as f:
        f.write('\n[variants.added-after-install]\nknobs = { thaw = "group" }\n')
    out = _run(env, "oomcheck", "list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "added-after-install" in out.stdout
