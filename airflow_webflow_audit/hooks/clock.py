"""Where the hook's time comes from: the system clock, or a fake one in tests so nothing really sleeps."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Time as the hook sees it; tests pass a fake one so nothing really sleeps."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        """Wait ``seconds``, or until ``cancel`` is set."""

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        if cancel is None:
            time.sleep(seconds)
        else:
            cancel.wait(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
