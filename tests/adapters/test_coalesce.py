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
