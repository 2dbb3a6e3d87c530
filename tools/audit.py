"""``python -m tools.audit``: known vulnerabilities in the installed packages.

What ``pip-audit`` does, from the same data (PyPI's JSON API, whose records
come from the Python Packaging Advisory Database and OSV): for each installed
distribution, the vulnerabilities PyPI lists for that exact release. pip-audit
asks ``/pypi/NAME/VERSION/json`` only; where a package index serves just the
project's record (``/pypi/NAME/json``, the newest release's, as the index this
project's machines reach does), that record is used when the newest release
is the installed one. Releases neither answers for are listed as not audited,
never passed silently.

Exit status: 0 clean, 1 a known vulnerability, 2 the index could not be
reached at all.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

INDEX = "https://pypi.org/pypi"


@dataclass
class Audit:
    name: str
    version: str
    audited: bool = False
    source: str = ""  # which record answered
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)
    why_not: str = ""


def _get(url: str, timeout: float) -> dict[str, Any] | None:
    """The JSON at ``url``; None when the index has no such record (404)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data: dict[str, Any] = json.load(resp)
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def audit_one(name: str, version: str, index: str = INDEX, timeout: float = 30.0) -> Audit:
    out = Audit(name, version)
    release = _get(f"{index}/{name}/{version}/json", timeout)
    if release is None:
        project = _get(f"{index}/{name}/json", timeout)
        if project is None:
            out.why_not = "not on the index (a local package)"
            return out
        newest = str(project.get("info", {}).get("version", ""))
        if newest != version:
            out.why_not = f"the index serves only the newest release's record ({newest})"
            return out
        release, out.source = project, "project record (newest release)"
    else:
        out.source = "release record"
    out.audited = True
    out.vulnerabilities = [
        v for v in release.get("vulnerabilities") or [] if not v.get("withdrawn")
    ]
    return out


def installed() -> dict[str, str]:
    """Installed distributions, name -> version (the running interpreter's)."""
    return {
        str(d.metadata["Name"]).lower(): d.version for d in md.distributions() if d.metadata["Name"]
    }


def audit(packages: dict[str, str], index: str = INDEX, timeout: float = 30.0) -> list[Audit]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(
            pool.map(lambda nv: audit_one(nv[0], nv[1], index, timeout), sorted(packages.items()))
        )


def report(results: list[Audit]) -> str:
    done = [r for r in results if r.audited]
    bad = [r for r in done if r.vulnerabilities]
    lines = [
        f"audited {len(done)} of {len(results)} installed distributions against PyPI's "
        f"vulnerability records: {sum(len(r.vulnerabilities) for r in bad)} known "
        f"vulnerabilities"
    ]
    for r in bad:
        for v in r.vulnerabilities:
            fixed = ", ".join(v.get("fixed_in") or []) or "no fixed release"
            lines.append(f"  VULNERABLE {r.name} {r.version}: {v.get('id')} (fixed in {fixed})")
    for r in results:
        if not r.audited:
            lines.append(f"  not audited: {r.name} {r.version}: {r.why_not}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.audit", description=__doc__)
    ap.add_argument("--index", default=INDEX, help="the JSON API's base URL")
    args = ap.parse_args(argv)
    try:
        results = audit(installed(), args.index)
    except (urllib.error.URLError, OSError) as exc:
        print(f"audit: the package index is not reachable: {exc}", file=sys.stderr)
        return 2
    print(report(results))
    return 1 if any(r.vulnerabilities for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
