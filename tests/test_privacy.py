"""Private by default (issue 13, items 1 and 5): every file CallAssist writes is its owner's only,
what leaves the program is redacted unless asked otherwise, nothing opens a network socket, and a
command suggested in a message runs nothing but itself. Real subprocesses, real files, real models,
the real network system calls (strace)."""
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli, write_wav

# two utterances (a pause between) of the sentences tests/test_redact.py checks Whisper on
SAID = ("Sure, the card number is four five three two, seven seven one two, three four five six, "
        "nine eight seven six.", "My email is mary.jones@example.com.")
CARD = "4532 7712 3456 9876"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def fresh_home(root: Path) -> dict:
    """Empty data, config and cache folders, as on a machine that never ran CallAssist."""
    root.mkdir(parents=True, exist_ok=True)
    return {"XDG_DATA_HOME": str(root / "data"), "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_CACHE_HOME": str(root / "cache"), "QT_QPA_PLATFORM": "offscreen"}


def callassist_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("callassist")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "callassist.cli"]


@pytest.fixture(scope="module")
def call_with_personal_data(tmp_path_factory, espeak):
    """A short mono call (the customer) that says a card number and an e-mail address."""
    gap = np.zeros(16000, np.float32)
    audio = np.concatenate([gap / 2, espeak(SAID[0], "en-us+m7", 150, 45), gap,
                            espeak(SAID[1], "en-us+m7", 150, 45), gap / 2])
    return write_wav(tmp_path_factory.mktemp("call") / "card call.wav", audio, 16000)


def spoken_texts(events: list[dict]) -> list[str]:
    """Every text field of a timeline that can hold what was said (library.redact's list)."""
    fields = {"utterance": ("text",), "partial": ("text",), "point": ("text",),
              "knowledge": ("query",), "coaching": ("said",), "checklist": ("evidence",),
              "mood": ("reason",), "escalation": ("reason",), "phrases": ("reason",)}
    out = []
    for e in events:
        out += [e.get(f) or "" for f in fields.get(e["type"], ())]
        out += [w["text"] for w in e.get("words") or ()]
    return out


def personal(texts) -> list[str]:
    """What in `texts` is plainly personal data: runs of 3 or more digits, the e-mail's name. (On
    the terminal, the figures of the metrics line are not.)"""
    text = " ".join(line for t in texts for line in t.splitlines() if not line.startswith("metrics:"))
    return re.findall(r"\d{3,}|jones|@", text, re.I)


# ---- no network: strace, or an audit hook where ptrace is not allowed ----------------------------

_AUDIT_HOOK = '''
import os, sys
def _callassist_net_hook(event, args, _log=os.environ["CALLASSIST_NET_LOG"]):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        family = getattr(args[0], "family", "?")
        family = getattr(family, "name", family)
        with open(_log, "a") as f:
            f.write(f"{os.getpid()} {event.split('.')[1]}({family}, {args[1:]!r})\\n")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        with open(_log, "a") as f:
            f.write(f"{os.getpid()} {event} {args!r} htons(53)\\n")
sys.addaudithook(_callassist_net_hook)
'''


def _strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    r = subprocess.run(["strace", "-f", "-e", "trace=network", "-o", os.devnull, "true"],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0


def traced(cmd: list[str], log: Path, env: dict) -> tuple[list[str], dict]:
    """`cmd` wrapped so that its network system calls (all processes and threads) go to `log`:
    strace -f -e trace=network, or, where ptrace is denied, a Python audit hook (which sees
    Python's sockets only, not those of native libraries)."""
    if _strace_works():
        return (["strace", "-f", "--seccomp-bpf", "-e", "trace=network", "-o", str(log), "--"]
                + cmd), env
    site = log.parent / "audit-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_AUDIT_HOOK)
    path = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    return cmd, {**env, "PYTHONPATH": path, "CALLASSIST_NET_LOG": str(log)}


NETWORK_SEND = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg|bind)\(.*\bAF_INET6?\b")


def network_use(log: Path) -> list[str]:
    """The lines of the log that reach beyond the machine: a connect / send / bind on an internet
    socket, or a DNS lookup (port 53). Local sockets (AF_UNIX: the sound server, nscd; AF_NETLINK)
    are allowed."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [line for line in text.splitlines() if NETWORK_SEND.search(line) or "htons(53)" in line]


@pytest.fixture(scope="module")
def traced_analyze(tmp_path_factory, call_with_personal_data):
    """`callassist analyze CALL --json OUT` on a first run (empty data, config and cache folders),
    under strace; OUT exists already, world-readable, from an earlier run."""
    work = tmp_path_factory.mktemp("traced")
    env = {**os.environ, **fresh_home(work / "home")}
    out = work / "timeline.json"
    out.write_text("{}")
    out.chmod(0o644)
    log = work / "network.log"
    cmd, env = traced(callassist_cmd() + ["analyze", str(call_with_personal_data), "--json",
                                          str(out)], log, env)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=str(work))
    print(f"traced analyze: {time.monotonic() - t0:.1f} s")
    assert r.returncode == 0, r.stderr[-3000:]
    return {"result": r, "out": out, "log": log, "home": work / "home"}


@pytest.mark.slow  # real models, first run (the knowledge base is embedded)
def test_analyze_opens_no_network_socket(traced_analyze):
    log = traced_analyze["log"]
    assert log.exists()
    assert network_use(log) == [], network_use(log)[:10]


@pytest.mark.slow
def test_analyze_output_and_folders_are_owner_only(traced_analyze):
    assert mode(traced_analyze["out"]) == 0o600  # it was 0644 before: replaced, not kept
    home = traced_analyze["home"]
    roots = [home / kind / "callassist" for kind in ("data", "cache")]
    assert all(r.is_dir() for r in roots)
    for root in roots:
        for p in [root, *root.rglob("*")]:
            assert mode(p) == (0o700 if p.is_dir() else 0o600), (p, oct(mode(p)))
    assert not list(traced_analyze["out"].parent.glob(".timeline.json*"))  # no temporary left


@pytest.mark.slow
def test_json_and_transcript_are_redacted_unless_asked(traced_analyze, call_with_personal_data):
    written = json.loads(traced_analyze["out"].read_text())["events"]
    printed = traced_analyze["result"].stdout
    said = " ".join(e["text"] for e in written if e["type"] == "utterance")
    assert "[card number]" in said and "[email]" in said, said
    assert personal(spoken_texts(written)) == [], spoken_texts(written)
    assert personal([printed]) == [] and "[card number]" in printed and "customer:" in printed
    raw = run_cli("analyze", str(call_with_personal_data), "--json", "-", "--unredacted")
    assert raw.returncode == 0, raw.stderr[-3000:]
    unredacted = json.loads(raw.stdout)["events"]
    raw_said = " ".join(e["text"] for e in unredacted if e["type"] == "utterance")
    assert "[card number]" not in raw_said and "[email]" not in raw_said
    assert len(personal([raw_said])) >= 2, raw_said  # the card and the address are there
    assert personal([raw.stderr]), raw.stderr  # and so on the terminal, as asked


def test_json_and_printer_redact_every_event_as_the_library_does(tmp_path, capsys):
    """cli's writers on a timeline with personal data in every kind of text field."""
    import io

    from callassist import cli
    from callassist.core.events import (CallerPoint, CoachingTip, KnowledgeMatch, MoodState,
                                        PartialUtterance, Utterance, Word)
    from callassist.core.timeline import Timeline
    from callassist.library.redact import redact_timeline
    text = f"my card number is {CARD} and my email is mary.jones@example.com"
    tl = Timeline(call={"id": "c1"}, events=[
        PartialUtterance("customer", text[:30], 0.0, 2.0),
        Utterance(1, "customer", text, 0.0, 6.0,
                  words=tuple(Word(w, i * 0.5, i * 0.5 + 0.4, 0.9) for i, w in enumerate(text.split()))),
        MoodState(6.0, "customer", -0.2, "upset", 0.5, "steady", -0.2, 1, f"upset — “{text}”"),
        CallerPoint(1, 6.0, 1, "number", f"card {CARD}"),
        KnowledgeMatch(6.0, 1, text, ()),
        CoachingTip(7.0, 1, "policy", f"read me {CARD} again", "say it positively")])
    out = tmp_path / "tl.json"
    cli._write_json(tl, str(out))
    written = json.loads(out.read_text())
    assert written == json.loads(redact_timeline(tl).to_json())  # the library's redaction
    assert personal(spoken_texts(written["events"])) == [] and mode(out) == 0o600
    cli._write_json(tl, "-")
    assert json.loads(capsys.readouterr().out) == written
    cli._write_json(tl, "-", unredacted=True)
    assert json.loads(capsys.readouterr().out) == json.loads(tl.to_json())
    for unredacted in (False, True):
        shown = io.StringIO()
        show = cli._printer(shown, unredacted=unredacted)
        for e in tl.events:
            show(e)
        assert bool(personal([shown.getvalue()])) == unredacted, shown.getvalue()
        assert "customer:" in shown.getvalue() and "point 1" in shown.getvalue()


# ---- every file and folder we write --------------------------------------------------------------

def test_private_files_and_folders_whatever_the_umask(tmp_path, monkeypatch):
    from callassist.paths import data_dir, private_dir, private_file, write_private
    old = os.umask(0)  # the widest umask: nothing below may rely on it
    try:
        target = tmp_path / "out.json"
        target.write_text("old")
        target.chmod(0o666)
        write_private(target, "new")
        assert target.read_text() == "new" and mode(target) == 0o600
        with pytest.raises(RuntimeError), private_file(target) as fh:
            fh.write(b"half")
            raise RuntimeError("killed half-way")
        assert target.read_text() == "new" and sorted(tmp_path.iterdir()) == [target]
        made = private_dir(tmp_path / "a" / "b")
        assert mode(tmp_path / "a") == mode(made) == 0o700
        mine = tmp_path / "mine"
        mine.mkdir(mode=0o755)
        private_dir(mine)  # a folder of the user's keeps its mode
        assert mode(mine) == 0o755
        ours = data_dir()
        ours.mkdir(parents=True)
        ours.chmod(0o755)  # made by an older version
        private_dir(ours / "recordings")
        assert mode(ours) == mode(ours / "recordings") == 0o700
    finally:
        os.umask(old)


def test_recordings_folder_and_recording_are_owner_only(tmp_path):
    from callassist.audio.recording import AudioRecorder
    from callassist.paths import data_dir
    folder = data_dir() / "recordings"
    with AudioRecorder(folder / "first.wav", ("customer",)) as rec:
        rec.flush()
    assert mode(data_dir()) == mode(folder) == 0o700 and mode(folder / "first.wav") == 0o600
    folder.chmod(0o755)  # loosened, and an old recording at the same name
    old = folder / "second.wav"
    old.write_bytes(b"old")
    old.chmod(0o644)
    with AudioRecorder(old, ("agent", "customer")) as rec:
        rec.flush()
    assert mode(folder) == 0o700 and mode(old) == 0o600


def test_report_exports_are_owner_only(tmp_path):
    from callassist.library.service import Library
    from tests.test_report import make_timeline
    t = np.arange(8000 * 60) / 8000
    audio = write_wav(tmp_path / "call.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
                      8000)
    db = tmp_path / "calls.sqlite3"
    with Library(db) as store:
        cid = store.save_timeline(make_timeline(), audio_path=audio, title="A call")
    outs = {kind: tmp_path / f"export.{kind}" for kind in ("html", "pdf", "csv", "wav")}
    for p in outs.values():  # earlier exports, world-readable: replaced by private files
        p.write_text("old")
        p.chmod(0o644)
    r = run_cli("report", cid, "--library", str(db), "--html", str(outs["html"]), "--pdf",
                str(outs["pdf"]), "--csv", str(outs["csv"]), "--audio", str(outs["wav"]),
                env={"QT_QPA_PLATFORM": "offscreen"}, timeout=300)
    assert r.returncode == 0, r.stderr
    for kind, p in outs.items():
        assert p.read_bytes() != b"old" and mode(p) == 0o600, (kind, oct(mode(p)))
    assert outs["pdf"].read_bytes().startswith(b"%PDF")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


# ---- the panel: a played call ----------------------------------------------------------------------

@pytest.mark.slow  # the panel loads the models and plays a call
def test_played_panel_call_opens_no_network_socket(tmp_path, call_with_personal_data):
    """`callassist --play CALL --mute` in the real side panel (offscreen) under strace, until
    the call is stored as done in the library."""
    env = {**os.environ, **fresh_home(tmp_path / "home")}
    log = tmp_path / "network.log"
    cmd, env = traced(callassist_cmd() + ["--play", str(call_with_personal_data), "--mute",
                                          "--speed", "4"], log, env)
    db = tmp_path / "home" / "data" / "callassist" / "calls.sqlite3"
    proc = subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    status = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
            status = _call_status(db)
            if status == "done":
                break
    finally:
        _end(proc)
    output = proc.stdout.read()
    assert status == "done", (status, output[-3000:])
    assert network_use(log) == [], network_use(log)[:10]
    data = db.parent
    assert mode(data) == 0o700 and mode(db) == 0o600
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in data.rglob("*"))


def _call_status(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute("SELECT status FROM calls ORDER BY started DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _end(proc: subprocess.Popen) -> None:
    """Stop the panel (and strace with it): SIGTERM to its process group, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


# ---- a command in a message runs nothing but itself ------------------------------------------------

@pytest.mark.parametrize("name", ["x'; touch PWNED; echo '.wav", "$(touch PWNED) `touch PWNED`.wav"])
def test_suggested_command_quotes_the_file_name(tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(b"\x00garbage" * 500)
    r = run_cli("analyze", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("callassist: error: "), r.stderr
    command = re.search(r"e\.g\. `(sox .*) -r 16000 call\.wav`", lines[0])
    assert command, lines[0]
    # the command as a user would paste it, `sox` swapped for printing its arguments
    run = subprocess.run(["bash", "-c", "printf '%s\\n' " + command.group(1)[len("sox "):]],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(bad)]  # one argument: the file, exactly
    assert not (tmp_path / "PWNED").exists() and not (ROOT / "PWNED").exists()
    assert shlex.split(command.group(1)) == ["sox", str(bad)]


def test_a_file_name_is_never_read_as_an_option():
    from callassist.audio.sources import shell_arg
    assert shlex.split(f"sox {shell_arg('-x.wav')}") == ["sox", "./-x.wav"]
