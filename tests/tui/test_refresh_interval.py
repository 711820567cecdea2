"""The refresh rate can be set whether or not the console runs: the status bar (a widget of the
mounted screen) follows it only while the app runs; before, `on_mount` reads it; after exit,
nothing is left to update. (`App.is_mounted` is a method, so testing it was always true.)"""
from __future__ import annotations

SIZE = (120, 34)


async def test_refresh_interval_before_during_and_after_the_run(make_app) -> None:
    app = make_app()
    assert not app.ui_mounted
    app.refresh_interval = 1.0  # before the run: no screen yet, so no status bar to update
    assert app.driver.interval == 1.0

    async with app.run_test(size=SIZE) as pilot:
        assert app.ui_mounted
        assert app.status_bar.interval == 1.0  # on_mount took it over
        app.refresh_interval = 2.0
        await pilot.pause()
        assert app.driver.interval == app.status_bar.interval == 2.0
        await pilot.press("question_mark")  # a modal screen on top: the bar is still updated
        await pilot.pause()
        app.refresh_interval = 5.0
        assert app.status_bar.interval == 5.0

    assert not app.ui_mounted
    app.refresh_interval = 10.0  # after exit: only the driver
    assert app.driver.interval == 10.0
