"""The HTML report of a release: the builder's escaping, counts and highlights, and the page
itself in a real headless browser driven over the Chrome DevTools Protocol."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.corpus import corpus_hash, list_raw
from dangjian.documents import load_metadata
from dangjian.pipeline import frame, process_batch, validate
from dangjian.publish import read_manifest
from dangjian.report import (REPORT_FILE, ReleaseData, Span, build_report, highlight, render,
                             report_decorator, report_for, script_json)
from flows.cli import main
from tests.conftest import RAW
from tests.conftest import build_release as shared_build_release

SCREENSHOT_ENV = "DANGJIAN_REPORT_SCREENSHOT"


def build_release(output: Path, raw: Path, files: list[str]) -> str:
    """A real release of some seed texts, with its report written by the publish hook."""
    return shared_build_release(output, raw, files=files, decorators=[report_decorator(raw)])


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Output folder, raw folder and release folder of a release of the whole seed corpus, whose
    parent holds the first three texts (so it has changes)."""
    root = tmp_path_factory.mktemp("report")
    texts = list_raw(RAW)
    build_release(root / "output", root / "raw", texts[:3])
    version = build_release(root / "output", root / "raw", texts)
    return root / "output", root / "raw", root / "output" / "releases" / version


def _rows(folder: Path, table: str) -> list[dict]:
    return pq.read_table(folder / f"{table}.parquet").to_pylist()


def _data(text: str, metrics: list[dict], quarantine: list[dict] | None = None,
          title: str | None = "t") -> ReleaseData:
    doc = {"doc_id": "a" * 64, "source_file": "a.txt", "title": title, "publisher": None,
           "published": None, "place": None, "encoding": "utf-8", "n_chars": len(text)}
    return ReleaseData({"version": "1.0.0", "parent": None}, [doc], metrics, quarantine or [],
                       [], [], {"a.txt": text}, {})


def _metric(start: int, end: int, text: str, **extra) -> dict:
    row = {"metric_id": f"id{start}-{end}", "source_file": "a.txt", "char_start": start,
           "char_end": end, "quote": text[start:end], "value": 3.0, "value_high": None,
           "unit": "个", "qualifier": "exact", "quantity_kind": "count", "statistic": "level",
           "subject": "党组织", "metric": "party_organizations", "geography": None,
           "period": None, "extractor": "rule"}
    return {**row, **extra}


class _Marks(HTMLParser):
    """Which characters of the text each mark covers, and the text with the tags removed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.stack: list[dict[str, str]] = []
        self.covered: dict[tuple[str, str], set[int]] = {}
        self.firsts: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        assert tag == "mark"
        attrs = dict(attrs)
        self.stack.append(attrs)
        if attrs["class"] in ("hl", "hq"):
            self.firsts.append(("m", attrs["data-m"]) if "data-m" in attrs else ("q", attrs["data-q"]))

    def handle_endtag(self, tag):
        assert tag == "mark"
        self.stack.pop()

    def handle_data(self, data):
        for attrs in self.stack:
            key = ("m", attrs["data-m"]) if "data-m" in attrs else ("q", attrs["data-q"])
            self.covered.setdefault(key, set()).update(range(len(self.text), len(self.text) + len(data)))
        self.text += data


def _parse(fragment: str) -> _Marks:
    parser = _Marks()
    parser.feed(fragment)
    parser.close()
    assert parser.stack == [], "a mark was left open"
    return parser


# --- the builder ------------------------------------------------------------------------------

def test_script_json_cannot_end_its_script_element():
    data = {"quote": "</script><script>alert(1)</script><!-- x -->", "sep": "a\u2028b", "amp": "&"}
    text = script_json(data)
    assert "</" not in text and "<!--" not in text and "<" not in text and "\u2028" not in text
    assert json.loads(text) == data


def test_text_and_data_are_escaped():
    text = '<u id="x">"党员"</u> & 3个</script><!--'
    evil = "<script>alert('x')</script>"
    page = render(_data(text, [_metric(0, 3, text, subject=evil)], title=evil))
    assert evil not in page and '<u id="x">' not in page and "<!--" not in page
    assert ('<mark class="hl" id="m-0" data-m="0">&lt;u </mark>id=&quot;x&quot;&gt;&quot;党员'
            '&quot;&lt;/u&gt; &amp; 3个&lt;/script&gt;&lt;!--') in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    body = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "</" not in body and "<!--" not in body
    assert json.loads(body)["metrics"][0]["subject"] == evil


def test_a_page_made_again_from_other_rows_shows_them(monkeypatch):
    """The documents and data kept from the last page are used only for the same rows and
    texts: any change to them makes the page anew."""
    import dangjian.report as report

    text = "全市共有党组织32个，党员560名。"
    first = _data(text, [_metric(6, 9, text), _metric(13, 17, text)])
    page = render(first)
    made = []
    real = report._documents
    monkeypatch.setattr(report, "_documents", lambda *a: made.append(1) or real(*a))
    assert render(first) == page and made == []  # the same rows: kept from the last page
    changes = {
        "a metric": lambda d: d.metrics[1].update(quote="党员56"),
        "a metric less": lambda d: d.metrics.pop(),
        "a document": lambda d: d.documents[0].update(title="另一个"),
        "a quarantined row": lambda d: d.quarantine.append(
            {"source_file": "a.txt", "char_start": 0, "char_end": 2, "quote": "全市",
             "table": "metrics", "check": "c", "reason": "r", "row": "{}"}),
        "a text missing": lambda d: d.texts.update({"a.txt": None}),
    }
    for name, change in changes.items():
        data = _data(text, [_metric(6, 9, text), _metric(13, 17, text)])
        change(data)
        again = render(data)
        assert made, name
        monkeypatch.setattr(report, "_last_shown", None)
        assert again == render(data) != page, name
        render(first)
        made.clear()


def test_crossing_and_nested_spans_nest_and_cover_their_characters():
    text = "0123456789abcdef"
    spans = [Span(0, 10, "m", 0), Span(2, 5, "m", 1), Span(3, 8, "m", 2), Span(0, 10, "m", 3),
             Span(7, 14, "m", 4), Span(9, 12, "q", 0), Span(15, 16, "m", 5)]
    marks = _parse(highlight(text, spans))
    assert marks.text == text
    assert sorted(marks.firsts) == sorted((s.kind, str(s.index)) for s in spans)
    for s in spans:
        assert marks.covered[(s.kind, str(s.index))] == set(range(s.start, s.end))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 12)), max_size=12))
def test_any_spans_give_one_first_mark_each_and_well_formed_html(pairs):
    text = "党建" * 15
    spans = [Span(a, min(a + n, len(text)), "m", i) for i, (a, n) in enumerate(pairs)
             if a < len(text)]
    marks = _parse(highlight(text, spans))
    assert marks.text == text
    assert sorted(marks.firsts) == sorted(("m", str(s.index)) for s in spans)
    for s in spans:
        assert marks.covered[("m", str(s.index))] == set(range(s.start, s.end))


def test_spans_outside_the_text_are_left_out():
    assert highlight("abc", [Span(2, 9, "m", 0), Span(-1, 1, "m", 1)]) == "abc"


def test_quarantined_spans_are_marked_apart():
    text = "全市有党员3个和4个"
    quarantine = [{"table": "metrics", "source_file": "a.txt", "char_start": 8.0,
                   "char_end": 10.0, "quote": "4个", "check": "value_is_finite",
                   "reason": "bad", "row": "{}"}]
    page = render(_data(text, [_metric(5, 7, text)], quarantine))
    assert page.count('<mark class="hl"') == 1 and page.count('<mark class="hq"') == 1
    assert '<mark class="hq" id="q-0" data-q="0">4个</mark>' in page


def test_seed_report_has_one_highlight_per_metric_and_the_counts(seed):
    output, raw, folder = seed
    page = (folder / REPORT_FILE).read_text(encoding="utf-8")
    metrics = _rows(folder, "metrics")
    ids = re.findall(r'<mark class="hl" id="m-(\d+)"', page)
    assert len(ids) == len(metrics) == len(set(ids)) > 0
    assert f"<b>{len(metrics)}</b><span>metrics</span>" in page
    assert f"<b>{len(_rows(folder, 'documents'))}</b><span>documents</span>" in page
    added = sum(c["change"] == "added" for c in _rows(folder, "changes"))
    assert added > 0 and f"<b>{added}</b><span>added</span>" in page
    assert page.count("<svg") >= 4 and "metrics by place" in page and "http" not in page.split(
        "<body>", 1)[1].split('id="report-data"')[0]
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    by_id = {m["metric_id"]: m for m in metrics}
    for row in data["metrics"]:
        assert row["shown"] and row["quote"] == by_id[row["id"]]["quote"]


def test_a_large_release_shows_the_first_documents_and_counts_them_all(seed, monkeypatch):
    import dangjian.report as report

    output, raw, folder = seed
    monkeypatch.setattr(report, "MAX_DOCUMENTS", 2)
    page = build_report(folder, raw)
    documents, metrics = _rows(folder, "documents"), _rows(folder, "metrics")
    shown = sorted(d["source_file"] for d in documents)[:2]
    expected = sum(m["source_file"] in shown for m in metrics)
    assert 0 < expected < len(metrics)
    assert len(re.findall(r'<mark class="hl" id="m-', page)) == expected
    assert f"<b>{len(metrics)}</b><span>metrics</span>" in page  # the counts cover everything
    assert f"first 2 of {len(documents)} documents" in page


def test_change_counts_cover_the_changes_the_page_does_not_list(seed, monkeypatch):
    import dangjian.report as report

    output, raw, folder = seed
    changes = _rows(folder, "changes")
    assert len(changes) > 2
    monkeypatch.setattr(report, "MAX_CHANGES", 2)
    page = build_report(folder, raw)
    added = sum(c["change"] == "added" for c in changes)
    assert f"<b>{added}</b><span>added</span>" in page
    assert f"{added} added" in page
    assert f"{len(changes) - 2} more changes are in changes.parquet." in page
    assert page.count('<tr class="added">') + page.count('<tr class="removed">') \
        + page.count('<tr class="changed">') == 2


def test_counts_and_charts_equal_counting_every_row_in_python(seed, tmp_path, monkeypatch):
    """DuckDB's totals and chart bars (top bars, ties by label, the summed rest) are those of a
    plain count of every row, and draw the same charts."""
    import pyarrow as pa

    import dangjian.report as report

    output, raw, folder = seed
    copy = tmp_path / "release"
    shutil.copytree(folder, copy)
    checks = [("metrics", "b"), ("metrics", "a"), ("documents", "a"), ("metrics", "a"),
              ("documents", "c"), ("metrics", "c")]
    rows = [{"table": table, "doc_id": None, "source_file": None, "char_start": None,
             "char_end": None, "quote": None, "check": check, "reason": "r", "row": "{}"}
            for table, check in checks]
    schema = pq.read_schema(folder / "quarantine.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), copy / "quarantine.parquet")
    monkeypatch.setattr(report, "MAX_BARS", 3)
    data = report.load_release(copy, raw)
    assert data.totals == {name: len(_rows(copy, name)) for name in report.TABLE_FILES}
    counts = report._chart_counts(_rows(copy, "metrics"), _rows(copy, "quarantine"))
    assert all(len(c) > 3 for c in counts.values())  # every chart has a summed "more" bar
    for name, plain in counts.items():
        assert data.chart(name) == report.Bars.of(plain, 3), name
        assert report.bar_chart(name, data.chart(name)) == report.bar_chart(name, plain)


def test_the_shown_rows_are_those_of_a_plain_read(seed, monkeypatch):
    """Only the page's columns of the first documents' rows are read, sorted as before."""
    import dangjian.report as report

    output, raw, folder = seed
    monkeypatch.setattr(report, "MAX_DOCUMENTS", 2)
    data = report.load_release(folder, raw)
    documents = sorted(_rows(folder, "documents"), key=lambda d: d["source_file"])[:2]
    assert data.documents == [{k: report._plain(d[k]) for k in report.COLUMNS["documents"]}
                              for d in documents]
    shown = {d["source_file"] for d in documents}
    metrics = sorted((m for m in _rows(folder, "metrics") if m["source_file"] in shown),
                     key=lambda m: (m["source_file"], m["char_start"], m["char_end"], m["metric_id"]))
    assert data.metrics == [{k: m[k] for k in report.COLUMNS["metrics"]} for m in metrics]
    assert "context" not in data.metrics[0]


def test_report_is_in_the_manifest_and_deterministic(seed):
    output, raw, folder = seed
    manifest = read_manifest(output, folder.name)
    data = (folder / REPORT_FILE).read_bytes()
    assert manifest["files"][REPORT_FILE]["bytes"] == len(data)
    assert build_report(folder, raw).encode("utf-8") == data
    assert build_report(folder, raw) == build_report(folder, raw)


def test_changed_raw_text_is_shown_without_text(seed, tmp_path):
    output, raw, folder = seed
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    name = sorted(r["source_file"] for r in _rows(folder, "documents"))[0]
    (copy / name).write_text("另一篇文章", encoding="utf-8")
    page = build_report(folder, copy)
    assert "its sha256 differs from doc_id" in page
    shown = sum(m["source_file"] != name for m in _rows(folder, "metrics"))
    assert page.count('<mark class="hl"') == shown
    assert "the raw folder is not available" in build_report(folder, None)


def test_a_text_read_before_is_read_again_once_its_file_changes(seed, tmp_path):
    """The page keeps the texts it read for the next page in the same process, by the file's
    inode, size and modification time: a file rewritten in place is read again."""
    output, raw, folder = seed
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    name = sorted(r["source_file"] for r in _rows(folder, "documents"))[0]
    assert "its sha256 differs from doc_id" not in build_report(folder, copy)
    path = copy / name
    data = bytearray(path.read_bytes())
    digit = next(i for i, byte in enumerate(data) if byte in b"0123456789")
    data[digit] = ord("1") if data[digit] != ord("1") else ord("2")  # same size, same inode
    with open(path, "r+b") as handle:
        handle.write(data)
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    assert "its sha256 differs from doc_id" in build_report(folder, copy)


def test_the_release_flow_publishes_the_report(tmp_path):
    from dangjian.staging import new_workdir, write_part
    from flows.release import publish_release

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy2(RAW / list_raw(RAW)[0], raw)
    files = list_raw(raw)
    batch = process_batch(raw, files, load_metadata(raw))
    workdir = new_workdir(tmp_path / "output")
    for name in ("documents", "metrics", "rejected"):
        write_part(workdir, name, 0, validate(name, frame(name, getattr(batch, name)))[0])
    write_part(workdir, "quarantine", 0, frame("quarantine", []))
    result = publish_release.fn(str(tmp_path / "output"), str(workdir), corpus_hash(raw, files),
                                str(raw))
    page = (result.path / REPORT_FILE).read_text(encoding="utf-8")
    assert page.count('<mark class="hl"') == result.rows["metrics"] > 0
    assert REPORT_FILE in read_manifest(tmp_path / "output", result.version)["files"]


def test_report_command_prints_the_release_report_or_writes_one_outside(seed, tmp_path, capsys,
                                                                        monkeypatch):
    output, raw, folder = seed
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    assert main(["report", "--output", str(output), "--raw", str(raw), "--open"]) == 0
    assert capsys.readouterr().out.strip() == str(folder / REPORT_FILE)
    assert opened == [(folder / REPORT_FILE).resolve().as_uri()]

    parent = read_manifest(output, folder.name)["parent"]
    (output / "releases" / parent / REPORT_FILE).unlink()  # as if published before reports
    before = sorted(p.name for p in (output / "releases" / parent).iterdir())
    path = report_for(output, parent, raw)
    assert path == output / "reports" / f"{parent}.html" and path.is_file()
    assert sorted(p.name for p in (output / "releases" / parent).iterdir()) == before
    assert main(["report", parent, "--output", str(output), "--raw", str(raw)]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert main(["report", "9.9.9", "--output", str(output)]) == 2
    assert "not found" in capsys.readouterr().err


# --- the page in a browser --------------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


class DevTools:
    """A minimal Chrome DevTools Protocol client: commands by id, events kept in arrival order."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=20)
        self.last_id = 0
        self.events: list[dict] = []

    def send(self, method: str, timeout: float = 30, **params) -> dict:
        self.last_id += 1
        ident = self.last_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01))))

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[dict]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if (method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert")
                    or method == "Runtime.exceptionThrown"
                    or method == "Log.entryAdded" and params["entry"].get("level") == "error"):
                found.append(event)
        return found

    def close(self) -> None:
        self.ws.close()


def _launch(binary: str, profile: Path) -> tuple[subprocess.Popen, str]:
    """Start a headless browser on a free port; return it and its first page's socket URL."""
    process = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--no-default-browser-check", "--window-size=1280,900",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"the browser did not start (exit code {process.poll()})")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    while True:
        targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return process, pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            _stop(process)
            pytest.fail("the browser opened no page")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def page(seed, tmp_path_factory):
    """The seed release's report loaded in a headless browser, with its console recorded."""
    pytest.importorskip("websockets", reason="the browser tests drive the page with websockets")
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH: browser tests skipped")
    output, raw, folder = seed
    process, url = _launch(binary, tmp_path_factory.mktemp("profile"))
    tools = None
    try:
        tools = DevTools(url)
        for domain in ("Page", "Runtime", "Log"):
            tools.send(f"{domain}.enable")
        tools.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                   deviceScaleFactor=1, mobile=False)
        tools.send("Page.navigate", url=(folder / REPORT_FILE).resolve().as_uri())
        tools.wait_for("Page.loadEventFired")
        tools.drain(0.5)
        yield tools, folder
    finally:
        if tools is not None:
            tools.close()
        _stop(process)


def test_page_loads_without_errors_with_one_highlight_per_metric(page):
    tools, folder = page
    assert tools.errors() == []
    assert tools.evaluate("document.querySelectorAll('mark.hl').length") == len(_rows(folder, "metrics"))
    assert tools.evaluate("document.querySelectorAll('#metrics-table tbody tr').length") == len(
        _rows(folder, "metrics"))
    assert tools.evaluate("document.querySelectorAll('#changes-table tbody tr').length") == len(
        _rows(folder, "changes"))


def _click(tools: DevTools, selector: str) -> None:
    """A real mouse click in the middle of the element, after scrolling it into view."""
    x, y = tools.evaluate(
        f"(() => {{ const n = document.querySelector({json.dumps(selector)});"
        " n.scrollIntoView({block: 'center'}); const b = n.getBoundingClientRect();"
        " return [b.left + Math.min(b.width / 2, 40), b.top + b.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        tools.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def test_clicking_a_row_brings_its_highlight_into_view_and_marks_it(page):
    tools, folder = page
    n = len(_rows(folder, "metrics"))
    for index in (0, n // 2, n - 1):
        _click(tools, f'#metrics-table tbody tr[data-m="{index}"] td:nth-child(3)')
        state = tools.evaluate(
            f"(() => {{ const m = document.getElementById('m-{index}');"
            " const b = m.getBoundingClientRect();"
            " return {top: b.top, bottom: b.bottom, left: b.left, right: b.right,"
            " height: innerHeight, width: innerWidth, marked: m.classList.contains('marked'),"
            " marks: document.querySelectorAll('mark.hl.marked').length,"
            " info: document.getElementById('info').hidden ? '' : document.getElementById('info').textContent}; })()")
        assert state["marked"] and state["marks"] == 1, state
        assert 0 <= state["top"] and state["bottom"] <= state["height"], state
        assert 0 <= state["left"] and state["right"] <= state["width"], state
        quote = tools.evaluate(f"document.getElementById('m-{index}').textContent")
        assert quote and quote in state["info"]
    assert tools.errors() == []


def test_filters_and_search_narrow_the_table(page):
    tools, folder = page
    metrics = _rows(folder, "metrics")
    kind = sorted({m["quantity_kind"] for m in metrics})[0]
    shown = tools.evaluate(
        f"(() => {{ const s = document.getElementById('f-kind'); s.value = {json.dumps(kind)};"
        " s.dispatchEvent(new Event('input')); const n = document.querySelectorAll("
        "'#metrics-table tbody tr').length; s.value = ''; s.dispatchEvent(new Event('input'));"
        " return n; })()")
    assert shown == sum(m["quantity_kind"] == kind for m in metrics)
    quote = metrics[0]["quote"]
    shown = tools.evaluate(
        f"(() => {{ const s = document.getElementById('search'); s.value = {json.dumps(quote)};"
        " s.dispatchEvent(new Event('input')); const n = document.querySelectorAll("
        "'#metrics-table tbody tr').length; s.value = ''; s.dispatchEvent(new Event('input'));"
        " return n; })()")
    assert 1 <= shown <= len(metrics)


def test_screenshot_is_a_png(page, tmp_path):
    tools, _ = page
    tools.evaluate("window.scrollTo(0, document.getElementById('documents').offsetTop)")
    shot = base64.b64decode(tools.send("Page.captureScreenshot", format="png")["data"])
    target = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "report.png")
    target.write_bytes(shot)
    assert target.stat().st_size > 1000 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
