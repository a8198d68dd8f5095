"""A gzip'd tar written as a stream: one member at a time, nothing kept in memory.

`tarfile.TarFile` remembers a `TarInfo` for every member it writes (100,000 messages
make 100,000 of them), so members are written here with the public `TarInfo.tobuf`
and the content is copied in chunks from an open file. Names are UTF-8 in the POSIX
pax format (Thai folder names, long paths).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from typing import BinaryIO

CHUNK = 1 << 20
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class TarStream:
    """Write members to `raw` (a binary file) as a gzip'd pax tar; `close` ends it."""

    def __init__(self, raw: BinaryIO, *, compresslevel: int = 6) -> None:
        # mtime=0: the gzip header carries no time, so equal input gives equal output.
        self._gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
        self._written = 0  # uncompressed tar bytes, for the end-of-archive padding

    def _write(self, data: bytes) -> None:
        self._gz.write(data)
        self._written += len(data)

    def _header(self, name: str, kind: bytes, size: int, mtime: float, mode: int) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mtime = int(mtime)
        info.mode = mode
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def add_dir(self, name: str, mtime: float) -> None:
        """A directory member `name` (no trailing slash needed)."""
        self._header(name.rstrip("/"), tarfile.DIRTYPE, 0, mtime, _DIR_MODE)

    def add_file(self, name: str, source: BinaryIO, size: int, mtime: float) -> None:
        """A file member of exactly `size` bytes copied from `source` (at its position)."""
        self._header(name, tarfile.REGTYPE, size, mtime, _FILE_MODE)
        left = size
        while left:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"{name}: the file ended {left} bytes early")
            self._write(chunk)
            left -= len(chunk)
        remainder = size % tarfile.BLOCKSIZE
        if remainder:
            self._write(tarfile.NUL * (tarfile.BLOCKSIZE - remainder))

    def add_bytes(self, name: str, data: bytes, mtime: float) -> None:
        """A small file member from memory (an index file, not a message)."""
        self.add_file(name, io.BytesIO(data), len(data), mtime)

    def close(self) -> None:
        """End of archive (two zero blocks, padded to a whole record), then the gzip trailer.

        The underlying file is left open: the caller fsyncs and renames it.
        """
        self._write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
        remainder = self._written % tarfile.RECORDSIZE
        if remainder:
            self._write(tarfile.NUL * (tarfile.RECORDSIZE - remainder))
        self._gz.close()
