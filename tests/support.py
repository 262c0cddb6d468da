"""What several test packages share: the test clock and the migrated-database copies.

Fixtures built on these live in ``tests/conftest.py``; test packages override a
fixture (``db_url``, say) in their own conftest where they need something else.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from compliance.calendar import SHANGHAI
from compliance.model import Finding
from compliance.policy import Policy
from storage.db import make_async_sessionmaker

__all__ = ["MONDAY_10", "AppCalls", "FakeClock", "copy_database", "findings_of"]

# Monday 2026-11-23 10:00 in Shanghai: a working day, inside attended hours.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


class FakeClock:
    """The app's clock in tests: it moves only when told.

    Pass `clock` itself (a callable) or `clock.now` where the app wants a clock.
    """

    def __init__(self, start: datetime = MONDAY_10) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def now(self) -> datetime:
        return self.current

    @property
    def unix(self) -> int:
        return int(self.current.timestamp())

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


def copy_database(template: Path, directory: Path, name: str = "bot.sqlite3") -> str:
    """A copy of a migrated SQLite file in `directory`, as a database URL."""
    target = directory / name
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def findings_of(db_url: str, policy: Policy) -> list[Finding]:
    """Every compliance finding on the database's sessions, read the way
    `aftersales check --db` reads them (`compliance.dbsource`)."""
    from compliance.checker import check_sessions
    from compliance.dbsource import load_sessions
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        stored = load_sessions(engine)
    finally:
        engine.dispose()
    assert stored.errors == [], [str(e) for e in stored.errors]
    return list(check_sessions(stored.sessions, policy))


class AppCalls:
    """Mixin for a test's handle on the running app: the engineer API and row counts.

    The class using it provides `client` (aiohttp's test client) and `engine`.
    """

    client: TestClient[Any, Any]
    engine: AsyncEngine

    async def api(
        self, method: str, path: str, staff_no: str, status: int = 200, **body: Any
    ) -> dict[str, Any]:
        """Call the engineer API as `staff_no`; asserts the status, returns the JSON."""
        response = await self.client.request(
            method, path, json=body if method == "POST" else None, headers={"X-Staff-No": staff_no}
        )
        data = await response.json()
        assert response.status == status, data
        return dict(data)

    async def count(self, model: type[Any], *where: Any) -> int:
        """Rows of `model` matching `where`."""
        async with make_async_sessionmaker(self.engine)() as session:
            counted = await session.scalar(select(func.count()).select_from(model).where(*where))
            return int(counted or 0)
