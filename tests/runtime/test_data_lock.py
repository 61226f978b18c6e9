"""The embedded data directory's lock: one holder at a time, named in the refusal, freed on close."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cstp.runtime.data_lock import DataDirInUse, lock_data_dir


def test_a_second_lock_is_refused_naming_the_holder_and_what_to_do(tmp_path: Path) -> None:
    held = lock_data_dir(tmp_path / "data")
    try:
        with pytest.raises(DataDirInUse) as refused:
            lock_data_dir(tmp_path / "data")
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message
        assert str(tmp_path / "data") in message and "CHROMA_URL" in message
    finally:
        held.close()


def test_the_lock_is_free_again_once_its_holder_closed_it(tmp_path: Path) -> None:
    lock_data_dir(tmp_path).close()
    again = lock_data_dir(tmp_path)
    again.close()
    assert (tmp_path / "cstp.lock").read_text().strip() == str(os.getpid())
