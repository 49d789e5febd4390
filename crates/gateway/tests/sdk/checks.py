"""What the SDK conformance scripts share: registering checks and running them all."""

from __future__ import annotations

import traceback
from typing import Callable

Check = Callable[[], None]


def registry() -> tuple[list[Check], Callable[[Check], Check]]:
    """A list of checks and a decorator that appends to it."""
    checks: list[Check] = []

    def check(fn: Check) -> Check:
        checks.append(fn)
        return fn

    return checks, check


def run(checks: list[Check], label: str) -> int:
    """Runs every check, prints one line each and a summary; returns the exit status."""
    failed = 0
    for fn in checks:
        try:
            fn()
            print(f"ok   {fn.__name__}", flush=True)
        except Exception:  # noqa: BLE001 - report every failing check, then fail
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    print(f"{len(checks) - failed}/{len(checks)} checks passed ({label})")
    return 1 if failed else 0
