"""The dependency audit (``make audit``, run by ``make test``) on made-up index answers.

The live run talks to the package index and belongs to ``make``; here the
index is faked, so every verdict is checked without the network.
"""

from __future__ import annotations

from typing import Any

import pytest

from tools import audit

VULN = {"id": "PYSEC-0000-1", "fixed_in": ["2.0"], "withdrawn": None}


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any] | None]:
    pages: dict[str, dict[str, Any] | None] = {}
    monkeypatch.setattr(audit, "_get", lambda url, timeout: pages.get(url))
    return pages


def test_a_release_record_with_a_vulnerability_fails_the_audit(index):
    index["I/bad/1.0/json"] = {"vulnerabilities": [VULN]}
    index["I/good/3.0/json"] = {"vulnerabilities": []}
    results = audit.audit({"bad": "1.0", "good": "3.0"}, index="I")
    by = {r.name: r for r in results}
    assert by["bad"].audited and by["bad"].vulnerabilities == [VULN]
    assert by["good"].audited and not by["good"].vulnerabilities
    assert "VULNERABLE bad 1.0: PYSEC-0000-1 (fixed in 2.0)" in audit.report(results)


def test_withdrawn_advisories_do_not_count(index):
    index["I/pkg/1.0/json"] = {"vulnerabilities": [{**VULN, "withdrawn": "2024-01-01"}]}
    (r,) = audit.audit({"pkg": "1.0"}, index="I")
    assert r.audited and not r.vulnerabilities


def test_the_project_record_answers_only_for_its_newest_release(index):
    # an index that serves /pypi/NAME/json but not /pypi/NAME/VERSION/json
    index["I/new/json"] = {"info": {"version": "2.0"}, "vulnerabilities": [VULN]}
    index["I/old/json"] = {"info": {"version": "9.0"}, "vulnerabilities": []}
    by = {r.name: r for r in audit.audit({"new": "2.0", "old": "1.0", "local": "0.1"}, "I")}
    assert by["new"].audited and by["new"].vulnerabilities == [VULN]
    assert not by["old"].audited and "9.0" in by["old"].why_not
    assert not by["local"].audited and "local" in by["local"].why_not
    text = audit.report(list(by.values()))
    assert "audited 1 of 3" in text
    assert "not audited: old 1.0" in text


def test_exit_status(index, monkeypatch, capsys):
    monkeypatch.setattr(audit, "installed", lambda: {"pkg": "1.0"})
    index["I/pkg/1.0/json"] = {"vulnerabilities": []}
    assert audit.main(["--index", "I"]) == 0
    index["I/pkg/1.0/json"] = {"vulnerabilities": [VULN]}
    assert audit.main(["--index", "I"]) == 1

    def unreachable(url: str, timeout: float) -> None:
        raise OSError("no route")

    monkeypatch.setattr(audit, "_get", unreachable)
    assert audit.main(["--index", "I"]) == 2
    assert "not reachable" in capsys.readouterr().err
