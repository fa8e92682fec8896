#!/usr/bin/env python3
"""Set-up and entry point that needs nothing but Python: creates .venv on first use.

    python3 dev.py verify [args]   run the spec catalog (oomcheck verify)
    python3 dev.py test [args]     ruff, then the test suite (pytest, on every core: -n 0 for one)
    python3 dev.py oomcheck ARGS   any oomcheck command
    python3 dev.py bench [args]    the benchmarks
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".oomcheck-installed"


def ensure_env() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    print("dev.py: installing oomcheck and its test dependencies into .venv", file=sys.stderr)
    # the pip that Python 3.11's venv brings installs an editable pyproject package; no
    # bytecode is compiled up front (a third of the install's time): Python compiles what is
    # imported, on first import
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-q", "--no-compile", "-e",
                    f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("verify", "test", "oomcheck", "bench"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ensure_env()
    cmd, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if cmd == "verify":
        return subprocess.run([str(BIN / "oomcheck"), "verify", *rest], check=False).returncode
    if cmd == "oomcheck":
        return subprocess.run([str(BIN / "oomcheck"), *rest], check=False).returncode
    if cmd == "bench":
        return subprocess.run([str(BIN / "python"), "bench/run.py", *rest], check=False).returncode
    lint = subprocess.run([str(BIN / "ruff"), "check", "."], check=False)
    if lint.returncode != 0:
        return lint.returncode
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *parallel(rest), *rest],
                          check=False).returncode


def parallel(args: list[str]) -> list[str]:
    """`-n auto` (pytest-xdist, one worker per core) unless the arguments choose: any -n or
    --numprocesses (`-n 0` runs in this process), or `-p no:xdist`. Tests take from a few
    milliseconds to a quarter of a minute: idle workers steal queued ones (`--dist worksteal`)
    unless --dist is given."""
    for i, a in enumerate(args):
        if a in ("-n", "--numprocesses") or a.startswith(("-n", "--numprocesses=")):
            return []
        if (a == "no:xdist" and i > 0 and args[i - 1] == "-p") or a == "-pno:xdist":
            return []
    dist = any(a == "--dist" or a.startswith("--dist=") for a in args)
    return ["-n", "auto", *([] if dist else ["--dist", "worksteal"])]


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the command that was running has said so in its one line
        sys.exit(130)
