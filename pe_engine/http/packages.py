"""/api/v3/configure/plugin_environment: pip install packages or a requirements file for plugins."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import BadRequest, Forbidden
from ..processing.packages import DISABLED_MESSAGE, PackageInstallDisabled
from .keys import CONFIG, processing_engine
from .params import request_args, required

Install = Callable[[Any, "Callable[[str], None] | None"], Awaitable[Any]]  # (installer, on_line) -> result


async def install_packages(request: web.Request) -> web.StreamResponse:
    a = await request_args(request)
    packages = a.get("packages")
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages) or not packages:
        raise BadRequest("packages must be a non-empty list of package specifications")
    return await _install(request, lambda inst, on_line: inst.install_async(packages, on_line))


async def install_requirements(request: web.Request) -> web.StreamResponse:
    a = await request_args(request)
    location = required(a.get("requirements_location"), "requirements_location")
    if processing_engine(request).installer.disabled:  # (400 when there is no plugin directory)
        raise Forbidden(DISABLED_MESSAGE)  # before the path is looked at, as for install_packages
    plugin_dir = request.app[CONFIG].plugin_dir
    assert plugin_dir is not None  # a processing engine exists only with a plugin directory
    path = requirements_in(plugin_dir, location)
    return await _install(request, lambda inst, on_line: inst.install_requirements_async(path, on_line))


REQUIREMENTS_RULE = "requirements_location must name a file inside the plugin directory (after following symlinks)"


def requirements_in(plugin_dir: Path, location: str) -> Path:
    """The requirements file at `location` (relative: to the plugin directory), which must resolve
    inside the plugin directory. Any other server path is refused before pip sees it: pip's
    error for a file that is no requirements file quotes its first line (a password hash, an
    environment, a token), and the answer goes back to the client."""
    if "\0" in location or "\n" in location:
        raise BadRequest(f"{REQUIREMENTS_RULE}: the name holds a control character")
    root = plugin_dir.resolve()
    given = Path(location)
    try:
        real = (given if given.is_absolute() else root / given).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a name too long
        raise BadRequest(f"{REQUIREMENTS_RULE}: '{location}' cannot be resolved") from None
    if root not in real.parents:
        raise BadRequest(f"{REQUIREMENTS_RULE}: '{location}' is outside {plugin_dir}")
    if not real.is_file():
        raise BadRequest(f"{REQUIREMENTS_RULE}: '{location}' is not a file there")
    return real


async def _install(request: web.Request, run: Install) -> web.StreamResponse:
    """With `?stream=true` pip's output is streamed line by line (the CLI shows pip's progress),
    ending with `pe: ok` or `pe: pip failed ...`; otherwise one JSON answer at the end."""
    pe = processing_engine(request)
    if pe.installer.disabled:
        raise Forbidden(DISABLED_MESSAGE)
    if request.query.get("stream", "").lower() not in ("1", "true", "yes"):
        try:
            result = await run(pe.installer, None)
        except PackageInstallDisabled as e:
            raise Forbidden(str(e)) from None
        if not result.ok:
            return web.json_response({"error": result.message, "output": result.output_tail}, status=500)
        await pe.packages_changed()
        return web.json_response({"output": result.output_tail})
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain; charset=utf-8"})
    await resp.prepare(request)
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(pe.installer, lines.put_nowait))
    task.add_done_callback(lambda _: lines.put_nowait(None))
    while (line := await lines.get()) is not None:
        await resp.write((line.rstrip("\n") + "\n").encode())
    try:
        result = task.result()
        if result.ok:
            await pe.packages_changed()
        tail = "pe: ok\n" if result.ok else f"pe: pip failed with exit code {result.returncode}\n"
    except Exception as e:
        tail = f"pe: pip failed: {e}\n"
    await resp.write(tail.encode())
    await resp.write_eof()
    return resp
