"""What every benchmark script shares: progress lines, a failure exit, and the __main__ wrapper
that stops the peers it started when interrupted."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn


def log(msg: str) -> None:
    print(msg, flush=True)


def fail(msg: str) -> NoReturn:
    print(f"\nFAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """`sys.exit(main())`, with a peer that failed to start reported as a FAIL line."""
    import peers

    try:
        sys.exit(main())
    except peers.PeerError as e:
        fail(str(e))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping peers", file=sys.stderr)
        sys.exit(130)


def read_collapsed(raw: Path) -> Iterator[tuple[list[str], int]]:
    """A py-spy raw (collapsed) profile: (frames outermost first, sample count) per line."""
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            yield stack.split(";"), int(n)
