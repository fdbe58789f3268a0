import json
import os

import pytest

from dangjian.corpus import Rejection, RawDocument, corpus_hash, list_raw, read_document, sha256_bytes


def test_lists_every_file_but_metadata_and_hidden(tmp_path):
    (tmp_path / "a.txt").write_text("全市党员1万名", encoding="utf-8")
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "文件 二.txt").write_text("党员2万名", encoding="utf-8")
    (tmp_path / "metadata.csv").write_text("source_file\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("x", encoding="utf-8")
    assert list_raw(tmp_path) == ["a.txt", "sub dir/文件 二.txt"]


def test_document_id_is_sha256_of_bytes(tmp_path):
    data = "全市共有党员1.2万名。".encode("utf-8")
    (tmp_path / "a.txt").write_bytes(data)
    doc = read_document(tmp_path, "a.txt")
    assert isinstance(doc, RawDocument)
    assert doc.doc_id == sha256_bytes(data)
    assert doc.text == "全市共有党员1.2万名。"


def test_link_outside_raw_is_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("党员100名", encoding="utf-8")
    os.symlink(secret, raw / "link.txt")
    item = read_document(raw, "link.txt")
    assert isinstance(item, Rejection)
    assert item.reason.startswith("outside_raw")


def test_too_large_and_empty_files_are_rejected(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"a" * 2048)
    (tmp_path / "empty.txt").write_bytes(b"")
    big = read_document(tmp_path, "big.txt", max_bytes=1024)
    empty = read_document(tmp_path, "empty.txt")
    assert isinstance(big, Rejection) and big.reason.startswith("too_large") and big.bytes == 2048
    assert isinstance(empty, Rejection) and empty.reason.startswith("empty") and empty.bytes == 0


def test_corpus_hash_changes_with_content_and_metadata(tmp_path):
    (tmp_path / "a.txt").write_text("党员1名", encoding="utf-8")
    first = corpus_hash(tmp_path, ["a.txt"])
    (tmp_path / "metadata.csv").write_text("source_file,publisher\na.txt,某报\n", encoding="utf-8")
    second = corpus_hash(tmp_path, ["a.txt"])
    (tmp_path / "a.txt").write_text("党员2名", encoding="utf-8")
    assert len({first, second, corpus_hash(tmp_path, ["a.txt"])}) == 3


def test_file_digests_are_the_sha256_of_each_file_and_none_for_an_unreadable_one(tmp_path):
    from dangjian.corpus import file_digests

    (tmp_path / "a.txt").write_bytes("党员1名".encode("utf-8"))
    (tmp_path / "folder.txt").mkdir()  # listed by mistake: cannot be read as a file
    digests = file_digests(tmp_path, ["a.txt", "folder.txt", "gone.txt"])
    assert digests == {"a.txt": sha256_bytes("党员1名".encode("utf-8")), "folder.txt": None,
                       "gone.txt": None}


def test_a_file_above_the_whole_read_size_is_hashed_as_a_stream_to_the_same_digest(tmp_path,
                                                                                    monkeypatch):
    from dangjian import corpus

    data = "全市共有党员1.2万名。".encode("utf-8") * 50
    (tmp_path / "a.txt").write_bytes(data)
    streamed: list[str] = []
    real = corpus.hashlib.file_digest
    monkeypatch.setattr(corpus.hashlib, "file_digest",
                        lambda handle, algo: streamed.append(handle.name) or real(handle, algo))
    whole = corpus.file_digests(tmp_path, ["a.txt"])
    assert streamed == []
    monkeypatch.setattr(corpus, "READ_WHOLE", 10)
    assert corpus.file_digests(tmp_path, ["a.txt"]) == whole == {"a.txt": sha256_bytes(data)}
    assert streamed == [str(tmp_path / "a.txt")]


def test_the_scan_tells_plain_files_from_links_folders_and_huge_files(tmp_path, monkeypatch):
    from dangjian import corpus

    small, big = "党员1名".encode("utf-8"), ("党员2名" * 10).encode("utf-8")
    (tmp_path / "a.txt").write_bytes(small)
    (tmp_path / "big.txt").write_bytes(big)
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "folder.txt").mkdir()
    monkeypatch.setattr(corpus, "PLAIN_MAX_BYTES", 20)
    names = ["a.txt", "big.txt", "dangling.txt", "folder.txt", "gone.txt", "link.txt"]
    scan = corpus.scan_files(tmp_path, names)
    assert scan.plain == {"a.txt"}
    # a link is hashed by its target's bytes; what cannot be read has no digest
    assert scan.digests == {"a.txt": sha256_bytes(small), "big.txt": sha256_bytes(big),
                            "dangling.txt": None, "folder.txt": None, "gone.txt": None,
                            "link.txt": sha256_bytes(small)}


def test_corpus_hash_from_digests_equals_the_hash_that_reads_the_files(tmp_path):
    from dangjian.corpus import file_digests

    for name, text in (("a.txt", "党员1名"), ("b.txt", "党员2名")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    files = list_raw(tmp_path)
    assert corpus_hash(tmp_path, files, file_digests(tmp_path, files)) == corpus_hash(tmp_path, files)


def test_a_resolved_root_gives_the_same_document(tmp_path):
    (tmp_path / "a.txt").write_text("全市共有党员1.2万名。", encoding="utf-8")
    assert read_document(tmp_path, "a.txt", root=tmp_path.resolve()) == read_document(tmp_path, "a.txt")


def _aged(path, seconds=3600):
    """Set a file's times back, as for a file written before the last run."""
    past = path.stat().st_mtime - seconds
    os.utime(path, (past, past))


def test_digest_index_skips_unchanged_files_and_rehashes_changed_ones(tmp_path, monkeypatch):
    import dangjian.corpus as corpus

    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("a.txt", "b.txt"):
        (raw / name).write_text(f"{name} 党员100名", encoding="utf-8")
    index = tmp_path / "cache" / "digests.json"
    files = ["a.txt", "b.txt"]
    first = corpus.file_digests(raw, files, index)
    assert not index.exists()  # both files are too fresh to be remembered
    later = corpus.time.time_ns() + 10 * 10 ** 9
    monkeypatch.setattr(corpus.time, "time_ns", lambda: later)  # as in a run a while after
    assert corpus.file_digests(raw, files, index) == first and index.is_file()

    read = []
    real = corpus.sha256_file
    monkeypatch.setattr(corpus, "sha256_file",
                        lambda path, size: read.append(path) or real(path, size))
    assert corpus.file_digests(raw, files, index) == first and read == []

    (raw / "b.txt").write_text("b.txt 党员900名", encoding="utf-8")  # same size, new bytes
    _aged(raw / "b.txt")  # even with its old modification time, its change time moved
    again = corpus.file_digests(raw, files, index)
    assert read == [os.path.join(raw, "b.txt")]
    assert again["b.txt"] == sha256_bytes((raw / "b.txt").read_bytes()) != first["b.txt"]


def test_a_broken_digest_index_only_costs_a_full_hash(tmp_path):
    from dangjian.corpus import file_digests

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("党员100名", encoding="utf-8")
    index = tmp_path / "digests.json"
    index.write_text('{"a.txt": "not a list"', encoding="utf-8")
    assert file_digests(raw, ["a.txt"], index) == {"a.txt": sha256_bytes((raw / "a.txt").read_bytes())}
    index.write_text('{"a.txt": [1, 2]}', encoding="utf-8")
    assert file_digests(raw, ["a.txt"], index) == {"a.txt": sha256_bytes((raw / "a.txt").read_bytes())}


def test_the_digest_index_is_parsed_once_per_process_while_its_file_is_unchanged(tmp_path,
                                                                                monkeypatch):
    import dangjian.corpus as corpus

    monkeypatch.setattr(corpus, "_last_index", None)
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("a.txt", "b.txt"):
        (raw / name).write_text(f"{name} 党员100名", encoding="utf-8")
    later = corpus.time.time_ns() + 10 * 10 ** 9
    monkeypatch.setattr(corpus.time, "time_ns", lambda: later)  # as in a run a while after
    index = tmp_path / "cache" / "digests.json"
    files = ["a.txt", "b.txt"]
    first = corpus.file_digests(raw, files, index)  # hashes both and writes the index
    assert index.is_file()
    parsed = []
    real = corpus.json.loads
    monkeypatch.setattr(corpus.json, "loads", lambda text: parsed.append(1) or real(text))
    hashed = []
    real_hash = corpus.sha256_file
    monkeypatch.setattr(corpus, "sha256_file",
                        lambda path, size: hashed.append(path) or real_hash(path, size))
    assert corpus.file_digests(raw, files, index) == first
    assert parsed == [] and hashed == []  # the index this process wrote, kept in memory

    # Another process rewrites the index (here with an entry that no longer fits b.txt's stat):
    # the file is read again, and b.txt, no longer vouched for, hashed again.
    before = corpus._index_stamp(index)
    entries = real(index.read_text(encoding="utf-8"))
    entries["b.txt"][0] += 1
    index.write_text(corpus.json.dumps(entries) + " " * 64, encoding="utf-8")  # another size
    assert corpus._index_stamp(index) != before
    assert corpus.file_digests(raw, files, index) == first
    assert parsed == [1] and hashed == [os.path.join(raw, "b.txt")]
    # and b.txt's entry was put right: the next scan hashes nothing
    assert corpus.file_digests(raw, files, index) == first
    assert hashed == [os.path.join(raw, "b.txt")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX absolute paths")
def test_a_name_that_is_an_absolute_path_is_read_there(tmp_path):
    from dangjian.corpus import file_digests

    (tmp_path / "a.txt").write_text("党员1名", encoding="utf-8")
    elsewhere = tmp_path / "raw"
    elsewhere.mkdir()
    absolute = str(tmp_path / "a.txt")
    assert file_digests(elsewhere, [absolute]) == {absolute: sha256_bytes((tmp_path / "a.txt").read_bytes())}


def test_an_index_entry_whose_digest_is_not_text_is_not_trusted(tmp_path):
    from dangjian.corpus import file_digests

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("党员100名", encoding="utf-8")
    info = os.stat(raw / "a.txt")
    index = tmp_path / "digests.json"
    index.write_text(json.dumps({"a.txt": [info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                                           info.st_ino, None]}), encoding="utf-8")
    assert file_digests(raw, ["a.txt"], index) == {"a.txt": sha256_bytes((raw / "a.txt").read_bytes())}
