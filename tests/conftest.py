from collections.abc import Generator

import pytest

from tests.support.ci import DATABASE_VARIABLE, in_ci, missing_in_ci

# the databases (db_url, engine, demo_world) for every folder that needs them; pytest
# takes pytest_plugins only from this, the root conftest
pytest_plugins = ["tests.support.db"]


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    import os

    url = os.environ.get(DATABASE_VARIABLE)
    ci = "CI: every skip fails" if in_ci() else "not CI: a missing service skips"
    if url:
        return f"database tests: SQLite and PostgreSQL ({url}); {ci}"
    return f"database tests: SQLite only (set {DATABASE_VARIABLE} for PostgreSQL); {ci}"


def pytest_sessionstart(session: pytest.Session) -> None:
    why = missing_in_ci()
    if why:
        raise pytest.UsageError(why)


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    # a skip's longrepr is (path, line, reason); anything else is shown as it is
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Under CI a skip (pytest.skip, a skipif mark, importorskip) is a failure with its reason.

    CI exists to run everything: a service or browser that is missing there
    is a broken CI machine, not a test to leave out. An expected failure
    (xfail) is not a skip and stays as it is.
    """
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run everything: {_skip_reason(report)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_skip_in_ci(report)
    return report
