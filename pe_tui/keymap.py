"""The user keymap: an optional TOML file that remaps keys by binding id (see pe_tui.keys).

Where it is read from, first found:

1. the path given to the console (`ConsoleApp(keymap=PATH)`),
2. `$PE_TUI_KEYMAP`,
3. `$XDG_CONFIG_HOME/pe/keymap.toml` (`~/.config/pe/keymap.toml` when XDG_CONFIG_HOME is unset).

The file maps binding ids to a key or a list of keys (Textual key names, or the character):

    "triggers.toggle" = "t"            # quoted ids at the top level
    [caches]
    delete_key = ["x", "delete"]       # or one table per scope
    [app]
    quit = "ctrl+q"

It is applied with `App.set_keymap`, so the key bar, the `?` help and the command palette show the
remapped keys. A broken file or a bad entry never stops the console: what cannot be used is
reported (a toast, and the log) and the rest applies.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .keys import BY_ID

ENV_VAR = "PE_TUI_KEYMAP"


@dataclass
class Keymap:
    """What a keymap file gave: binding id -> Textual key string, and what was wrong with it."""

    bindings: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    path: Path | None = None

    def keys_of(self, binding_id: str, default: str) -> str:
        return self.bindings.get(binding_id, default)


def default_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The keymap file to read when none is given: $PE_TUI_KEYMAP, else the XDG one if it exists."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    path = base / "pe" / "keymap.toml"
    return path if path.is_file() else None


def load(path: str | Path | None) -> Keymap:
    """Read and check a keymap file (None: no keymap). Never raises."""
    if path is None:
        return Keymap()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return Keymap(problems=[f"keymap {path}: no such file"], path=path)
    except (OSError, UnicodeDecodeError) as e:
        return Keymap(problems=[f"keymap {path}: cannot read it ({e})"], path=path)
    except tomllib.TOMLDecodeError as e:
        return Keymap(problems=[f"keymap {path}: not valid TOML ({e}); no key was remapped"], path=path)
    km = parse(data)
    km.path = path
    km.problems = [f"keymap {path}: {p}" for p in km.problems]
    return km


def parse(data: Mapping[str, Any]) -> Keymap:
    """Check a decoded keymap: `{"scope.name": keys}` and/or `{"scope": {"name": keys}}`."""
    km = Keymap()
    for binding_id, value in _flatten(data):
        if binding_id not in BY_ID:
            km.problems.append(f"unknown binding id {binding_id!r} (the ? help lists them)")
            continue
        keys = _keys(value)
        if keys is None:
            km.problems.append(f"{binding_id}: expected a key or a list of keys, got {value!r}")
            continue
        km.bindings[binding_id] = keys
    return km


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.extend(_flatten(v, name))
        else:
            out.append((name, v))
    return out


def _keys(value: Any) -> str | None:
    """A Textual key string ("a,ctrl+b") from a string or a list of strings; None when malformed."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        return None
    # "," itself is a key ("comma"): split a string on commas only between names
    keys = [k.strip() for item in items for k in (item.split(",") if len(item) > 1 else [item])]
    if not keys or any(not k or " " in k for k in keys):
        return None
    return ",".join(keys)
