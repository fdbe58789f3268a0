"""Concatenate Parquet files of one schema by copying their row groups, encoded as they are.

A release's table is the batches' parts one after another. Decoding every part and encoding it
again cost most of a night's publish, though nearly all parts are the kept ones of an earlier
run. Parquet allows better: a file is its row groups' column chunks followed by a footer that
says where each chunk starts, so the chunks can be copied byte for byte and only the footer
written anew, its offsets shifted (what ``parquet-tools merge`` and parquet-java's
``ParquetFileWriter.appendFile`` do; pyarrow has no such call, apache/arrow#42896).

The footer is a Thrift struct in the compact protocol. The codec below reads any struct into
nested field lists, keeps every field it does not know, and writes it back byte for byte as the
reference encoder does; only offsets, ordinals and the row count are changed. A footer holds a
struct per column of every row group, and encoding them field by field took most of a join: so
each row group's metadata is encoded once per process, cut around its offsets, and a join fills
the moved offsets in between the cut bytes.
"""
from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable

MAGIC = b"PAR1"
#: Compact protocol types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
#: Field ids (parquet.thrift) of what concatenation changes.
FILE_NUM_ROWS, FILE_ROW_GROUPS = 3, 4
GROUP_COLUMNS, GROUP_FILE_OFFSET, GROUP_ORDINAL = 1, 5, 7
CHUNK_FILE_OFFSET, CHUNK_META, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX = 2, 3, 4, 6
CHUNK_OFFSETS = (CHUNK_FILE_OFFSET, CHUNK_OFFSET_INDEX, CHUNK_COLUMN_INDEX)
#: ColumnMetaData: data, index and dictionary page offsets, bloom filter offset.
META_OFFSETS = (9, 10, 11, 14)
#: FileMetaData fields every file must share: version, schema, key-value metadata, column orders.
SHARED_FIELDS = (1, 2, 5, 7)

#: A struct is its fields in order: [field id, type, value]. A bool field's value is None: its
#: type (true or false) is the value, as the protocol writes it.
Struct = list[list[Any]]


class ParquetConcatError(ValueError):
    """The files cannot be joined by copying: not Parquet, or of different schemas."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise IndexError("past the end")
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE, _BYTE):  # a bool inside a list is one byte too
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            return self.take(8)
        if kind == _BINARY:
            return self.take(self.varint())
        if kind in (_LIST, _SET):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            element = header & 0x0F
            return (element, [self.value(element) for _ in range(size)])
        if kind == _MAP:
            size = self.varint()
            if not size:
                return (0, 0, [])
            types = self.byte()
            key, val = types >> 4, types & 0x0F
            return (key, val, [(self.value(key), self.value(val)) for _ in range(size)])
        if kind == _STRUCT:
            return self.struct()
        raise ParquetConcatError(f"unknown Thrift compact type {kind}")

    def struct(self) -> Struct:
        fields: Struct = []
        last = 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            kind, delta = header & 0x0F, header >> 4
            last = last + delta if delta else self.zigzag()
            value = None if kind in (_TRUE, _FALSE) else self.value(kind)
            fields.append([last, kind, value])


def _varint(value: int, out: bytearray) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int, out: bytearray) -> None:
    _varint((value << 1) ^ (value >> 63), out)


def _field_header(fid: int, kind: int, last: int, out: bytearray) -> None:
    """A struct field's header: its id as a delta from the field before (``last``) when it can."""
    if 0 < fid - last <= 15:
        out.append((fid - last) << 4 | kind)
    else:
        out.append(kind)
        _zigzag(fid, out)


def _list_header(element: int, size: int, out: bytearray) -> None:
    if size < 15:
        out.append(size << 4 | element)
    else:
        out.append(0xF0 | element)
        _varint(size, out)


def _write_value(kind: int, value: Any, out: bytearray) -> None:
    if kind in (_TRUE, _FALSE, _BYTE):
        out.append(value)
    elif kind in (_I16, _I32, _I64):
        _zigzag(value, out)
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        _varint(len(value), out)
        out += value
    elif kind in (_LIST, _SET):
        element, items = value
        _list_header(element, len(items), out)
        for item in items:
            _write_value(element, item, out)
    elif kind == _MAP:
        key, val, items = value
        _varint(len(items), out)
        if items:
            out.append(key << 4 | val)
            for k, v in items:
                _write_value(key, k, out)
                _write_value(val, v, out)
    elif kind == _STRUCT:
        _write_struct(value, out)
    else:
        raise ParquetConcatError(f"unknown Thrift compact type {kind}")


#: Writes a field's value itself (its header is written), or says False to leave it to the
#: encoder.
FieldWriter = Callable[[int, Any], bool]


def _write_struct(fields: Struct, out: bytearray,
                  special: dict[int, FieldWriter] | None = None) -> None:
    """Encode a struct, fields and stop byte; ``special`` by field id writes some values."""
    last = 0
    for fid, kind, value in fields:
        _field_header(fid, kind, last, out)
        last = fid
        if special and fid in special and special[fid](kind, value):
            continue
        if kind not in (_TRUE, _FALSE):
            _write_value(kind, value, out)
    out.append(0)


def decode(data: bytes) -> Struct:
    """A compact-protocol struct (a Parquet footer) as nested field lists."""
    try:
        return _Reader(data).struct()
    except IndexError:
        raise ParquetConcatError("truncated Thrift struct") from None


def encode(fields: Struct) -> bytes:
    out = bytearray()
    _write_struct(fields, out)
    return bytes(out)


def _field(fields: Struct, fid: int) -> list[Any] | None:
    return next((field for field in fields if field[0] == fid), None)


def _moved(group: Struct, shift: int, ordinal: int) -> Struct:
    """A copy of a row group's metadata with its offsets moved by ``shift`` and its ordinal set
    (left out past an i16's range). An offset of 0 stands for "not written" in some writers."""
    moved: Struct = []
    for fid, kind, value in group:
        if fid == GROUP_COLUMNS:
            value = (value[0], [_moved_chunk(chunk, shift) for chunk in value[1]])
        elif fid == GROUP_FILE_OFFSET and value > 0:
            value += shift
        elif fid == GROUP_ORDINAL:
            if ordinal >= 1 << 15:
                continue
            value = ordinal
        moved.append([fid, kind, value])
    return moved


def _moved_chunk(chunk: Struct, shift: int) -> Struct:
    moved: Struct = []
    for fid, kind, value in chunk:
        if fid in CHUNK_OFFSETS and value > 0:
            value += shift
        elif fid == CHUNK_META:
            value = [[f, k, v + shift if f in META_OFFSETS and v > 0 else v] for f, k, v in value]
        moved.append([fid, kind, value])
    return moved


#: A row group's metadata encoded with its offsets left out: the bytes between them, and the
#: offsets as they were (``_ORDINAL`` where the ordinal goes).
Template = tuple[tuple[bytes, ...], tuple[int, ...]]
_ORDINAL = -1


def _template(group: Struct) -> Template:
    """The row group's metadata as :func:`_moved` would encode it for any shift and ordinal, cut
    where those go: moving a group is then joining bytes, not encoding thousands of fields (a
    release's footer holds a struct per column and row group)."""
    segments: list[bytes] = []
    offsets: list[int] = []
    out = bytearray()

    def cut(value: int) -> None:
        segments.append(bytes(out))
        offsets.append(value)
        out.clear()

    def offset(kind: int, value: Any) -> bool:  # offsets of 0 or below are not moved
        if value > 0:
            cut(value)
        return value > 0

    def ordinal(kind: int, value: Any) -> bool:
        cut(_ORDINAL)
        return True

    def meta(kind: int, value: Any) -> bool:
        _write_struct(value, out, dict.fromkeys(META_OFFSETS, offset))
        return True

    chunk_fields = {**dict.fromkeys(CHUNK_OFFSETS, offset), CHUNK_META: meta}

    def columns(kind: int, value: Any) -> bool:
        element, chunks = value
        _list_header(element, len(chunks), out)
        for chunk in chunks:
            _write_struct(chunk, out, chunk_fields)
        return True

    _write_struct(group, out, {GROUP_ORDINAL: ordinal, GROUP_COLUMNS: columns,
                               GROUP_FILE_OFFSET: offset})
    segments.append(bytes(out))
    return tuple(segments), tuple(offsets)


def _fill(template: Template, shift: int, ordinal: int, out: bytearray) -> None:
    """Append the moved row group a template stands for (see :func:`_template`); for a group
    with an ordinal, ``ordinal`` must be within an i16's range (past it, :func:`_moved` leaves
    the field out, which a template cannot)."""
    segments, offsets = template
    for segment, offset in zip(segments, offsets):
        out += segment
        if offset == _ORDINAL:
            _zigzag(ordinal, out)
        else:
            _zigzag(offset + shift, out)
    out += segments[-1]


@lru_cache(maxsize=4096)
def _templates(footer: bytes) -> tuple[Template, ...]:
    """The templates of a footer's row groups, made once per process (see :func:`_decoded`):
    about the footer's size again, for each footer kept."""
    groups = _field(_decoded(footer), FILE_ROW_GROUPS)
    return tuple(_template(group) for group in (groups[2][1] if groups else []))


@lru_cache(maxsize=4096)
def _decoded(footer: bytes) -> Struct:
    """Decoded once per process: a long-lived one (``serve --warm``) joins the same kept parts
    night after night. Shared, so never changed in place."""
    return decode(footer)


def read_footer(path: Path) -> tuple[Struct, int]:
    """The footer of a Parquet file, and where it starts (the end of the row groups). The
    struct may be shared with other callers: copy what you change (see :func:`_moved`)."""
    with open(path, "rb") as handle:
        return _footer(handle, path)


def _footer(handle: BinaryIO, path: Path) -> tuple[Struct, int]:
    footer, start = _footer_bytes(handle, path)
    return _decoded(footer), start


def _footer_bytes(handle: BinaryIO, path: Path) -> tuple[bytes, int]:
    """The encoded footer of the file open at its start, and where it starts."""
    head = handle.read(4)
    size = handle.seek(0, 2)
    if size < 12 or head != MAGIC:
        raise ParquetConcatError(f"{path} is not a Parquet file")
    handle.seek(size - 8)
    tail = handle.read(8)
    if tail[4:] != MAGIC:
        raise ParquetConcatError(f"{path} is not a Parquet file (or an encrypted one)")
    (length,) = struct.unpack("<I", tail[:4])
    start = size - 8 - length
    if start < 4:
        raise ParquetConcatError(f"{path} has a footer longer than the file")
    handle.seek(start)
    return handle.read(length), start


def row_group_digests(path: Path) -> list[bytes]:
    """A digest of each row group's bytes, from its first byte to the next row group's (the last
    one's to the footer): the bytes :func:`concatenate` copies, page indexes included. A row
    group copied from a part has the same digest in the part and in the joined file, so equal
    digests find the row groups two files share without decoding a row.

    Kept per process by the file's device, inode, size, modification time and footer (whose
    row group offsets, sizes and statistics change with the bytes): a night's run compares the
    parent release's files and the kept batches' parts (hard links of the same files) that the
    night before had read already, and two of its own steps read the same files."""
    import hashlib

    import pyarrow.parquet as pq

    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        footer, end = _footer_bytes(handle, path)
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
               hashlib.sha256(footer).digest())
        with _DIGESTS_LOCK:
            found = _DIGESTS.get(key)
        if found is None:
            handle.seek(0)
            meta = pq.ParquetFile(handle).metadata  # its C++ reader: faster than the codec here
            starts = [_group_start(meta.row_group(i)) for i in range(meta.num_row_groups)]
            if starts != sorted(starts) or (starts and (starts[0] < 4 or starts[-1] >= end)):
                raise ParquetConcatError(f"{path} has row groups out of order")
            digests = []
            for start, stop in zip(starts, [*starts[1:], end]):
                handle.seek(start)
                digests.append(hashlib.sha256(handle.read(stop - start)).digest())
            found = tuple(digests)
            with _DIGESTS_LOCK:
                while _DIGESTS and len(_DIGESTS) >= MAX_KEPT_DIGESTS:
                    del _DIGESTS[next(iter(_DIGESTS))]  # the oldest
                _DIGESTS[key] = found
    return list(found)


#: Files whose digests a process keeps (a few per batch of a corpus, and a release's tables).
MAX_KEPT_DIGESTS = 4096
_DIGESTS: dict[tuple[Any, ...], tuple[bytes, ...]] = {}
_DIGESTS_LOCK = threading.Lock()


def _group_start(group: Any) -> int:
    """The first byte of a row group: its first column chunk's first page."""
    starts = []
    for j in range(group.num_columns):
        column = group.column(j)
        starts.append(column.dictionary_page_offset if column.has_dictionary_page
                      else column.data_page_offset)
    return min(starts)


def _joined_footer(first: Struct, rows: int, count: int, groups: bytes) -> bytes:
    """The footer of the first file with the row count and the row groups (``count`` of them,
    encoded in ``groups``) of the joined file: what :func:`encode` writes for that struct."""
    out = bytearray()
    written = []

    def num_rows(kind: int, value: Any) -> bool:
        _zigzag(rows, out)
        return True

    def row_groups(kind: int, value: Any) -> bool:
        _list_header(_STRUCT, count, out)
        out.extend(groups)
        written.append(True)
        return True

    _write_struct(first, out, {FILE_NUM_ROWS: num_rows, FILE_ROW_GROUPS: row_groups})
    if count and not written:
        raise ParquetConcatError("the first file's footer has no row groups field")
    return bytes(out)


def concatenate(sources: Iterable[Path], target: Path, digest: Any = None,
                block: int = 1 << 20) -> int:
    """Write the row groups of ``sources``, in order, as one Parquet file; returns its rows.

    Files without rows are skipped. All others must have the same schema and key-value metadata
    (for Arrow, the same Arrow schema), or ``ParquetConcatError`` is raised. With no rows at all
    nothing is written and 0 is returned: the caller writes its own empty file. ``digest`` (a
    hashlib object) is fed every byte written, so the file need not be read back to hash it.
    """
    first: Struct | None = None
    groups = bytearray()  # the moved row groups' metadata, encoded
    count = rows = 0
    with open(target, "wb") as out:
        def write(data: bytes) -> None:
            out.write(data)
            if digest is not None:
                digest.update(data)

        write(MAGIC)
        for source in sources:
            with open(source, "rb") as handle:
                raw, end = _footer_bytes(handle, source)
                footer = _decoded(raw)
                num_rows = _field(footer, FILE_NUM_ROWS)
                if num_rows is None or num_rows[2] == 0:
                    continue
                if first is None:
                    first = footer
                elif any(_field(footer, fid) != _field(first, fid) for fid in SHARED_FIELDS):
                    raise ParquetConcatError(
                        f"{source} has another schema than the files before it")
                shift = out.tell() - 4
                handle.seek(4)  # the row groups (and any page index) as they are
                left = end - 4
                while left:
                    chunk = handle.read(min(block, left))
                    if not chunk:
                        raise ParquetConcatError(f"{source} ended early")
                    write(chunk)
                    left -= len(chunk)
            row_groups = _field(footer, FILE_ROW_GROUPS)
            for group, template in zip(row_groups[2][1] if row_groups else [], _templates(raw)):
                if count < 1 << 15 or _ORDINAL not in template[1]:
                    _fill(template, shift, count, groups)
                else:
                    _write_struct(_moved(group, shift, count), groups)
                count += 1
            rows += num_rows[2]
        if first is None:
            return 0
        footer_bytes = _joined_footer(first, rows, count, bytes(groups))
        write(footer_bytes)
        write(struct.pack("<I", len(footer_bytes)))
        write(MAGIC)
    return rows
