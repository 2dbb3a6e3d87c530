import sys
from pathlib import Path

# tests import their shared builders as a plain module
sys.path.insert(0, str(Path(__file__).parent))


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    import os

    url = os.environ.get("NATSCHED_TEST_DATABASE_URL")
    if url:
        return f"database tests: SQLite and PostgreSQL ({url})"
    return "database tests: SQLite only (set NATSCHED_TEST_DATABASE_URL for PostgreSQL)"
