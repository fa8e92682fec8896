"""Results in the formats CI systems read: JUnit XML (`--junit FILE`, read by Jenkins, GitLab,
GitHub Actions reporters) and TAP version 13 (`--tap`, what kselftest and KernelCI speak).

One test case per (variant, size point, property), named `model.variant[knobs].sizes` /
`property`. What a dashboard shows follows the exit code, so a red job never shows only green
tests:

- check: `violated` is a failure (its counterexample is the failure text); a "holds" that is a
  proof or a complete search passes; `unknown` and a "holds" that is not a proof (a bound, a
  probability) are skipped with the reason, as exit codes 3 and 4 are not 0.
- verify: a verdict (or strength) that differs from the catalog, or a BMC cross-check that
  disagrees, is a failure; everything else passes, whatever the verdict, since a violation the
  catalog expects is a correct answer.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oomcheck.checker.language.lang import Model, ModelError
from oomcheck.checker.render import result_text, strength_text
from oomcheck.checker.trace import Result


@dataclass
class Case:
    suite: str  # the model
    classname: str  # model.variant[knobs].sizes
    name: str  # the property (and the engine, for a proof row)
    status: str  # passed | failed | skipped
    message: str = ""  # one line: why it failed or was skipped
    grounds: str = ""  # the verdict and what it rests on
    counterexample: str = ""  # the trace as `check` prints it, for a violation
    seconds: float = 0.0


def junit_path(text: str) -> Path:
    """--junit FILE: refused at once when its directory does not exist (not after the run)."""
    p = Path(text)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"no directory {parent} for the JUnit file {text}")
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    return p


def add_options(p: argparse.ArgumentParser) -> None:
    """--junit FILE and --tap, for check and verify."""
    p.add_argument("--junit", type=junit_path, metavar="FILE",
                   help="also write the results as JUnit XML to FILE (one test case per "
                        "variant, size and property)")
    p.add_argument("--tap", action="store_const", dest="format", const="tap",
                   help="print TAP version 13 on stdout instead of the text (as kselftest does)")


def _classname(model: str, variant: str, knobs: dict, sizes: dict) -> str:
    # dots separate package and class in JUnit viewers: keep them out of the parts
    k = ",".join(f"{a}={b}" for a, b in knobs.items())
    s = ",".join(f"{a}={b}" for a, b in sizes.items())
    parts = [model, variant + (f"[{k}]" if k else ""), s or "default"]
    return ".".join(p.replace(".", "_") for p in parts)


def check_cases(model: Model, results: list[Result], knobs: dict[str, str],
                is_proof: Callable[[Result], bool]) -> list[Case]:
    """A check's results: knobs are those given on the command line (the variant's own are in
    its name)."""
    cls = _classname(model.name, model.variant, knobs, model.sizes)
    out = []
    for r in results:
        grounds = f"{r.verdict} ({strength_text(r)})"
        case = Case(model.name, cls, r.property, "passed", "", grounds, seconds=r.seconds)
        if r.verdict == "violated":
            case.status, case.message = "failed", grounds
            case.counterexample = result_text(r) if r.trace is not None else ""
        elif r.verdict == "unknown":
            case.status, case.message = "skipped", f"unknown: {r.reason or 'no answer'}"
        elif not is_proof(r):
            case.status, case.message = "skipped", f"{grounds}: not a proof"
        out.append(case)
    return out


def verify_cases(rows: list[dict], mismatches: list[str]) -> list[Case]:
    """verify's rows (and a catch-all failure for a mismatch no row accounts for)."""
    out = []
    for row in rows:
        proof = row.get("proof_engine")
        name = row["property"] + (f" [{proof}]" if proof else "")
        cls = _classname(row["model"], row["variant"], row["knobs"], row["sizes"])
        got = row["verdict"] if not proof else _proof_strength(row)
        r = Result(row["property"], "", row["verdict"], row["engine"], row.get("states", 0),
                   strength=row["strength"])
        grounds = f"{r.verdict} ({strength_text(r)})"
        case = Case(row["model"], cls, name, "passed", "", grounds,
                    seconds=float(row.get("seconds", 0.0)))
        why = []
        if not row["ok"]:
            why.append(f"expected {row['expected']}, got {got}"
                       + (f" ({row['reason']})" if row.get("reason") else ""))
            case.counterexample = row.get("counterexample", "")
        if row.get("cross_check"):
            why.append(row["cross_check"])
        if why:
            case.status, case.message = "failed", "; ".join(why)
        out.append(case)
    if mismatches and not any(c.status == "failed" for c in out):
        out.append(Case("catalog", "catalog", "consistency", "failed",
                        f"{len(mismatches)} differences from the catalog", "\n".join(mismatches)))
    return out


def _proof_strength(row: dict) -> str:
    if row["verdict"] != "holds":
        return row["verdict"]
    return "proved" if row["strength"].get("kind") == "proved" else "bounded"


def junit_xml(cases: list[Case], name: str) -> str:
    """One <testsuite> per model inside <testsuites>, in the JUnit dialect Jenkins reads."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = platform.node() or "localhost"
    root = ET.Element("testsuites", name=name)
    suites: dict[str, list[Case]] = {}
    for c in cases:
        suites.setdefault(c.suite, []).append(c)
    for suite, members in suites.items():
        s = ET.SubElement(root, "testsuite", name=suite, tests=str(len(members)),
                          failures=str(sum(c.status == "failed" for c in members)), errors="0",
                          skipped=str(sum(c.status == "skipped" for c in members)),
                          time=_secs(sum(c.seconds for c in members)), timestamp=stamp,
                          hostname=host)
        for c in members:
            t = ET.SubElement(s, "testcase", name=c.name, classname=c.classname,
                              time=_secs(c.seconds))
            if c.status == "failed":
                kind = "violated" if c.message.startswith("violated") else "differs"
                f = ET.SubElement(t, "failure", message=c.message, type=kind)
                f.text = "\n".join(x for x in (c.message, c.grounds, c.counterexample) if x)
            elif c.status == "skipped":
                ET.SubElement(t, "skipped", message=c.message)
            ET.SubElement(t, "system-out").text = c.grounds
    root.set("tests", str(len(cases)))
    root.set("failures", str(sum(c.status == "failed" for c in cases)))
    root.set("errors", "0")
    root.set("time", _secs(sum(c.seconds for c in cases)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _secs(s: float) -> str:
    return f"{max(s, 0.0):.3f}"


def write_junit(path: Path, cases: list[Case], name: str) -> None:
    try:
        path.write_text(junit_xml(cases, name), encoding="utf-8")
    except OSError as e:
        raise ModelError(f"cannot write {path}: {e.strerror or e}") from None


def tap_text(cases: list[Case], notes: list[str] | None = None) -> str:
    """TAP version 13: the plan first, one line per case, a YAML block under a failure or a
    skip, and kselftest's totals line at the end."""
    lines = ["TAP version 13", f"1..{len(cases)}"]
    for i, c in enumerate(cases, 1):
        desc = f"{c.classname} {c.name}".replace("#", "no.")
        if c.status == "passed":
            lines.append(f"ok {i} - {desc}")
            continue
        if c.status == "skipped":
            lines.append(f"ok {i} - {desc} # SKIP {' '.join(c.message.split())}".replace("\n", " "))
        else:
            lines.append(f"not ok {i} - {desc}")
        lines += _yaml_block(c)
    for n in notes or []:
        lines.append("# " + n)
    counts = {s: sum(c.status == s for c in cases) for s in ("passed", "failed", "skipped")}
    lines.append(f"# Totals: pass:{counts['passed']} fail:{counts['failed']} xfail:0 xpass:0 "
                 f"skip:{counts['skipped']} error:0")
    return "\n".join(lines)


def _yaml_block(c: Case) -> list[str]:
    """A TAP 13 diagnostic block: JSON strings are YAML scalars; the text a literal block."""
    out = ["  ---", f"  message: {json.dumps(c.message)}",
           f"  severity: {'fail' if c.status == 'failed' else 'skip'}",
           f"  duration_ms: {round(c.seconds * 1000, 1)}"]
    if c.grounds:
        out.append(f"  grounds: {json.dumps(c.grounds)}")
    if c.counterexample:
        out.append("  counterexample: |2-")  # content indented 2 more than the mapping
        for ln in c.counterexample.splitlines():
            if ln.lstrip().startswith("..."):  # a TAP reader would take it for the block's end
                ln = ln.replace("...", "(...)", 1)
            out.append("    " + ln.rstrip())  # a blank line keeps the indent: it is in the block
    out.append("  ...")
    return out


def emit_check(args: argparse.Namespace, model: Model, results: list[Result],
               is_proof: Callable[[Result], bool]) -> str | None:
    """For `check`: writes --junit FILE; returns the TAP text with --tap (else None)."""
    cases = check_cases(model, results, dict(args.knob), is_proof)
    if args.junit is not None:
        write_junit(args.junit, cases, f"oomcheck check {model.name} {model.variant}")
    return tap_text(cases) if args.format == "tap" else None


def emit_verify(args: argparse.Namespace, rows: list[dict], mismatches: list[str],
                unchecked: list[str]) -> str | None:
    """For `verify`: writes --junit FILE; returns the TAP text with --tap (else None)."""
    cases = verify_cases(rows, mismatches)
    if args.junit is not None:
        write_junit(args.junit, cases, "oomcheck verify")
    notes = [f"not cross-checked with bmc (solver limits): {u}" for u in unchecked]
    return tap_text(cases, notes) if args.format == "tap" else None
