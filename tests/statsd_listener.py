"""A StatsD listener on loopback: what Airflow's ``Stats`` sends, as UDP datagrams, kept for the tests to read."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StatsdListener:
    """Every metric line received, ``(name, value, type)``: ``airflow.webflow_audit.requests:1|c``."""

    port: int = 0
    lines: list[tuple[str, float, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def counter(self, name: str) -> float:
        """The sum of a counter's increments (sample rates honoured)."""
        with self._lock:
            return sum(value for line, value, kind in self.lines if line == name and kind == "c")

    def timings(self, name: str) -> list[float]:
        """A timer's values, in milliseconds."""
        with self._lock:
            return [value for line, value, kind in self.lines if line == name and kind == "ms"]

    def names(self) -> set[str]:
        with self._lock:
            return {name for name, _, _ in self.lines}

    def take(self, datagram: bytes) -> None:
        for text in datagram.decode("utf-8", "replace").splitlines():
            name, _, rest = text.partition(":")
            fields = rest.split("|")
            if len(fields) < 2:
                continue
            try:
                value = float(fields[0])
                rate = next((float(f[1:]) for f in fields[2:] if f.startswith("@")), 1.0)
            except ValueError:
                continue
            with self._lock:
                self.lines.append((name.split(",", 1)[0], value / rate if fields[1] == "c" else value, fields[1]))


@contextmanager
def statsd_listener() -> Iterator[StatsdListener]:
    """Listen on 127.0.0.1 (a free UDP port) until the block ends."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    listener = StatsdListener(port=receiver.getsockname()[1])
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                datagram = receiver.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            listener.take(datagram)

    thread = threading.Thread(target=receive, name="statsd-listener", daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=2)
        receiver.close()
