import duckdb
import pyarrow
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.parquet_concat import (CHUNK_FILE_OFFSET, CHUNK_META, FILE_NUM_ROWS,
                                     FILE_ROW_GROUPS, GROUP_COLUMNS, GROUP_FILE_OFFSET,
                                     GROUP_ORDINAL, ParquetConcatError, _field, _fill, _moved,
                                     _template, concatenate, encode, read_footer,
                                     row_group_digests)


def _table(start, n):
    return pyarrow.table({
        "id": pyarrow.array(range(start, start + n), pyarrow.int64()),
        "word": pyarrow.array([f"词{i % 17}" if i % 5 else None for i in range(start, start + n)],
                              pyarrow.string()),
        "value": pyarrow.array([i / 3 for i in range(start, start + n)], pyarrow.float64()),
        "tags": pyarrow.array([[f"t{i % 3}"] * (i % 3) for i in range(start, start + n)],
                              pyarrow.list_(pyarrow.string())),
    })


def _write(path, table, **options):
    pq.write_table(table, path, compression="zstd", row_group_size=250, **options)
    return path


def test_a_footer_is_read_and_written_back_byte_for_byte(tmp_path):
    path = _write(tmp_path / "a.parquet", _table(0, 1000), write_page_index=True)
    footer, end = read_footer(path)
    data = path.read_bytes()
    assert encode(footer) == data[end:-8]


def test_row_groups_are_copied_and_read_back_in_order(tmp_path):
    sources = [_write(tmp_path / f"{i}.parquet", _table(i * 600, 600 - i * 100)) for i in range(4)]
    rows = concatenate(sources, tmp_path / "all.parquet")
    expected = pyarrow.concat_tables(pq.read_table(s) for s in sources)
    assert rows == expected.num_rows == 1800
    assert pq.read_table(tmp_path / "all.parquet").equals(expected)
    assert pq.read_metadata(tmp_path / "all.parquet").num_row_groups == 3 + 2 + 2 + 2
    # Statistics still point at the right groups: a filter prunes and keeps the right rows.
    assert pq.read_table(tmp_path / "all.parquet", filters=[("id", ">=", 1900)]).num_rows == 200
    count = duckdb.sql(f"select count(*), sum(id) from '{tmp_path / 'all.parquet'}'").fetchall()[0]
    assert count == (1800, sum(expected["id"].to_pylist()))


def test_every_offset_points_at_the_same_bytes_as_in_its_source(tmp_path):
    sources = [_write(tmp_path / f"{i}.parquet", _table(i * 500, 500), write_page_index=True)
               for i in range(3)]
    target = tmp_path / "all.parquet"
    concatenate(sources, target)
    out = target.read_bytes()
    groups = _field(read_footer(target)[0], FILE_ROW_GROUPS)[2][1]
    assert len(groups) == 6
    index = 0
    for source in sources:
        data = source.read_bytes()
        for group in _field(read_footer(source)[0], FILE_ROW_GROUPS)[2][1]:
            start, moved = _field(group, GROUP_FILE_OFFSET)[2], _field(groups[index], GROUP_FILE_OFFSET)[2]
            assert data[start:start + 16] == out[moved:moved + 16]
            for old, new in zip(_field(group, GROUP_COLUMNS)[2][1],
                                _field(groups[index], GROUP_COLUMNS)[2][1]):
                pairs = [(a, b) for a, b in zip(old, new) if a[0] in (4, 6)]  # page indexes
                pairs += [(a, b) for a, b in zip(_field(old, CHUNK_META)[2],
                                                 _field(new, CHUNK_META)[2]) if a[0] in (9, 11)]
                assert pairs
                for a, b in pairs:
                    assert data[a[2]:a[2] + 16] == out[b[2]:b[2] + 16]
            index += 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=5))
def test_any_split_reads_back_as_the_whole(tmp_path_factory, sizes):
    folder = tmp_path_factory.mktemp("split")
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    sources = [_write(folder / f"{i}.parquet", _table(s, n)) for i, (s, n) in enumerate(zip(starts, sizes))]
    rows = concatenate(sources, folder / "all.parquet")
    assert rows == sum(sizes)
    if rows:
        assert pq.read_table(folder / "all.parquet").equals(_table(0, sum(sizes)))


def test_files_of_another_schema_are_refused(tmp_path):
    a = _write(tmp_path / "a.parquet", _table(0, 10))
    b = _write(tmp_path / "b.parquet", _table(0, 10).drop_columns(["tags"]))
    with pytest.raises(ParquetConcatError, match="another schema"):
        concatenate([a, b], tmp_path / "all.parquet")


@pytest.mark.parametrize("content", [b"", b"PAR1", b"not parquet at all", b"PAR1" + b"\0" * 20 + b"PAR1"])
def test_what_is_not_parquet_is_refused(tmp_path, content):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(content)
    with pytest.raises(ParquetConcatError):
        concatenate([bad], tmp_path / "all.parquet")


def test_a_footer_read_before_is_not_changed_by_a_join(tmp_path):
    # Footers are decoded once per process and shared: joining must not move the shared copy.
    a = _write(tmp_path / "a.parquet", _table(0, 300))
    b = _write(tmp_path / "b.parquet", _table(300, 300))
    concatenate([a, b], tmp_path / "ab.parquet")
    concatenate([b], tmp_path / "b-again.parquet")
    assert pq.read_table(tmp_path / "b-again.parquet").equals(pq.read_table(b))
    concatenate([a, b], tmp_path / "ab-again.parquet")
    assert (tmp_path / "ab.parquet").read_bytes() == (tmp_path / "ab-again.parquet").read_bytes()


def _numbered(tmp_path, name, table, **options):
    """A file whose row groups carry ordinals, as their last field (pyarrow writes none)."""
    import struct

    plain = _write(tmp_path / f"plain-{name}", table, **options)
    footer, end = read_footer(plain)
    footer = [list(f) for f in footer]
    groups = _field(footer, FILE_ROW_GROUPS)[2][1]
    _field(footer, FILE_ROW_GROUPS)[2] = (12, [g + [[GROUP_ORDINAL, 4, n]]
                                               for n, g in enumerate(groups)])
    body = encode(footer)
    path = tmp_path / name
    path.write_bytes(plain.read_bytes()[:end] + body + struct.pack("<I", len(body)) + b"PAR1")
    return path


def test_ordinals_are_renumbered_and_the_digest_is_of_the_file(tmp_path):
    import hashlib

    sources = [_numbered(tmp_path, f"{i}.parquet", _table(i * 500, 500)) for i in range(2)]
    digest = hashlib.sha256()
    concatenate(sources, tmp_path / "all.parquet", digest)
    groups = _field(read_footer(tmp_path / "all.parquet")[0], FILE_ROW_GROUPS)[2][1]
    assert [_field(g, GROUP_ORDINAL)[2] for g in groups] == [0, 1, 2, 3]
    assert digest.hexdigest() == hashlib.sha256((tmp_path / "all.parquet").read_bytes()).hexdigest()
    assert pq.read_table(tmp_path / "all.parquet").equals(_table(0, 1000))


@pytest.mark.parametrize("ordinals", ["none", "last"])
def test_the_joined_footer_is_the_reference_encoding_of_the_moved_groups(tmp_path, ordinals):
    # Row groups are moved by joining bytes cut around their offsets; the footer must be what
    # encoding the moved structs field by field gives: 22 row groups (a list header of its own),
    # page indexes and, in one case, ordinals.
    tables = [_table(i * 1000, 1000 + 250 * i) for i in range(4)]
    if ordinals == "none":
        sources = [_write(tmp_path / f"{i}.parquet", t, write_page_index=True)
                   for i, t in enumerate(tables)]
    else:
        sources = [_numbered(tmp_path, f"{i}.parquet", t) for i, t in enumerate(tables)]
    target = tmp_path / "all.parquet"
    rows = concatenate(sources, target)
    groups, shift = [], 0
    for source in sources:
        footer, end = read_footer(source)
        for group in _field(footer, FILE_ROW_GROUPS)[2][1]:
            groups.append(_moved(group, shift, len(groups)))
        shift += end - 4
    expected = [[fid, kind, value] for fid, kind, value in read_footer(sources[0])[0]]
    _field(expected, FILE_NUM_ROWS)[2] = rows
    _field(expected, FILE_ROW_GROUPS)[2] = (12, groups)
    footer, end = read_footer(target)
    assert len(groups) == 22 and target.read_bytes()[end:-8] == encode(expected)
    assert pq.read_table(target).equals(pyarrow.concat_tables(tables))


def test_a_template_moves_a_group_as_the_reference_encoder_does(tmp_path):
    path = _numbered(tmp_path, "n.parquet", _table(0, 600), write_page_index=True)
    group = _field(read_footer(path)[0], FILE_ROW_GROUPS)[2][1][1]
    template = _template(group)
    for shift, ordinal in [(0, 0), (7, 1), (1 << 40, 300), (123456789, (1 << 15) - 1)]:
        out = bytearray()
        _fill(template, shift, ordinal, out)
        assert bytes(out) == encode(_moved(group, shift, ordinal))


_I16, _I32, _I64, _BINARY, _LIST, _STRUCT, _TRUE, _FALSE = 4, 5, 6, 8, 9, 12, 1, 2
_offset = st.one_of(st.just(0), st.integers(-3, 1 << 40))


def _fields(draw, spec):
    """Some of the fields of ``spec`` (id → strategy of [kind, value]), in id order."""
    chosen = draw(st.lists(st.sampled_from(sorted(spec)), unique=True))
    return [[fid, *draw(spec[fid])] for fid in sorted(chosen)]


_bool = st.sampled_from([[_TRUE, None], [_FALSE, None]])
_i64 = _offset.map(lambda v: [_I64, v])


@st.composite
def _meta(draw):
    return _fields(draw, {
        1: st.integers(0, 7).map(lambda v: [_I32, v]),
        2: st.lists(st.integers(0, 9), max_size=20).map(lambda v: [_LIST, (_I32, v)]),
        9: _i64, 10: _i64, 11: _i64, 14: _i64,
        12: st.binary(max_size=40).map(lambda v: [_STRUCT, [[1, _BINARY, v]]]),
        30: _bool, 50: _i64})


@st.composite
def _chunk(draw):
    return _fields(draw, {
        1: st.binary(max_size=8).map(lambda v: [_BINARY, v]), CHUNK_FILE_OFFSET: _i64,
        CHUNK_META: _meta().map(lambda v: [_STRUCT, v]), 4: _i64,
        5: st.integers(0, 1 << 20).map(lambda v: [_I32, v]), 6: _i64, 20: _bool})


@st.composite
def _group(draw):
    return _fields(draw, {
        GROUP_COLUMNS: st.lists(_chunk(), max_size=20).map(lambda v: [_LIST, (_STRUCT, v)]),
        2: _i64, 3: _i64, GROUP_FILE_OFFSET: _i64, 6: _i64,
        GROUP_ORDINAL: st.integers(0, 9).map(lambda v: [_I16, v]), 8: _bool, 40: _i64})


# The strategies draw nothing from the ``random`` module, but Hypothesis says they do whenever
# the module's state moves while it draws, and after the flow tests other threads of this
# process can draw from it (the websocket that Prefect's events client keeps open pings with
# a random payload).
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=300, deadline=None)
@given(_group(), st.integers(0, 1 << 40), st.integers(0, (1 << 15) - 1))
def test_any_row_group_moves_by_template_as_the_reference_encoder_moves_it(group, shift, ordinal):
    # Field ids far apart, booleans, lists of 15 or more, offsets of 0 or below (not moved),
    # an ordinal with fields after it.
    out = bytearray()
    _fill(_template(group), shift, ordinal, out)
    assert bytes(out) == encode(_moved(group, shift, ordinal))


def test_a_truncated_footer_is_refused(tmp_path):
    import struct

    good = _write(tmp_path / "good.parquet", _table(0, 300))
    data = good.read_bytes()
    end = read_footer(good)[1]
    footer = data[end:-8]
    for cut in (1, len(footer) // 3, len(footer) // 2, len(footer) - 1):
        bad = tmp_path / f"cut{cut}.parquet"
        bad.write_bytes(data[:end] + footer[:cut] + struct.pack("<I", cut) + b"PAR1")
        with pytest.raises(ParquetConcatError):
            concatenate([bad], tmp_path / "all.parquet")



def test_digests_are_read_once_per_file_and_again_once_it_is_rewritten(tmp_path, monkeypatch):
    import os

    import dangjian.parquet_concat as module

    reads = []
    real = pq.ParquetFile
    monkeypatch.setattr(pq, "ParquetFile", lambda *a, **k: reads.append(1) or real(*a, **k))
    part = _write(tmp_path / "part.parquet", _table(0, 600))
    first = row_group_digests(part)
    assert row_group_digests(part) == first and len(reads) == 1
    link = tmp_path / "linked.parquet"  # a kept batch's part, linked into another run
    os.link(part, link)
    assert row_group_digests(link) == first and len(reads) == 1
    # Rewritten in place with as many bytes and its old times put back: only the content differs
    fixed = tmp_path / "fixed.parquet"
    plain = {"compression": "NONE", "use_dictionary": False}
    pq.write_table(pyarrow.table({"n": list(range(600))}), fixed, **plain)
    before, stat = row_group_digests(fixed), os.stat(fixed)
    pq.write_table(pyarrow.table({"n": list(range(1, 601))}), fixed, **plain)
    os.utime(fixed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    now = os.stat(fixed)
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    assert row_group_digests(fixed) != before
    monkeypatch.setattr(module, "MAX_KEPT_DIGESTS", 1)
    row_group_digests(_write(tmp_path / "other.parquet", _table(2, 600)))
    assert len(module._DIGESTS) == 1  # the oldest made room


@pytest.mark.parametrize("page_index", [False, True])
def test_a_row_group_has_the_same_digest_in_its_part_and_in_the_joined_file(tmp_path, page_index):
    sources = [_write(tmp_path / f"{i}.parquet", _table(i * 600, 600 - i * 100),
                      write_page_index=page_index) for i in range(3)]
    concatenate(sources, tmp_path / "all.parquet")
    parts = [d for s in sources for d in row_group_digests(s)]
    assert row_group_digests(tmp_path / "all.parquet") == parts
    assert len(set(parts)) == len(parts) == 3 + 2 + 2
    # Other rows, or the same rows written otherwise, are other bytes.
    again = _write(tmp_path / "again.parquet", _table(0, 600), write_page_index=page_index)
    assert row_group_digests(again) == row_group_digests(sources[0])
    other = _write(tmp_path / "other.parquet", _table(1, 600), write_page_index=page_index)
    assert not set(row_group_digests(other)) & set(parts)
