"""The user keymap: a TOML file remaps keys by binding id; the key bar, the help and the palette
show the remapped keys; a broken file or a bad entry is reported and never stops the console."""
from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pe_tui import keymap
from pe_tui.keys import BY_ID
from pe_tui.replay import FROZEN_NOW, RecordedSource
from pe_tui.screens import HelpScreen
from pe_tui.widgets import KeyBar

SIZE = (160, 46)


def _text(renderable: object) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keymap.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ====================================================================== the file
def test_top_level_ids_and_scope_tables_both_work(tmp_path: Path) -> None:
    km = keymap.load(write(tmp_path, '''
"triggers.toggle" = "t"
[caches]
delete_key = ["x", "delete"]
[app]
quit = "ctrl+q"
'''))
    assert km.problems == []
    assert km.bindings == {"triggers.toggle": "t", "caches.delete_key": "x,delete", "app.quit": "ctrl+q"}
    assert set(km.bindings) <= set(BY_ID)


def test_bad_entries_are_reported_and_the_good_ones_kept(tmp_path: Path) -> None:
    km = keymap.load(write(tmp_path, '''
"triggers.toggle" = "t"
"triggers.no_such_thing" = "z"
"logs.info" = 3
"logs.warn" = []
'''))
    assert km.bindings == {"triggers.toggle": "t"}
    assert len(km.problems) == 3
    assert any("unknown binding id 'triggers.no_such_thing'" in p for p in km.problems)
    assert any("logs.info" in p and "expected a key" in p for p in km.problems)
    assert all(str(tmp_path) in p for p in km.problems)


def test_a_file_that_is_not_toml_or_is_missing_remaps_nothing(tmp_path: Path) -> None:
    km = keymap.load(write(tmp_path, "this is = = not toml"))
    assert km.bindings == {} and len(km.problems) == 1 and "not valid TOML" in km.problems[0]
    km = keymap.load(tmp_path / "nowhere.toml")
    assert km.bindings == {} and "no such file" in km.problems[0]
    assert keymap.load(None).bindings == {} and keymap.load(None).problems == []


def test_default_path_env_var_then_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert keymap.default_path({"XDG_CONFIG_HOME": str(xdg)}) is None  # no file: no keymap
    (xdg / "pe").mkdir(parents=True)
    (xdg / "pe" / "keymap.toml").write_text('"app.quit" = "ctrl+q"\n')
    assert keymap.default_path({"XDG_CONFIG_HOME": str(xdg)}) == xdg / "pe" / "keymap.toml"
    explicit = tmp_path / "mine.toml"
    assert keymap.default_path({"XDG_CONFIG_HOME": str(xdg), keymap.ENV_VAR: str(explicit)}) == explicit


# ====================================================================== in the console
async def test_a_remapped_key_runs_the_action_and_the_old_key_does_not(make_app, tmp_path: Path) -> None:
    source = RecordedSource.demo(now=FROZEN_NOW)
    app = make_app(source, keymap=write(tmp_path, '"triggers.toggle" = "t"\n"triggers.run_now" = "ctrl+r"\n'))
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.pause()
        await pilot.press("space")  # the old key: nothing
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert source.actions == []
        await pilot.press("t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [name for name, _ in source.actions] == ["set_trigger_enabled"]

        # the key bar shows the new key, the help and the palette too
        bar = str(app.query_one(KeyBar).render_keys())
        assert "t On/Off" in bar and "space On/Off" not in bar
        palette = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert "key t" in palette["triggers: on/off"]
        assert "key ctrl+r" in palette["triggers: run now"]
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = "".join(_text(s.content) for s in app.screen.query(".help-col"))
        assert "ctrl+r" in help_text and "Run now" in help_text
        run_now_line = next(ln for ln in help_text.splitlines() if "Run now" in ln)
        assert run_now_line.split()[0] == "ctrl+r"
        assert not app.keymap.problems


async def test_a_broken_keymap_is_a_warning_toast_not_a_crash(make_app, tmp_path: Path) -> None:
    source = RecordedSource.demo(now=FROZEN_NOW)
    app = make_app(source, keymap=write(tmp_path, '"triggers.nope" = "t"\n"triggers.toggle" = "x"\n'))
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.pause()
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert warnings and "triggers.nope" in warnings[0].message
        await pilot.press("x")  # the good entry still applies
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [name for name, _ in source.actions] == ["set_trigger_enabled"]
        assert app.is_running

    app = make_app(RecordedSource.demo(now=FROZEN_NOW), keymap=write(tmp_path, "[[[ not toml"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("not valid TOML" in n.message for n in app._notifications)
        assert app.is_running


def test_pe_tui_takes_a_keymap_option(tmp_path: Path) -> None:
    from pe_tui.cli import build_parser

    args = build_parser().parser.parse_args(["tui", "--keymap", str(tmp_path / "keys.toml")])
    assert args.keymap == tmp_path / "keys.toml"
    assert build_parser().parser.parse_args(["tui"]).keymap is None  # then $PE_TUI_KEYMAP / XDG
