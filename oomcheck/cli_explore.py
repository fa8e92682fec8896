"""`oomcheck explore`: serve the trace explorer for one model variant on a local web page.

cli.py wires this in with add_parsers(subparsers) and run(args). Bad input raises ModelError
(one line, exit code 2 in cli.main). The command checks the chosen properties first (explicit
search), prints the verdicts and the URL, then serves until Ctrl-C, and exits 0.

    oomcheck explore MODEL --variant V [--threads N ...] [--knob K=V] [--property P]...
                         [--host H] [--port P] [--no-browser]
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from oomcheck.argtypes import SIZE_OPTIONS, natural, positive, seconds
from oomcheck.argtypes import knob as _knob
from oomcheck.catalog import model_for
from oomcheck.checker.explicit.search import Limits
from oomcheck.checker.language.lang import ModelError
from oomcheck.explore.server import make_server
from oomcheck.explore.session import Session


def _port(text: str) -> int:
    p = natural(text)
    if p > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0..65535): {text}")
    return p


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    e = subparsers.add_parser(
        "explore", help="step through a counterexample in the browser and branch off it")
    e.add_argument("model", help="model name (see 'oomcheck list')")
    e.add_argument("--variant", required=True,
                   help="a variant of the model's catalog, or the path of a variant .py file")
    e.add_argument("--property", action="append", default=[],
                   help="show only this property (repeatable; default: all)")
    for size, opt in SIZE_OPTIONS.items():
        e.add_argument(opt, type=positive, dest=size, help=f"number of {size}")
    e.add_argument("--knob", type=_knob, action="append", default=[],
                   help="set a model knob, e.g. --knob freezer=cgroup2 (repeatable)")
    e.add_argument("--spec", type=Path, help="catalog to take the variant from "
                   "(default: the spec/ catalog of the model)")
    e.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    e.add_argument("--port", type=_port, default=0,
                   help="port to listen on (default 0: a free one, printed)")
    e.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    e.add_argument("--max-states", type=positive, default=20_000_000,
                   help="the search behind the verdicts stops with 'unknown' past this (default 20000000)")
    e.add_argument("--max-seconds", type=seconds, default=600.0,
                   help="... or past this long (default 600)")


def run(args: argparse.Namespace) -> int:
    sizes = {s: getattr(args, s) for s in SIZE_OPTIONS if getattr(args, s) is not None}
    model, _ = model_for(args.model, args.variant, args.spec, sizes, dict(args.knob))
    props = model.select(args.property)
    session = Session(model, props, Limits(args.max_states, args.max_seconds))
    print(f"oomcheck: checking {len(props)} properties of {session.overview()['title']}",
          file=sys.stderr, flush=True)
    for v in session.verdicts():
        steps = f", counterexample of {v['steps']} steps" if v["steps"] is not None else ""
        print(f"  {v['property']}: {v['verdict']} ({v['strength']}){steps}", flush=True)
    try:
        server = make_server(session, args.host, args.port)
    except OSError as e:
        raise ModelError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    host, port = server.server_address[:2]
    url = f"http://{host if ':' not in str(host) else f'[{host}]'}:{port}/"
    print(f"oomcheck: explorer at {url} (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("oomcheck: explorer stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
