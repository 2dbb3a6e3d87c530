"""``natsched fixtures``: generate Henan-like instances (issue #3).

Registered into the main parser by :mod:`natsched.cli`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _cmd_generate(args: argparse.Namespace) -> int:
    from scheduler.fixturegen import generate, lab_kind_counts, summary, write_fixture

    t0 = time.perf_counter()
    fx = generate(args.scale, args.seed)
    out = write_fixture(fx, args.outdir)
    info = summary(fx)
    if args.json:
        print(json.dumps({**info, "folder": str(out)}, ensure_ascii=False))
        return 0
    by_kind = lab_kind_counts(fx.problem)
    kinds = ", ".join(f"{k} {n}" for k, n in by_kind.items())
    print(f"{fx.preset.name} (seed {fx.seed}) written to {out} in {time.perf_counter() - t0:.1f} s")
    print(f"  labs {info['labs']} ({kinds})")
    print(
        f"  sites {info['sites']:,}, batches {info['batches']:,}, tubes {info['tubes']:,}, "
        f"people {info['people']:,}"
    )
    print(
        f"  nominal capacity {info['nominal_capacity_per_day']:,} tubes/day; "
        f"demand / on-time capacity {info['demand_ratio']}"
    )
    print(f"  upload files {info['upload_files']} in {out / 'uploads'}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from scheduler.fixturegen import PRESETS

    for p in PRESETS.values():
        print(f"{p.name:<9} seed {p.default_seed:<3} {p.description}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``fixtures generate SCALE OUTDIR [--seed N]`` and ``fixtures list``."""
    from scheduler.fixturegen.presets import PRESETS

    p: argparse.ArgumentParser = subparsers.add_parser(
        "fixtures",
        help="Generate Henan-like instances and county upload files.",
        description="Generate Henan-like SPEC instances and county upload files (seeded).",
        epilog="example:\n  natsched fixtures generate province /tmp/p --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="fixtures_command", metavar="ACTION")
    g = sub.add_parser(
        "generate",
        help="write one preset into OUTDIR",
        description="Write a SPEC instance, uploads/ and fixture.json into OUTDIR.",
        epilog="example:\n  natsched fixtures generate city /tmp/city --seed 7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("scale", metavar="SCALE", choices=list(PRESETS), help=", ".join(PRESETS))
    g.add_argument("outdir", metavar="OUTDIR", type=Path, help="folder to write (created)")
    g.add_argument("--seed", type=int, default=None, help="default: the preset's own seed")
    g.add_argument("--json", action="store_true", help="print the summary as JSON")
    g.set_defaults(handler=_cmd_generate)
    ls = sub.add_parser(
        "list",
        help="list the presets",
        description="List the presets.",
        epilog="example:\n  natsched fixtures list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.set_defaults(handler=_cmd_list)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(handler=_help)
