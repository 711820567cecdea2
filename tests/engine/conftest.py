"""Fixtures of the engine tests."""
from __future__ import annotations

from pathlib import Path

import pytest_asyncio
from proc_helpers import make_engine


@pytest_asyncio.fixture
async def eng(tmp_path: Path):
    """A started engine with the test plugins and a database `db`."""
    e = make_engine(tmp_path)
    await e.start()
    await e.create_database("db")
    try:
        yield e
    finally:
        await e.stop()
