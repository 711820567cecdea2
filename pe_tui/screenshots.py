"""Regenerate screenshots/*.svg: a deterministic demo session (RecordedSource, frozen clock, UTC).

    python -m pe_tui.screenshots [--out screenshots] [--size 160x46]

Every pane, the help screen, a trigger detail, an activation detail, a cache
value, the command palette, a confirmation dialog and a system cache tree; then
the same demo with `--plugin-isolation process` (process-*.svg): the worker pool,
a worker crash among the failed activations, the pool in the Plugins pane.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .app import ConsoleApp
from .replay import FROZEN_NOW, RecordedSource

ROOT = Path(__file__).resolve().parents[1]


async def _settle(pilot, app: ConsoleApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.1)


class _Session:
    """One pilot-driven console run: press keys (each followed by a settle) and take shots."""

    def __init__(self, app: ConsoleApp, pilot, out: Path) -> None:
        self.app, self.pilot, self.out = app, pilot, out
        self.written: list[Path] = []

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await _settle(self.pilot, self.app)

    async def shot(self, name: str, title: str) -> None:
        path = self.out / f"{name}.svg"
        path.write_text(self.app.export_screenshot(title=f"pe console — {title}"), "utf-8")
        self.written.append(path)


@asynccontextmanager
async def _session(source: RecordedSource, out: Path, size: tuple[int, int]) -> AsyncIterator[_Session]:
    out.mkdir(parents=True, exist_ok=True)
    app = ConsoleApp(source, clock=lambda: FROZEN_NOW, tz=dt.timezone.utc, auto_tick=False)
    async with app.run_test(size=size) as pilot:
        await app.refresh_now()
        await _settle(pilot, app)
        yield _Session(app, pilot, out)


async def take(out: Path, size: tuple[int, int]) -> list[Path]:
    async with _session(RecordedSource.demo(now=FROZEN_NOW, extra_ticks=1), out, size) as run:
        app, pilot, press, shot = run.app, run.pilot, run.press, run.shot
        # panes
        await press("1")
        await press("down", "down")  # fleet_report: a schedule trigger with a next fire time
        await shot("triggers", "Triggers")
        await press("2")
        await shot("activations", "Activations")
        await press("3")
        await press("down", "down", "down", "down", "down", "down", "down")  # slow_rollup
        await shot("performance", "Performance")
        await press("4")
        await press("slash", *"host-07", "enter")
        await shot("logs", "Logs (search highlight)")
        await press("escape")
        await press("5")
        await press("down")  # demo/last_values: the busy scope
        await press("tab")
        await shot("caches", "Caches")
        await press("enter")
        await shot("cache-value", "cache value")
        await press("escape")
        await press("6")
        await press("down")
        await shot("plugins", "Plugins")
        # screens
        await press("1")
        await press("down", "down")  # fleet_report: a schedule, so next fire times show
        await press("enter")
        await shot("trigger-detail", "trigger detail")
        await press("escape")
        await press("2", "e")
        await press("enter")
        await shot("activation-detail", "activation detail (failed run)")
        await press("escape", "escape")
        await press("1", "d")
        await shot("confirm-delete", "confirmation")
        await press("n")
        await press("question_mark")
        await shot("help", "help (?)")
        await press("escape")
        await press("ctrl+p")
        await press(*"trig")
        await pilot.pause(0.5)
        await shot("palette", "command palette")
        await press("escape")
        await pilot.pause(0.3)
        await press("2")
        await press("p")
        await app.refresh_now()  # collected while paused: counted, not painted
        await _settle(pilot, app)
        await shot("paused", "PAUSED")
        # last (it takes a tick of its own): the system caches, the last-value cache's tree
        await press("p")
        await press("5")
        await press("s")
        await app.refresh_now()  # the selected cache's contents come with the next tick
        await _settle(pilot, app)
        await press("tab", "down", "down")
        await shot("caches-system", "Caches (system caches: a last-value cache)")
    return run.written + await take_process(out, size)


async def take_process(out: Path, size: tuple[int, int]) -> list[Path]:
    """`pe-tui --demo --plugin-isolation process`: plugins in worker processes."""
    async with _session(RecordedSource.demo(now=FROZEN_NOW, isolation="process"), out, size) as run:
        press, shot = run.press, run.shot
        await press("1")
        await press("down", "down", "down")  # flaky_disk: some of its failures are worker crashes
        await shot("process-triggers", "Triggers (process isolation)")
        await press("2", "e")
        await shot("process-activations", "Activations (process isolation: failed runs, a worker crash)")
        await press("6")
        await press("down")
        await shot("process-plugins", "Plugins (process isolation: the worker pool)")
    return run.written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "screenshots")
    p.add_argument("--size", default="160x46", help="terminal size, COLUMNSxROWS")
    a = p.parse_args(argv)
    w, h = (int(x) for x in a.size.lower().split("x"))
    for path in asyncio.run(take(a.out, (w, h))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
