"""The append-only journal beside ``<name>.json``: one self-checking line per committed operation.

A line is ``<crc32 as 8 hex digits><body>\\n``; the CRC covers the body. Bodies hold encoded JSON
sliced by length, so replaying a set costs a slice, not a parse and a re-encode::

    s<len(key)>:<key><value>          set key to value
    d<key>                            delete key
    c                                 delete every key
    b<len>:<body><len>:<body>...      several set/delete bodies, applied all or none

Every record states a result, never a change (an increment is journaled as the value it set), so
replaying records that a snapshot already holds leaves the snapshot as it was.

The file runs on past its last frame in zeros written ahead (``JournalFile.append``), as SQLite
reuses its WAL file: an fdatasync after overwriting blocks the file already has flushes the data
alone, while one after growing the file must also commit its new size to the file system's own
journal (on ext4, ~30% slower). A frame never holds a NUL byte (JSON escapes it), so the records
end where the zeros begin.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from pathlib import Path

from ...codec import DecodeError, check_integers, decode, may_hold_big_integers
from ...errors import CorruptFileError, StorageError

# Sets and deletes are made by the hundred thousand on replay: ``slots`` without ``frozen``
# makes them in a third of the time (a frozen dataclass sets each field through
# ``object.__setattr__``). Records are never changed after they are made.


@dataclass(slots=True)
class SetRecord:
    key: str
    key_json: bytes
    value_json: bytes


@dataclass(slots=True)
class DeleteRecord:
    key: str
    key_json: bytes


@dataclass(frozen=True)
class ClearRecord:
    pass


@dataclass(frozen=True)
class BatchRecord:
    records: tuple[SetRecord | DeleteRecord, ...]


Record = SetRecord | DeleteRecord | ClearRecord | BatchRecord


def encode_body(record: Record) -> bytes:
    match record:
        case SetRecord(_, key_json, value_json):
            return b"s%d:%b%b" % (len(key_json), key_json, value_json)
        case DeleteRecord(_, key_json):
            return b"d" + key_json
        case ClearRecord():
            return b"c"
        case BatchRecord(records):
            parts = [encode_body(item) for item in records]
            return b"b" + b"".join(b"%d:%b" % (len(part), part) for part in parts)


def frame(record: Record) -> bytes:
    body = encode_body(record)
    return b"%08x%b\n" % (zlib.crc32(body), body)


def _split_length(body: bytes, start: int) -> tuple[int, int]:
    """Parse ``<digits>:`` at ``start``; return (length, index after the colon)."""
    colon = body.index(b":", start)
    return int(body[start:colon]), colon + 1


def decode_body(body: bytes) -> Record:
    """Parse a body whose CRC already matched; ValueError if it is not a record.

    Values are decoded once here, so a line that verifies but holds no JSON is refused on replay
    and never reaches memory, nor a snapshot folded from it.
    """
    kind = body[:1]
    if kind == b"s":
        length, start = _split_length(body, 1)
        key_json = body[start : start + length]
        value_json = body[start + length :]
        decode(value_json)
        return SetRecord(_decode_key(key_json), key_json, value_json)
    if kind == b"d":
        return DeleteRecord(_decode_key(body[1:]), body[1:])
    if kind == b"c" and len(body) == 1:
        return ClearRecord()
    if kind == b"b":
        items: list[SetRecord | DeleteRecord] = []
        position = 1
        while position < len(body):
            length, start = _split_length(body, position)
            item = decode_body(body[start : start + length])
            if not isinstance(item, (SetRecord, DeleteRecord)):
                raise ValueError("a batch holds only sets and deletes")
            items.append(item)
            position = start + length
        return BatchRecord(tuple(items))
    raise ValueError(f"unknown record type {kind!r}")


def _decode_key(key_json: bytes) -> str:
    key = decode(key_json)
    if not isinstance(key, str):
        raise ValueError("record key is not a string")
    return key


def apply(data: dict[str, bytes], records: Iterable[Record]) -> None:
    """Apply records, in order, to a collection's key -> encoded value dict (``batches.replay``
    says when)."""
    for record in records:
        match record:
            case SetRecord():
                data[record.key] = record.value_json
            case DeleteRecord():
                data.pop(record.key, None)
            case ClearRecord():
                data.clear()
            case BatchRecord():
                apply(data, record.records)


def scan(buffer: bytes, path: Path, base: int) -> tuple[list[Record], int]:
    """Parse the lines of ``buffer`` (which starts at file offset ``base``).

    Returns the records and the length of the valid prefix. Only the final line can be torn: a
    crash mid-append leaves a prefix of the appended frames (the final one unterminated), and a
    power cut can leave zeros where a sector of the final frame never reached the disk (a frame
    never holds a NUL byte: JSON escapes it). Any other line that fails its checksum (several
    bad lines, a damaged newline merging two frames), or that verifies but is not a record,
    raises CorruptFileError at its first byte: skipping it, or cutting the journal there, would
    lose acknowledged records silently. So does a final frame whose newline became another byte.

    A block of whole lines that are all plain sets and deletes (a key without escapes) is read
    in bulk (``_plain_records``); any other block, line by line (``_scan_lines``), which also
    tells exactly what is wrong with a damaged one.
    """
    records: list[Record] = []
    careful = may_hold_big_integers(buffer)  # else no value needs the look
    position = 0
    for stop in _block_ends(buffer):
        plain = _plain_records(buffer[position:stop], careful)
        if plain is None:
            position = _scan_lines(buffer, path, base, position, stop, careful, records)
        else:
            records.extend(plain)
            position = stop
    if len(buffer) - position > 9 and _verifies(buffer, position, len(buffer) - 1):
        # A whole frame whose newline became another byte: damage, not an unfinished append
        # (that leaves a prefix of the frame, which a checksum matches by chance only).
        problem = "the final journal line lost its newline to damage; it is not a torn append"
        raise CorruptFileError(path, problem, position=base + len(buffer) - 1)
    return records, position


_SCAN_BLOCK = 1 << 14  # bytes read in bulk at once: ~80 lines of 200 bytes, small enough that
# a batch among them sends few lines line by line, large enough to cost nothing more
# A plain line: checksum, then the body: s<length>:"key"value or d"key" (no escape in the key).
_PLAIN_LINE = re.compile(
    rb'^([0-9a-f]{8})(?:(s([0-9]+):("[^"\\\n]*")([^\n]*))|(d("[^"\\\n]*")))\n', re.MULTILINE
)


def _block_ends(buffer: bytes) -> Iterator[int]:
    """Ends of blocks of whole lines (just past a newline), about ``_SCAN_BLOCK`` bytes apart."""
    last = buffer.rfind(b"\n") + 1
    stop = 0
    while stop < last:
        stop = buffer.find(b"\n", min(stop + _SCAN_BLOCK, last - 1)) + 1
        yield stop


def _plain_records(block: bytes, careful: bool) -> list[Record] | None:
    """The records of ``block`` (whole lines), if every line is a plain set or delete that
    verifies and holds JSON; None otherwise. Each step is one C call over the whole block."""
    lines = _PLAIN_LINE.findall(block)
    if len(lines) != block.count(b"\n"):
        return None
    checksums, set_bodies, lengths, set_keys, values, delete_bodies, delete_keys = zip(
        *lines, strict=True
    )
    bodies = list(map(bytes.__add__, set_bodies, delete_bodies))  # each line is one of them
    if list(map(zlib.crc32, bodies)) != list(map(int, checksums, repeat(16))):
        return None
    is_set = list(map(bool, set_bodies))
    key_texts = list(map(bytes.__add__, set_keys, delete_keys))
    set_values = list(compress(values, is_set))
    try:
        stated = list(map(int, compress(lengths, is_set)))  # int() refuses 4300+ digits
        if list(map(len, compress(set_keys, is_set))) != stated:
            return None
        keys = decode(b"[%b]" % b",".join(key_texts))
        deque(map(decode, set_values), maxlen=0)  # validates, in C
        if careful:
            deque(map(check_integers, set_values), maxlen=0)
    except (ValueError, DecodeError):
        return None
    if all(is_set):  # the common journal
        return list(map(SetRecord, keys, key_texts, values))
    return [
        SetRecord(key, text, value) if a_set else DeleteRecord(key, text)
        for a_set, key, text, value in zip(is_set, keys, key_texts, values, strict=True)
    ]


def _scan_lines(
    buffer: bytes,
    path: Path,
    base: int,
    position: int,
    stop: int,
    careful: bool,
    records: list[Record],
) -> int:
    """Parse the lines of ``buffer[position:stop]`` one at a time into ``records``; return
    where they end (the start of a torn final line, if that is where they stop)."""
    while (newline := buffer.find(b"\n", position, stop)) >= 0:
        if not _verifies(buffer, position, newline):
            if newline + 1 == len(buffer) and _is_torn(buffer, position, newline):
                break
            problem = "a journal line fails its checksum, and it is not the torn final line"
            raise CorruptFileError(path, problem, position=base + position)
        try:
            record = decode_body(buffer[position + 8 : newline])
            if careful:
                _check_integers(record)  # orjson would read one beyond 64 bits as a float
            records.append(record)
        except (ValueError, DecodeError) as exc:
            problem = f"a journal line verifies but is not a record ({exc})"
            raise CorruptFileError(path, problem, position=base + position) from exc
        position = newline + 1
    return position


def _verifies(buffer: bytes, start: int, newline: int) -> bool:
    """Whether ``buffer[start:newline]`` is a checksum and the body it matches."""
    checksum = buffer[start : start + 8]
    if newline - start < 9 or not checksum.isalnum():  # int() would also take "+", "_", " "
        return False
    try:
        return int(checksum, 16) == zlib.crc32(buffer[start + 8 : newline])
    except ValueError:
        return False


def _check_integers(record: Record) -> None:
    """IntegerRangeError if a value of ``record`` holds an integer beyond 64 bits."""
    if isinstance(record, SetRecord):
        check_integers(record.value_json)
    elif isinstance(record, BatchRecord):
        for item in record.records:
            _check_integers(item)


def _is_torn(buffer: bytes, start: int, newline: int) -> bool:
    """Whether a complete final line that fails its checksum is a frame a power cut tore: it
    holds zeros of a sector never written, and no whole frame (two merged by a damaged newline)."""
    if buffer.find(b"\0", start, newline) < 0:
        return False
    candidates = _FRAME_START.finditer(buffer, start + 1, newline)
    return not any(_verifies(buffer, found.start(), newline) for found in candidates)


_FRAME_START = re.compile(rb"(?=[0-9a-f]{8}[sdcb])")


class JournalFile:
    """An open journal: where this process has read to, and how much of it is on stable storage.

    ``offset`` is the end of the valid records this process has applied; appends go there.
    ``synced`` is how far an fsync has reached. The store's one drain (``commits``) appends a
    batch and calls ``sync_to`` under the collection lock, so that a failed sync is undone before
    anyone reads past it; ``sync_lock`` keeps ``retire`` (compaction, close) from closing the
    descriptor under that fsync.
    """

    def __init__(self, path: Path, fd: int, offset: int) -> None:
        self.path = path
        self.fd = fd
        stat = os.fstat(fd)
        self.inode = stat.st_ino
        self.size = stat.st_size  # the file's, zeros written ahead included
        self.offset = offset
        self.written_end = offset
        self._size_before_append = self.size
        self.synced = offset
        self.sync_lock = threading.Lock()
        self.retired = False

    @classmethod
    def open(cls, path: Path, *, create: bool, read_only: bool = False) -> JournalFile | None:
        flags = os.O_RDONLY if read_only else os.O_RDWR | (os.O_CREAT if create else 0)
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError("open", path, exc) from exc
        try:
            return cls(path, fd, 0)
        except BaseException:
            os.close(fd)
            raise

    def read_new(self) -> tuple[list[Record], int]:
        """Read records appended since ``offset``; return them and the new valid end.

        ``written_end`` becomes the end of the bytes before the zeros written ahead: past the
        valid end, they are a torn append (``truncate_torn_tail``)."""
        self.size = size = os.fstat(self.fd).st_size
        if size <= self.offset:
            self.written_end = self.offset
            return [], self.offset
        try:
            buffer = os.pread(self.fd, size - self.offset, self.offset)
        except OSError as exc:
            raise StorageError("read", self.path, exc) from exc
        written = _before_zeros(buffer)
        # A final frame whose newline became a NUL is damage, which ``scan`` tells from a torn
        # append by that byte: one zero is kept. Unless the frame ends on a sector boundary,
        # where a torn write stops (a power cut keeps whole sectors, a killed write whole
        # pages): there, the newline past it was never written.
        whole = buffer.endswith(b"\n", 0, written) or (self.offset + written) % _SECTOR == 0
        end = written if whole else min(written + 1, len(buffer))
        records, valid = scan(buffer[:end], self.path, self.offset)
        self.written_end = self.offset + written
        return records, self.offset + valid

    def truncate_torn_tail(self, valid_end: int) -> None:
        """Cut what a crashed append left past ``valid_end`` (call with the lock held); the
        zeros written ahead go with it, and the next append writes them again."""
        if self.written_end > valid_end:
            try:
                os.ftruncate(self.fd, valid_end)
            except OSError as exc:
                raise StorageError("truncate", self.path, exc) from exc
            self.size = self.written_end = valid_end

    def append(self, payload: bytes) -> int:
        """Write ``payload`` at the end, or raise StorageError; the caller cuts back what a
        failed append left (other processes would read its whole frames).

        An append that reaches past the zeros written ahead writes new ones in the same call:
        as many as the journal holds, from one page up to ``_AHEAD`` bytes."""
        start, end = self.offset, self.offset + len(payload)
        self._size_before_append = self.size
        if end > self.size:
            payload += zeros_ahead(end, min(max(end, _PAGE), _AHEAD))
        try:
            written = os.pwrite(self.fd, payload, start)
            while written < len(payload):
                written += os.pwrite(self.fd, payload[written:], start + written)
        except OSError as exc:
            raise StorageError("append to", self.path, exc) from exc
        self.size = max(self.size, start + len(payload))
        self.offset = self.written_end = end
        return end

    def cut_back(self, start: int) -> None:
        """Undo a failed append that began at ``start``: cut it off, and give the file back the
        zeros it had ahead (so its bytes are as before); OSError if the cut fails."""
        os.ftruncate(self.fd, start)
        self.size = self.written_end = self.offset = self.synced = start
        with contextlib.suppress(OSError):  # without them, the next append writes them again
            os.ftruncate(self.fd, self._size_before_append)
            self.size = self._size_before_append

    def sync_to(self, end: int) -> None:
        """Return once bytes up to ``end`` are on stable storage (group commit)."""
        if self.synced >= end:
            return
        with self.sync_lock:
            if self.synced >= end or self.retired:
                return
            target = self.offset
            try:
                _sync_data(self.fd)
            except OSError as exc:
                raise StorageError("fsync", self.path, exc) from exc
            self.synced = max(self.synced, target)

    def retire(self) -> None:
        """Close after compaction: its records are in a fsynced snapshot, so waiters may return."""
        with self.sync_lock:
            self.retired = True
            self.synced = 1 << 62
            os.close(self.fd)


_PAGE = 4096
_SECTOR = 512  # the smallest unit a disk writes whole
_AHEAD = 64 * 1024  # at most this many zeros ahead of the last frame: one fdatasync in ~300
# small appends commits a new size, and a reader catching up reads at most this much in vain
_ZEROS = bytes(_AHEAD + _PAGE)


def zeros_ahead(end: int, at_least: int = _AHEAD) -> bytes:
    """The zeros to write past a journal's records ending at ``end``: ``at_least`` bytes, up
    to the next page boundary."""
    return bytes(_round_up(end + at_least, _PAGE) - end)


def _round_up(size: int, unit: int) -> int:
    return -(-size // unit) * unit


def _before_zeros(buffer: bytes) -> int:
    """The length of ``buffer`` without its trailing zeros (the zeros written ahead)."""
    first = buffer.find(0)
    if first < 0:
        return len(buffer)
    if len(buffer) - first <= len(_ZEROS) and _ZEROS.startswith(memoryview(buffer)[first:]):
        return first  # the usual case, at memchr and memcmp speed
    return len(buffer.rstrip(b"\0"))  # a torn append holds a NUL, or the tail is longer


def _sync_data(fd: int) -> None:
    """fdatasync where there is one: it skips the timestamps an fsync would also write."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS, Windows
        os.fsync(fd)
