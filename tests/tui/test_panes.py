"""Each pane shows what the engine holds, and its view keys work: a real engine, Pilot key presses.

The engine (conftest `engine_thread`) has tui/echo (table:cpu, counts rows in its cache and logs
"saw N rows"), tui/ticker (every:1s, logs "tick") and tui/failing (every:1s, raises ValueError).
"""
from __future__ import annotations

from pe_engine.processing.activations import ERROR_STATUSES
from pe_tui.panes import CachesPane, LogsPane, PerformancePane, PluginsPane, TriggersPane
from pe_tui.model import value_cache_id
from pe_tui.panes.logs import MAX_LINES

# KeyedTable column positions
_ACT = {name: i for i, name in enumerate(("id", "time", "trigger", "db", "kind", "rows", "lines", "dur", "status",
                                          "error"))}
_TRIG = {name: i for i, name in enumerate(("name", "db", "spec", "plugin", "state", "mode", "isolation", "runs",
                                           "errors", "p50", "p99", "cpu", "mem", "last", "next"))}


def cell(table, key: str, column: int) -> str:
    return table.get_row(key)[column].plain


def level_of(line: str) -> str:
    return line[13:18].strip()  # "HH:MM:SS.mmm LEVEL source…"


async def test_triggers_pane_matches_the_engine(live, engine_thread):
    et = engine_thread
    async with live() as c:
        pe = c.pe
        pane = c.app.query_one(TriggersPane)
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1"))
        await c.until(lambda: pane.rows["tui/echo"].runs == 1, "echo's run")
        await c.until(lambda: pane.rows["tui/failing"].errors > 0, "failing's error")
        assert sorted(pane.table.keys) == sorted(f"{t.database}/{t.name}" for t in pe.list_triggers())
        stats = pe.activations.stats()
        for t in pe.list_triggers():
            row = pane.rows[f"{t.database}/{t.name}"]
            assert (row.spec, row.plugin, row.kind, row.error_behavior) == (
                t.spec.canonical(), t.plugin_filename, t.spec.kind, t.settings.error_behavior)
            assert row.state == ("disabled" if t.disabled else "enabled")
            assert cell(pane.table, row.key, _TRIG["state"]).endswith(row.state)
        echo = stats[("tui", "echo")]
        assert (pane.rows["tui/echo"].runs, pane.rows["tui/echo"].errors) == (echo.runs, echo.errors) == (1, 0)
        assert cell(pane.table, "tui/echo", _TRIG["runs"]) == "1"
        assert cell(pane.table, "tui/echo", _TRIG["isolation"]) == "thread"  # the server's default
        failing = pane.rows["tui/failing"]
        assert "ValueError: scheduled failure for the test" in failing.last_error
        assert failing.next_fire is not None and pane.rows["tui/echo"].next_fire is None
        await c.select(pane.table, "tui/failing")
        foot = str(pane.query_one("#triggers-error").content)
        assert "tui/failing last error: ValueError: scheduled failure for the test" in foot
        assert str(pane.query_one("#triggers-info").content).startswith("3 triggers · 3 enabled")


async def test_activations_pane_follow_status_and_trigger_filter(live, engine_thread):
    et = engine_thread
    async with live() as c:
        pe = c.pe
        pane = await c.pane(2, "activations")
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1"))
        table = pane.table

        def shown():
            return [pe.activations.get(int(k)) for k in table.keys]

        def statuses():
            return {r.status for r in shown()}

        await c.until(lambda: {"ok", "error"} <= statuses() and {"echo", "ticker", "failing"} <= {
            r.trigger for r in shown()}, "ok and failed activations of every trigger")
        for k in table.keys:  # every row is the engine's record
            rec = pe.activations.get(int(k))
            assert cell(table, k, _ACT["trigger"]) == rec.trigger
            assert cell(table, k, _ACT["status"]) == rec.status
        # newest first = reverse arrival order (ids are given at start, so concurrent runs may
        # arrive out of id order); follow mode shows the same feed the other way round
        await c.until(lambda: list(table.keys) == [str(r.id) for r in pane.visible_records()],
                      "the table shows the model's newest records first")
        newest_first = list(table.keys)
        await c.press("f")  # follow: newest at the bottom
        assert pane.follow and table.cursor_row == table.row_count - 1
        common = [k for k in table.keys if k in newest_first]
        assert common == [k for k in reversed(newest_first) if k in common] and len(common) >= 3
        await c.press("f")
        assert not pane.follow
        # the feed goes on: records absorbed since the last paint show at the next one (2 Hz)
        await c.until(lambda: list(table.keys) == [str(r.id) for r in pane.visible_records()],
                      "newest first again, the same rows as the model")

        await c.press("e")  # errors only
        assert pane.status_filter == "errors"
        assert shown() and all(r.status in ERROR_STATUSES for r in shown())
        await c.press("e")  # ok only
        assert shown() and all(r.status == "ok" for r in shown())
        await c.press("e")  # all again
        assert {"ok", "error"} <= statuses()

        await c.press("slash", *"tick", "enter")  # trigger name contains "tick"
        assert shown() and {r.trigger for r in shown()} == {"ticker"}
        await c.press("e")  # ticker never fails: nothing to show
        assert table.row_count == 0
        await c.press("escape")  # clears both filters
        assert pane.trigger_filter == "" and pane.status_filter == "all"
        await c.until(lambda: {"echo", "ticker", "failing"} <= {r.trigger for r in shown()}, "every trigger again")


async def test_performance_pane_matches_the_engine(live, engine_thread):
    et = engine_thread
    async with live() as c:
        pe = c.pe
        pane = c.app.query_one(PerformancePane)
        await c.pane(3, "performance")
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1"))
        await c.until(lambda: pane.rows.get("tui/echo") and pane.rows["tui/echo"].runs == 1, "echo's run")
        assert pane._keys == sorted(f"{t.database}/{t.name}" for t in pe.list_triggers())
        await c.until(lambda: sum(p.runs for p in pane.series.get("tui/echo", ())) == 1, "echo's series")
        engine_series = pe.activations.series("tui", "echo", dense=True)
        assert len(pane.series["tui/echo"]) == len(engine_series)
        assert [p.runs for p in pane.series["tui/echo"] if p.runs] == [p.runs for p in engine_series if p.runs]
        assert len(pane.run_times["tui/echo"]) == 1
        assert list(pane.run_times["tui/echo"]) == [pe.activations.recent(1, trigger="echo")[0].run_time]
        # the list follows the cursor; the detail shows the selected trigger's numbers
        await c.press("home", "down")
        assert pane.selected_key == pane._keys[1] == "tui/failing"
        await c.until(lambda: "run-time histogram" in str(pane.query_one("#perf-detail").content.renderables[-1]
                                                         .renderables[0]), "the histogram")


async def test_logs_pane_level_keys_search_trigger_follow_and_clear(live, engine_thread, add_plugin):
    et = engine_thread
    add_plugin(et, "chatty.py", '''
        def process_writes(influxdb3_local, table_batches, args=None):
            for i in range(100):
                influxdb3_local.info(f"chatter {i}")
    ''')
    et.run(et.engine.processing.create_trigger("tui", "chatty", "chatty.py", "table:mem"))
    async with live() as c:
        pe = c.pe
        pane = c.app.query_one(LogsPane)
        log = pane.log_widget
        await c.pane(4, "logs")
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1"))
        await c.until(lambda: any("saw 1 rows" in ln for ln in log.lines), "echo's log line")
        await c.until(lambda: any(level_of(ln) == "ERROR" for ln in log.lines), "failing's error lines")
        engine_lines = {(e.level, e.text) for e in pe.logs.entries()}
        await c.until(lambda: engine_lines <= {(ln.level, ln.text) for ln in pane.lines}, "the engine's lines")
        assert log.line_count <= MAX_LINES

        for key, level in (("i", "INFO"), ("w", "WARN"), ("e", "ERROR")):  # hide, then show again
            await c.press(key)
            assert not pane.levels[level]
            assert log.lines and not [ln for ln in log.lines if level_of(ln) == level]
            await c.press(key)
            assert pane.levels[level]
        assert any(level_of(ln) == "INFO" for ln in log.lines) and any(level_of(ln) == "ERROR" for ln in log.lines)

        await c.engine(et.engine.write_lp("tui", "cpu,host=b usage=2"))
        await c.until(lambda: sum("saw 1 rows" in ln for ln in log.lines) == 2, "a second echo line")
        await c.press("slash", *"saw 1 rows", "enter")  # search: jumps to the newest match
        matches = [i for i, ln in enumerate(log.lines) if "saw 1 rows" in ln]
        assert pane.search == "saw 1 rows" and pane.match_at == matches[-1]
        await c.press("N")
        assert pane.match_at == matches[0]
        await c.press("n")
        assert pane.match_at == matches[1]
        assert "match 2/2" in str(pane.query_one("#logs-info").content)

        await c.press("t", *"echo", "enter")  # only echo's lines
        assert pane.trigger_filter == "echo"
        assert log.lines and all("tui/echo" in ln[19:43] for ln in log.lines)
        await c.press("escape")  # clears search and trigger filter
        assert (pane.search, pane.trigger_filter) == ("", "")
        await c.until(lambda: any("tui/ticker" in ln for ln in log.lines), "every source again")

        await c.engine(et.engine.write_lp("tui", "mem,host=a used=1"))  # 100 more lines: the log scrolls
        await c.until(lambda: log.line_count > log.size.height + 10 and log.is_vertical_scroll_end, "a long log")
        await c.press("home")  # scroll up: no longer following
        await c.until(lambda: not log.following, "scrolled up")
        await c.engine(et.engine.write_lp("tui", "cpu,host=c usage=3\ncpu,host=d usage=4"))  # "saw 2 rows"
        await c.until(lambda: pane.behind > 0, "new lines arriving below")
        assert "scrolled up" in str(pane.query_one("#logs-info").content)
        assert log.scroll_y == 0  # it stays where the operator put it
        await c.press("f")
        assert log.following and log.is_vertical_scroll_end and pane.behind == 0
        assert "following" in str(pane.query_one("#logs-info").content)

        await c.press("c")  # clears the view, not the engine's logs
        assert not any("saw 1 rows" in ln for ln in log.lines)
        assert not any("saw 1 rows" in ln.text for ln in pane.lines)
        assert sum("saw 1 rows" in e.text for e in pe.logs.entries()) == 2


async def test_caches_pane_matches_the_engine(live, engine_thread, add_plugin):
    et = engine_thread
    add_plugin(et, "fill.py", '''
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.cache.put("plain", [1, 2, 3])
            influxdb3_local.cache.put("expiring", {"a": 1}, ttl=3600)
            influxdb3_local.cache.put("shared", "g", use_global=True)
    ''')
    et.run(et.engine.processing.create_trigger("tui", "filler", "fill.py", "table:mem"))
    async with live() as c:
        pe = c.pe
        pane = await c.pane(5, "caches")
        await c.engine(et.engine.write_lp("tui", "mem,host=a used=1\ncpu,host=a usage=1"))
        await c.until(lambda: {"plugin:trigger/tui/filler", "plugin:trigger/tui/echo"} <= set(pane.scopes)
                      and pane.scopes["plugin:global"].total_keys == 1, "the plugins' cache scopes")
        namespaces = pe.caches.namespaces()
        assert set(pane.scopes) == {"plugin:" + "/".join(ns) for ns in namespaces}
        for ns in namespaces:
            scope = pane.scopes["plugin:" + "/".join(ns)]
            entries = pe.caches.entries(ns)
            assert [k.key for k in scope.keys] == [e.key for e in entries]
            assert [(k.type_name, k.preview) for k in scope.keys] == [(e.type_name, e.preview) for e in entries]
            assert scope.total_keys == len(entries)
        await c.select(pane.scope_table, "plugin:trigger/tui/filler")
        await c.until(lambda: pane.key_table.keys == ["expiring", "plain"], "filler's keys")
        assert cell(pane.key_table, "plain", 1) == "list"
        assert cell(pane.key_table, "plain", 3) == "∞" and cell(pane.key_table, "expiring", 3).startswith("59m")
        assert "demo" not in str(pane.query_one("#caches-keys-info").content)


async def test_plugins_pane_matches_the_engine_and_shows_a_load_error(live, engine_thread, add_plugin):
    et = engine_thread
    async with live() as c:
        pe = c.pe
        pane = await c.pane(6, "plugins")
        await c.until(lambda: pane.table.row_count == 2, "the plugin rows")
        files = {f.filename: f for f in pe.registry.files()}
        assert pane.table.keys == sorted(files) == ["echo.py", "tick.py"]
        for name, info in files.items():
            assert sorted(pane.plugins[name].users) == sorted(info.users)
            assert pane.plugins[name].content_hash == info.content_hash
            assert cell(pane.table, name, 7) == "ok"
        assert cell(pane.table, "tick.py", 4) == "tui/failing, tui/ticker"

        good = files["echo.py"].content_hash
        add_plugin(et, "echo.py", "def process_writes(influxdb3_local, table_batches, args=None)\n    pass\n")
        await c.engine(et.engine.write_lp("tui", "cpu,host=a usage=1"))  # echo runs: reads the broken file
        await c.until(lambda: cell(pane.table, "echo.py", 7) == "load error", "the load error")
        err = next(f for f in pe.registry.files() if f.filename == "echo.py").last_error
        assert "SyntaxError" in err and pane.plugins["echo.py"].last_error == err
        assert pane.plugins["echo.py"].content_hash == good  # the last good version keeps serving
        await c.select(pane.table, "echo.py")
        detail = pane.query_one("#plugins-detail").content
        assert "last load error" in str(detail.renderables[-2]) and err in str(detail.renderables[-1])
        assert c.app.query_one(TriggersPane).rows["tui/echo"].state == "enabled"
        assert c.app.query_one(CachesPane) is not None and c.app.query_one(PluginsPane) is pane


async def test_caches_pane_s_switches_to_the_system_caches_and_e_expands_their_tree(live, engine_thread):
    et = engine_thread
    et.run(et.engine.write_lp("tui", "cpu,region=eu,host=a usage=1.5\ncpu,region=eu,host=b usage=2.5\n"
                                     "cpu,region=us,host=c usage=3.5"))
    vc = et.engine.value_caches
    et.run(vc.create_last_cache("tui", "cpu", name="cpu_last", key_columns=["region", "host"],
                                value_columns=["usage"], count=1))
    et.run(vc.create_distinct_cache("tui", "cpu", name="cpu_hosts", columns=["region", "host"]))
    lvc = value_cache_id("last", "tui", "cpu", "cpu_last")
    dvc = value_cache_id("distinct", "tui", "cpu", "cpu_hosts")
    async with live() as c:
        pane = await c.pane(5, "caches")
        assert pane.section == "plugin"
        await c.press("s")  # System
        assert pane.section == "system" and pane.system_table.has_focus
        await c.until(lambda: set(pane.system_table.keys) == {lvc, dvc}, "both system caches")

        def leaves() -> set[tuple]:
            return {n.data.item.key for n in pane._by_path.values() if n.data is not None and n.data.item is not None}

        def expanded() -> list[bool]:
            return [n.is_expanded for n in pane._by_path.values() if n.allow_expand]

        for cache_id, sql in ((lvc, "SELECT region, host FROM last_cache('cpu', 'cpu_last')"),
                              (dvc, "SELECT region, host FROM distinct_cache('cpu', 'cpu_hosts')")):
            await c.select(pane.system_table, cache_id)
            engine_rows = {(r["region"], r["host"])
                           for r in (await c.engine(et.engine.query("tui", sql))).to_pylist()}
            assert engine_rows == {("eu", "a"), ("eu", "b"), ("us", "c")}
            await c.until(lambda: leaves() == engine_rows, f"the tree of {cache_id}")  # the engine's rows
            await c.press("tab")
            assert pane.value_tree.has_focus
            was = all(expanded())
            await c.press("e")  # expand all / collapse all
            assert expanded() and all(not x for x in expanded()) if was else all(expanded())
            await c.press("e")
            assert all(expanded()) if was else all(not x for x in expanded())
            await c.press("tab")
            assert pane.system_table.has_focus
        await c.press("s")  # Scopes: back to the plugin cache scopes
        assert pane.section == "plugin" and pane.scope_table.has_focus
