"""One server process per embedded data directory: an exclusive lock held for the process's life.

Embedded ChromaDB keeps the store in files that one process owns: a second process opened on the
same directory starts without complaint, but each keeps its own in-memory view, so the writes of
one stay invisible to the other's search (and concurrent writers may corrupt the files). The
server therefore takes an exclusive `flock` on `<data dir>/cstp.lock` before it opens the store,
and keeps the file open until it exits; the kernel drops the lock with the process, also after
`kill -9`, so a stale lock file never blocks a restart. The file holds the owner's pid, for the
refusal message.

Several processes on one store is what a Chroma server is for (CHROMA_URL, CSTP_WORKERS).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = "cstp.lock"


class DataDirInUse(Exception):
    """Another process holds the lock of this data directory."""

    def __init__(self, data_dir: Path, owner: str) -> None:
        self.data_dir = data_dir
        self.owner = owner
        who = f"another cstp-server process (pid {owner})" if owner else "another cstp-server process"
        super().__init__(
            f"the data directory {data_dir} is in use by {who}. Embedded ChromaDB serves one process: "
            "a second one's writes would stay invisible to the first one's search. Stop the other "
            "process, give this one its own CSTP_DATA_DIR, or run several processes on one Chroma "
            "server (set CHROMA_URL; then CSTP_WORKERS runs several on one port)"
        )


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Take the directory's lock (creating the directory); returns the open lock file, which must
    stay open (and referenced) while the process serves. Raises DataDirInUse, or OSError when the
    directory cannot be created or written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = (data_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        owner = fh.read().strip()
        fh.close()
        raise DataDirInUse(data_dir, owner) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
