"""Group commit: concurrent callers share batches and each gets its own results or error."""

from __future__ import annotations

import threading
import time

import pytest

from cstp.runtime.coalesce import Coalescer


def test_lone_caller_gets_its_results() -> None:
    c: Coalescer[int, int] = Coalescer(lambda xs: [x * 2 for x in xs])
    assert c.submit([1, 2, 3]) == [2, 4, 6]


def test_concurrent_callers_are_batched_and_results_routed_back() -> None:
    calls: list[int] = []

    def slow_double(xs: list[int]) -> list[int]:
        calls.append(len(xs))
        time.sleep(0.05)
        return [x * 2 for x in xs]

    c: Coalescer[int, int] = Coalescer(slow_double, max_batch=100)
    results: dict[int, list[int]] = {}

    def worker(n: int) -> None:
        results[n] = c.submit([n, n + 1000])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {n: [2 * n, 2 * (n + 1000)] for n in range(16)}
    assert len(calls) < 16  # batches formed while the first call was running
    assert sum(calls) == 32


def test_max_batch_bounds_each_call() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def fn(xs: list[int]) -> list[int]:
        sizes.append(len(xs))
        gate.wait(5)
        return xs

    c: Coalescer[int, int] = Coalescer(fn, max_batch=4)
    threads = [threading.Thread(target=c.submit, args=([i],)) for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert max(sizes) <= 4 and sum(sizes) == 10


def test_failure_reaches_every_caller_of_that_batch() -> None:
    attempts: list[int] = []

    def fail_once(xs: list[int]) -> list[int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("embedder down")
        return xs

    c: Coalescer[int, int] = Coalescer(fail_once)
    with pytest.raises(ValueError, match="embedder down"):
        c.submit([1])
    # The coalescer recovers: leadership was released and the next call runs normally.
    assert c.submit([5]) == [5]


def test_one_callers_bad_item_fails_only_that_caller() -> None:
    """Concurrent writers share a batch; the batch function refuses any batch holding a bad item.
    Without isolation every writer of that batch would get the error."""
    gate = threading.Event()
    batches: list[list[str]] = []

    def save(items: list[str]) -> list[str]:
        gate.wait(5)  # the first call holds the leader until every writer has queued
        batches.append(items)
        if "bad" in items:
            raise ValueError("store refused an item")
        return [f"ok:{x}" for x in items]

    c: Coalescer[str, str] = Coalescer(save, max_batch=100)
    results: dict[str, object] = {}

    def writer(name: str) -> None:
        try:
            results[name] = c.submit([name])
        except ValueError as e:
            results[name] = e

    names = ["first"] + [f"w{n}" for n in range(14)] + ["bad"]
    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert isinstance(results.pop("bad"), ValueError)
    assert results == {n: [f"ok:{n}"] for n in names if n != "bad"}
    assert any(len(b) > 2 for b in batches)  # the writers did share a batch


def test_isolate_can_decline_the_retry() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def down(items: list[int]) -> list[int]:
        gate.wait(5)
        calls.append(len(items))
        raise TimeoutError("store timed out")

    c: Coalescer[int, int] = Coalescer(down, isolate=lambda e: not isinstance(e, TimeoutError))
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            c.submit([n])
        except TimeoutError as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(errors) == 6
    assert sum(calls) == 6  # each item tried once: no per-caller retry after an outage


def test_close_stops_the_worker_and_later_calls_still_get_their_results() -> None:
    c: Coalescer[int, int] = Coalescer(lambda xs: [x + 1 for x in xs], name="t-close")
    assert c.submit([1]) == [2]
    worker = next(t for t in threading.enumerate() if t.name == "t-close")
    c.close()
    worker.join(5)
    assert not worker.is_alive()
    assert c.submit([5, 6]) == [6, 7]  # run in the caller's thread now
    assert not any(t.name == "t-close" for t in threading.enumerate())
