"""An in-memory destination for tests: ``memory://bucket/prefix`` behind the same storage seam as S3, GCS and
a local folder (:class:`~airflow_webflow_audit.landing.storage.MemoryBackend`), so the landing, the batch
and the bucket audit are tested in one process with no emulator and no disk.

::

    with memory_storage():
        land_window(hook, plan_for(ObjectStoragePath("memory://bucket/audit")), log)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fsspec.implementations.memory import MemoryFileSystem

SCHEME = "memory"


@contextlib.contextmanager
def memory_storage() -> Iterator[MemoryFileSystem]:
    """Let ``ObjectStoragePath`` open ``memory://`` paths for the duration, on an empty store.

    Airflow opens only the schemes its providers register; this adds fsspec's memory filesystem to that
    registry and takes it out again, emptied, at the end. fsspec keeps one store per process, so tests
    that use it must not run in parallel threads of one process.
    """
    from airflow.sdk.io import fs as airflow_fs

    registry = airflow_fs._register_filesystems()  # cached: the mapping every ObjectStoragePath consults
    memory = MemoryFileSystem()
    _empty(memory)
    previous = registry.get(SCHEME)
    registry[SCHEME] = lambda conn_id=None, options=None: memory  # type: ignore[index]
    try:
        yield memory
    finally:
        if previous is None:
            registry.pop(SCHEME, None)  # type: ignore[attr-defined]
        else:
            registry[SCHEME] = previous  # type: ignore[index]
        _empty(memory)


def _empty(memory: MemoryFileSystem) -> None:
    memory.store.clear()
    memory.pseudo_dirs.clear()
    memory.pseudo_dirs.append("")
