"""`ReportedWrites`: which moves of the store's revision an in-memory read model was told about.

The browse catalogue and the keyword index are told of this process's writes by the write path
(`writing`), so they apply them without reading the store back. They still must notice a write
they were not told of (a tool's or a test's, made around the write path; another process's, for a
revision that counts those, `domain.shared_revision`): then, and only then, they read the store.

Each write through the store moves its revision by one. So a model notes the revision and the
number of reports when it last read the store (`mark`), and the store moved by a write nobody
reported when the revision has since moved by more than the reports that came since, counting
the writes still in flight: inside `writing`, the store may have moved before the report is made
(under a write stream, one list-mode query in ten used to land in that moment and read the store).

Thread safety: one lock guards the counts; `writing` may be entered from any number of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mark:
    """The revision and the report count when a model last read the store."""

    revision: int
    reports: int


class ReportedWrites:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports = 0
        self._in_flight = 0

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around one store write of this process: counted in flight while the block runs, and
        reported once it returned (the store acknowledged it). A write that fails is neither."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        except BaseException:
            with self._lock:
                self._in_flight -= 1
            raise
        with self._lock:
            self._in_flight -= 1
            self._reports += 1

    def report(self, writes: int = 1) -> None:
        """Store writes the model was told of outside `writing`: this process's, acknowledged, or
        another process's that the model applied as the change feed brought them."""
        with self._lock:
            self._reports += writes

    @property
    def in_flight(self) -> int:
        """Writes inside `writing` now: the store may count them while no model holds them yet."""
        with self._lock:
            return self._in_flight

    def mark(self, revision: int) -> Mark:
        """`revision`, read just before a read of the store that then holds every write counted in
        it, with the report count now."""
        with self._lock:
            return Mark(revision, self._reports)

    def unreported(self, mark: Mark, revision: int) -> bool:
        """Whether the store moved from `mark` to `revision` by a write nobody reported."""
        with self._lock:
            return revision - mark.revision > self._reports - mark.reports + self._in_flight
