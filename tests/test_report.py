"""Call reports (HTML, PDF, CSV) from a real call library holding a hand-built call."""
import csv
import html
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from callassist.library import report
from callassist.errors import CallAssistError
from callassist.core.events import (AGENT, CUSTOMER, CallerPoint, CallScore, ChecklistItem, CoachingTip,
                               EscalationAdvice, MoodState, Utterance, Word)
from callassist.library.flags import KINDS
from callassist.assist.metrics import call_metrics
from callassist.library.service import Library
from callassist.core.timeline import Timeline

# The store redacts personal data (callassist.library.redact); the texts below carry none, so the report
# shows them as written.
SCRIPT_TEXT = "This is ridiculous & I'm fed up <script>alert('x')</script> with you"
LINES = [  # (speaker, start, end, text)
    (AGENT, 0.5, 4.0, "Thank you for calling Brightwave, how can I help?"),
    (CUSTOMER, 5.0, 10.0, SCRIPT_TEXT),
    (AGENT, 10.5, 14.0, "Calm down, that is our policy."),
    (CUSTOMER, 15.0, 20.0, "I want to speak to your manager right now."),
    (AGENT, 35.0, 40.0, "I have sent you a replacement, it will arrive tomorrow."),
    (CUSTOMER, 41.0, 45.0, "Okay, thanks, that helps."),
    (AGENT, 46.0, 50.0, "Is there anything else I can help you with?"),
]


def _utterance(i, speaker, start, end, text):
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(Word(t, round(start + k * step, 3), round(start + (k + 0.8) * step, 3), 0.9)
                  for k, t in enumerate(tokens))
    return Utterance(i, speaker, text, start, end, words, engine="test")


def _mood(t, score, label, uid, cues=()):
    return MoodState(t, CUSTOMER, score, label, 0.8, "steady", 0.0, uid, "test", tuple(cues))


def make_timeline(title="A call") -> Timeline:
    utts = [_utterance(i, *line) for i, line in enumerate(LINES, 1)]
    events = []
    for u in utts:
        events.append(u)
        if u.id == 2:
            events.append(_mood(u.end, -0.6, "angry", 2, [
                {"kind": "anger", "strength": 0.9, "trigger": "ridiculous",
                 "reason": "sounds fed up"}]))
        elif u.id == 3:
            events.append(CoachingTip(u.end, 3, "calm down", "Calm down",
                                      "name the feeling instead: “I can hear this is frustrating”"))
        elif u.id == 4:
            events.append(_mood(u.end, -0.8, "angry", 4))
            events.append(CallerPoint(1, u.end, 4, "request", "speak to your manager"))
            events.append(EscalationAdvice(u.end, 4, "requested",
                                           "the caller asked for a senior person (“manager”)"))
        elif u.id == 5:
            events.append(CallerPoint(1, u.end, 4, "request", "speak to your manager", True, 5))
        elif u.id == 6:
            events.append(_mood(u.end, 0.3, "calm", 6))
        elif u.id == 7:
            events.append(ChecklistItem(u.end, 7, "anything_else", "Ask if there is anything else",
                                        True, "anything else"))
    events.append(call_metrics(utts, 90.0))
    events.append(CallScore(90.0, AGENT, 1.2, (2.0, -1.0, None, 3.0)))
    events.append(CallScore(90.0, CUSTOMER, -1.5, (-4.0, -3.0, None, 2.5)))
    from callassist.assist.wrapup import summarize
    events.append(summarize(utts, events))  # the wrap-up at hang-up (the code by keywords)
    call = {"source": "calls/demo call.wav", "started": "2026-03-01T09:30:00+00:00",
            "engine": "test", "engine_description": "Test engine", "speakers": [AGENT, CUSTOMER],
            "duration": 90.0}
    return Timeline(call=call, events=events)


@pytest.fixture
def library(tmp_path):
    store = Library(tmp_path / "calls.sqlite3")
    cid = store.save_timeline(make_timeline(), audio_path=tmp_path / "demo call.wav",
                              title="Angry caller <b>&</b> replacement", agent="Sam")
    store.add_note(cid, 16.0, "Offer the manager call-back <b>earlier</b> & say sorry", "Coach Kim")
    store.add_note(cid, 37.0, "Good: concrete next step", "")
    yield store, cid
    store.close()


@pytest.fixture
def data(library):
    store, cid = library
    return report.ReportData.from_store(store, cid)


def _squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


class _TagBalance(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "circle", "rect", "line", "polyline",
            "polygon", "path"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, d):
        self.text.append(d)


def _parse(doc: str) -> _TagBalance:
    p = _TagBalance()
    p.feed(doc)
    p.close()
    return p


# ---- the data -----------------------------------------------------------------------------------

def test_report_data_from_store(data):
    assert data.record.title.startswith("Angry caller")
    assert len(data.timeline.utterances) == len(LINES)
    kinds = {f.kind for f in data.flags}
    assert {"anger", "escalation", "agent_language", "silence"} <= kinds, kinds
    assert [n["text"] for n in data.notes][1] == "Good: concrete next step"
    assert data.duration == pytest.approx(90.0)


# ---- HTML ---------------------------------------------------------------------------------------

def test_html_report_contents_escaped_and_self_contained(data):
    doc = report.html_report(data)
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    # every utterance, escaped; user text never becomes markup
    for u in data.timeline.utterances:
        assert html.escape(u.text, quote=True) in doc, u.text
    assert "<script" not in doc.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in doc
    assert "ridiculous &amp; I&#x27;m fed up" in doc
    assert "Angry caller &lt;b&gt;&amp;&lt;/b&gt; replacement" in doc  # the title
    # every flag: kind title, severity, reason
    for f in data.flags:
        assert html.escape(f.reason, quote=True) in doc, f.reason
        assert html.escape(f.title) in doc and f.severity_name in doc
    # notes, with their author
    assert "Offer the manager call-back &lt;b&gt;earlier&lt;/b&gt; &amp; say sorry" in doc
    assert "Coach Kim" in doc and "Good: concrete next step" in doc
    # header and metrics
    m = data.metrics
    for text in ("Sam", "demo call.wav", "Test engine", "1:30", "2026-03-01 09:30",
                 f"{m.talk_time[AGENT]:.0f} s", f"{m.talk_time[CUSTOMER]:.0f} s",
                 f"{m.words_per_minute[AGENT]:.0f}", f"{m.talk_listen_ratio:.2f}",
                 "Talk / listen ratio", "Non-talk time", "Long silences", "Interruptions",
                 "+1.2", "-1.5", "-0.60 (negative)", "+0.30 (positive)", "-0.80 (negative)",
                 "Ask if there is anything else", "speak to your manager"):
        assert text in doc, text
    assert ("Personal data redacted" in doc) == data.record.redacted
    # the mood curve inline, nothing loaded from anywhere
    assert doc.count("<svg") == 1
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|ftp:)""", doc, re.I)
    assert not re.search(r"@import|url\(", doc, re.I)
    # well-formed enough: every tag closed in order, tables balanced
    parsed = _parse(doc)
    assert parsed.errors == [] and parsed.stack == []
    for tag in ("table", "tr", "td", "th", "thead", "tbody", "p", "h2"):
        assert len(re.findall(f"<{tag}[ >]", doc)) == doc.count(f"</{tag}>"), tag


def test_html_report_has_the_wrap_up_with_its_moments(data):
    from callassist.core.events import WrapUp
    wrap = data.timeline.of(WrapUp)[-1]
    assert len(wrap.lines) >= 2 and any(line["utterances"] for line in wrap.lines)
    doc = report.html_report(data)
    assert f"Wrap-up: {html.escape(wrap.code_label, quote=True)}" in doc
    text = _squash(" ".join(_parse(doc).text))
    at = {u.id: u.start for u in data.timeline.utterances}
    for line in wrap.lines:  # every line, with the time of the utterance it was read from
        assert _squash(line["text"]) in text, line
        for i in line["utterances"]:
            assert report.fmt_time(at[i]) in text


def test_html_marks_flagged_and_noted_lines(data):
    doc = report.html_report(data)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", doc.split("<h2>Transcript</h2>")[1], re.S)
    marked = {i for i, r in enumerate(rows[1:], 1) if "▲" in r or "●" in r or "■N" in r}
    # line 2 (anger), 3 (agent language), 4 (escalation, note N1), 5 (note N2) carry marks
    assert {2, 3, 4, 5} <= marked
    assert "■N1" in rows[4] and "■N2" in rows[5]


def test_html_for_qt_uses_an_image_and_simple_css(data):
    doc = report.html_report(data, image_src="mood.png", image_width=640)
    assert '<img src="mood.png" width="640"' in doc
    assert "<svg" not in doc
    assert not re.search(r"display\s*:\s*(flex|grid)", doc)


def test_write_html_atomic(data, tmp_path):
    out = tmp_path / "r.html"
    report.write_html(data, out)
    text = out.read_text(encoding="utf-8")
    assert text == report.html_report(data)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---- the mood curve -----------------------------------------------------------------------------

def test_mood_svg_parses_with_one_marker_per_flag(data):
    svg = report.mood_svg(data, width=700, height=200)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("width") == "700"
    markers = [e for e in root.iter() if e.get("class") == "flag-marker"]
    assert len(markers) == len(data.flags) >= 4
    colours = {int(e.get("data-severity")): e.get("fill") for e in markers}
    assert all(colours[s] == report.SEVERITY_COLOURS[s] for s in colours)
    assert len([e for e in root.iter() if e.get("class") == "note-marker"]) == len(data.notes)
    line = next(e for e in root.iter() if e.get("class") == "mood")
    assert len(line.get("points").split()) == 3  # the caller's three mood points
    labels = [e.text for e in root.iter(f"{ns}text")]
    assert {"negative", "neutral", "positive", "0:00", "1:30"} <= set(labels)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", svg)


def test_mood_svg_of_a_call_without_moods(tmp_path):
    with Library(tmp_path / "c.sqlite3") as store:
        tl = Timeline(call={"duration": 3.0},
                      events=[_utterance(1, AGENT, 0.0, 2.0, "hello there")])
        cid = store.save_timeline(tl, title="short")
        data = report.ReportData.from_store(store, cid)
    ET.fromstring(report.mood_svg(data))
    doc = report.html_report(data)
    assert "no mood measured" in doc and "Nothing flagged" in doc and "No notes" in doc
    assert _parse(doc).errors == []


# ---- PDF ----------------------------------------------------------------------------------------

def test_pdf_report(data, tmp_path, qapp):
    from callassist.gui.pdf import write_pdf

    out = tmp_path / "report.pdf"
    write_pdf(data, out)
    assert out.read_bytes()[:5] == b"%PDF-"
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("poppler's pdftotext/pdftoppm are not installed: cannot read the PDF back")
    text = _squash(subprocess.run(["pdftotext", "-raw", str(out), "-"], capture_output=True,
                                  text=True, check=True).stdout)
    for u in data.timeline.utterances:
        assert _squash(u.text) in text, u.text
    for f in data.flags:
        assert _squash(f.title) in text
        assert _squash(f.reason)[:30] in text, f.reason
    assert "Offer the manager call-back <b>earlier</b> & say sorry" in text
    assert "page 1 of" in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(out),
                    str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    shutil.copy(page, "/tmp/report_page1.png")
    from PySide6.QtGui import QImage
    img = QImage(str(page)).convertToFormat(QImage.Format_Grayscale8)
    assert img.width() > 400 and img.height() > 600  # A4 portrait at 60 dpi
    arr = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * img.height())
    arr = arr.reshape(img.height(), img.bytesPerLine())[:, :img.width()]
    assert (arr < 200).mean() > 0.02, "the first page is (nearly) blank"


def test_pdf_to_an_unwritable_place_is_one_line(data, tmp_path, qapp):
    from callassist.gui.pdf import write_pdf

    for bad in (tmp_path / "no such folder" / "r.pdf", tmp_path):
        with pytest.raises(CallAssistError) as err:
            write_pdf(data, bad)
        assert "\n" not in str(err.value) and "cannot write" in str(err.value)


# ---- CSV ----------------------------------------------------------------------------------------

def test_csv_of_the_library(library, tmp_path):
    store, cid = library
    evil = store.save_timeline(make_timeline(), title='=HYPERLINK("http://x","click")',
                               agent="@agent")
    store.add_note(evil, 1.0, "x")
    out = tmp_path / "library.csv"
    report.write_csv(store.list_calls(), out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == report.CSV_COLUMNS
    assert all(f"flags_{k}" in rows[0] for k in KINDS)
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert sorted(r["id"] for r in body) == sorted([cid, evil])
    for r in body:
        rec = store.get_call(r["id"])
        assert int(r["flags"]) == len(rec.flags) == sum(int(r[f"flags_{k}"]) for k in KINDS)
        assert float(r["duration_s"]) == 90.0 and int(r["utterances"]) == len(LINES)
        assert r["mood_min"] == "-0.8"  # a number keeps its sign, no apostrophe
        assert r["worst_kind"] in KINDS and r["worst_severity"] == "3"
        assert float(r["worst_time"]) == round(rec.worst.time, 1)
    bad = next(r for r in body if r["id"] == evil)
    assert bad["title"] == "'" + '=HYPERLINK("http://x","click")'
    assert bad["agent"] == "'@agent"
    good = next(r for r in body if r["id"] == cid)
    assert good["title"].startswith("Angry caller") and good["agent"] == "Sam"
    assert good["audio_path"].endswith("demo call.wav")


def test_csv_formula_guard():
    assert [report._safe(v) for v in ("=1+1", "+1", "-2", "@x", "\tx", "ok", -2.5, "")] == \
        ["'=1+1", "'+1", "'-2", "'@x", "'\tx", "ok", -2.5, ""]


# ---- errors the user can cause ----------------------------------------------------------------

def test_unwritable_paths_are_one_line_errors(data, library, tmp_path):
    store, _ = library
    cases = [(tmp_path / "missing" / "r.html", "does not exist"), (tmp_path, "is a folder")]
    for path, why in cases:
        for write in (lambda p: report.write_html(data, p),
                      lambda p: report.write_csv(store.list_calls(), p)):
            with pytest.raises(CallAssistError) as err:
                write(path)
            msg = str(err.value)
            assert "\n" not in msg and why in msg and str(path) in msg
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(CallAssistError, match="permission denied"):
                report.write_html(data, locked / "r.html")
        finally:
            locked.chmod(0o700)
    assert not list(tmp_path.glob("**/*.tmp"))


# ---- the command line and the core's independence from Qt ----------------------------------

def test_cli_report(library, tmp_path, capsys, qapp):
    from callassist.cli import main

    store, cid = library
    db = str(store.path)
    assert main(["report", "--list", "--library", db]) == 0
    assert cid in capsys.readouterr().out
    html_out, pdf_out, csv_out = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "l.csv"
    assert main(["report", cid, "--html", str(html_out), "--pdf", str(pdf_out), "--csv",
                 str(csv_out), "--library", db]) == 0
    assert "<svg" in html_out.read_text(encoding="utf-8")
    assert pdf_out.read_bytes().startswith(b"%PDF")
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 2
    capsys.readouterr()
    assert main(["report", cid, "--pdf", str(tmp_path / "nope" / "r.pdf"), "--library", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("callassist: error: cannot write") and "\n" not in err


def test_report_module_imports_no_qt():
    code = ("import sys, callassist.library.report\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'pyqtgraph'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
