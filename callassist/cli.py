"""Command line: `callassist analyze CALL`, `import`, `library`, `report`, `listen`, `devices`,
`download-model`.

Errors the user can fix are printed as one line (`callassist: error: …`) with exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import CallAssistError


def _engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech and mood models")
    g.add_argument("--engine", choices=["auto", "vosk", "whisper"], default=None,
                   help="speech engine (default: Vosk if a model is found, else bundled Whisper)")
    g.add_argument("--vosk-model", metavar="DIR", help="Vosk model folder")
    g.add_argument("--whisper-model", metavar="DIR", help="CTranslate2 Whisper model folder "
                   "(default: the bundled tiny.en)")
    g.add_argument("--mood-model", metavar="DIR", help="mood model folder (default: models/mood)")
    g.add_argument("--config", metavar="FILE", help="config file (default: ~/.config/callassist/config.toml)")
    g.add_argument("--knowledge", metavar="DIR", help="knowledge-base folder of Markdown articles "
                   "(default: content/knowledge)")
    g.add_argument("--phrases", metavar="FILE", help="phrase library (default: content/phrases.yaml)")
    g.add_argument("--wrapup-codes", metavar="FILE", help="wrap-up codes a call can end with "
                   "(default: content/wrapup_codes.yaml)")


LIBRARY_HELP = ("call library file (default: ~/.local/share/callassist/calls.sqlite3), or a "
                "team's shared library postgresql://USER@HOST:PORT/DATABASE (password in "
                "~/.pgpass)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="callassist", description="Offline call assistant.")
    ap.add_argument("--version", action="version", version=f"callassist {__version__}")
    ap.add_argument("--play", metavar="CALL", help="open the side panel and play a recorded call "
                    "through it in real time")
    ap.add_argument("--speed", type=float, default=1.0, help="pace of --play (2 = twice as fast)")
    ap.add_argument("--mute", action="store_true", help="with --play: do not play the call out loud")
    sub = ap.add_subparsers(dest="command")

    a = sub.add_parser("analyze", help="analyse a recorded call and write its timeline")
    a.add_argument("call", help="recording (WAV/FLAC/OGG; stereo = one speaker per channel)")
    a.add_argument("--json", metavar="OUT", help="write the timeline as JSON to OUT ('-' = stdout)")
    a.add_argument("--channels", metavar="NAMES",
                   help="speaker of each channel, e.g. agent,customer (default for stereo); "
                        "a mono recording's voices are told apart unless this names its speaker")
    a.add_argument("--mono", choices=("separate", "customer", "agent"),
                   help="a mono recording: tell the voices apart (default) or read all of it as "
                        "one speaker's")
    a.add_argument("--realtime", action="store_true", help="pace the audio as if live")
    a.add_argument("--quiet", action="store_true", help="print no transcript")
    a.add_argument("--unredacted", action="store_true", help="print and write the transcript "
                   "with personal data (card and phone numbers, e-mails...) left in; by default "
                   "it is redacted, as the library stores it")
    a.add_argument("--save", action="store_true", help="also store the call in the call library "
                   "(personal data redacted, moments flagged)")
    a.add_argument("--library", metavar="LIBRARY", help="call library for --save: "
                   + LIBRARY_HELP)
    a.add_argument("--agent", metavar="NAME", help="with --save: the agent on the call")
    _engine_options(a)

    im = sub.add_parser("import", help="analyse recordings into the call library (several at once)")
    im.add_argument("paths", nargs="+", metavar="PATH", help="recordings or folders of recordings")
    im.add_argument("--jobs", type=int, help="recordings analysed at once (default: 2); with "
                    "--ray on a local cluster, its workers")
    im.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="spread the analysis over a Ray cluster: the one at ADDRESS "
                    "(HEAD:6379), or a local one (127.0.0.1 only) when none is given; each "
                    "worker loads the models once and writes into the library")
    im.add_argument("--channels", metavar="NAMES", help="speaker of each channel (default: agent,customer)")
    im.add_argument("--mono", choices=("separate", "customer", "agent"),
                    help="mono recordings: tell the voices apart (default) or one speaker's")
    im.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    im.add_argument("--agent", metavar="NAME", help="the agent who took these calls")
    _engine_options(im)

    lib = sub.add_parser("library", help="open the QA / coach window on the call library")
    lib.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    lib.add_argument("--config", metavar="FILE", help="config file")
    lib.add_argument("--call", metavar="ID", help="open this call in the replay view")

    rp = sub.add_parser("report", help="export a stored call as an HTML or PDF report, or the "
                        "library as CSV")
    rp.add_argument("call", nargs="?", help="call id (see `callassist report --list`)")
    rp.add_argument("--html", metavar="OUT", help="write a self-contained HTML report")
    rp.add_argument("--pdf", metavar="OUT", help="write a PDF report")
    rp.add_argument("--audio", metavar="OUT", help="write the call's recording with personal data "
                    "bleeped (WAV)")
    rp.add_argument("--csv", metavar="OUT", help="write the whole library as CSV")
    rp.add_argument("--list", action="store_true", help="list the calls in the library")
    rp.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    rp.add_argument("--config", metavar="FILE", help="config file")

    vp = sub.add_parser("voices", help="list or delete the agents' voice profiles (learnt from "
                        "stereo calls, used only to tell the agent apart on mono calls)")
    vp.add_argument("--delete", metavar="AGENT", help="forget this agent's voice profile")
    vp.add_argument("--delete-all", action="store_true", help="forget every voice profile")
    vp.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    vp.add_argument("--config", metavar="FILE", help="config file")

    bd = sub.add_parser("board", help="the supervisor's board: every desk's live calls with the "
                        "caller's mood, alerts and escalation advice; click one to follow it")
    bd.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    bd.add_argument("--config", metavar="FILE", help="config file")

    tm = sub.add_parser("team", help="a team's shared PostgreSQL library: who may use it and "
                        "what each sees (agents their own calls; coaches and QA all)")
    tm.add_argument("action", choices=("add", "list", "remove"))
    tm.add_argument("login", nargs="?", help="the person's PostgreSQL login (add, remove)")
    tm.add_argument("--role", choices=("agent", "coach", "qa"), default="agent",
                    help="add: what they may see (default: agent)")
    tm.add_argument("--password-file", metavar="FILE", help="add: read the new login's password "
                    "from this file ('-': standard input) instead of asking for it")
    tm.add_argument("--library", metavar="LIBRARY", help=LIBRARY_HELP)
    tm.add_argument("--config", metavar="FILE", help="config file")

    li = sub.add_parser("listen", help="transcribe a live call from input devices")
    li.add_argument("--input", metavar="DEV", help="caller's audio: a source name or description "
                    "from `callassist devices` (e.g. the monitor of the softphone's output)")
    li.add_argument("--agent-input", metavar="DEV", help="your microphone (optional second input, "
                    "named the same way)")
    li.add_argument("--both-speakers", action="store_true", help="--input hears both you and "
                    "the caller (a speakerphone, a mixed feed): tell the voices apart as the call "
                    "goes (config: single_input = \"both\")")
    li.add_argument("--agent", metavar="NAME", help="you: your voice profile in the call library "
                    "tells your voice apart with --both-speakers")
    li.add_argument("--seconds", type=float, help="stop after this many seconds (default: Ctrl-C)")
    li.add_argument("--json", metavar="OUT", help="write the timeline as JSON to OUT when done")
    li.add_argument("--unredacted", action="store_true", help="print and write the transcript "
                    "with personal data (card and phone numbers, e-mails...) left in")
    _engine_options(li)

    sub.add_parser("devices", help="list audio inputs (PulseAudio/PipeWire sources and monitors "
                   "by name and description) and the softphone choice")

    d = sub.add_parser("download-model", help="download the official small English Vosk model")
    d.add_argument("--url", help="model zip URL (default: vosk-model-small-en-us-0.15)")
    d.add_argument("--sha256", help="expected SHA-256 of the zip ('' to skip the check)")
    d.add_argument("--dest", metavar="DIR", help="folder to unpack into (default: user data folder)")
    return ap


def _config(args):
    """The settings: config.toml with the command line's options on top."""
    from .config import Config

    return Config.load(args.config, engine=args.engine, vosk_model=args.vosk_model,
                       whisper_model=args.whisper_model, mood_model=args.mood_model,
                       knowledge=args.knowledge, phrases=args.phrases,
                       wrapup_codes=getattr(args, "wrapup_codes", None),
                       channels=getattr(args, "channels", None),
                       mono=getattr(args, "mono", None))


def _models(cfg):
    """The models `cfg` names, loaded once. Why the speech engine is not the one expected (a
    broken Vosk model in the data folder: the bundled Whisper is used) is one line on stderr."""
    from .core.models import shared_models

    models = shared_models(cfg)
    for problem in getattr(models.speech, "problems", ()):
        print(f"callassist: warning: {problem}", file=sys.stderr, flush=True)
    return models


def _load(args):
    """The settings (config.toml with the command line's options on top) and the models."""
    cfg = _config(args)
    return cfg, _models(cfg)


def _check_output(out: str | None, option: str) -> None:
    """Refuse, before any work is done, an output file that could not be written at the end:
    a folder, or a file in a folder that does not exist or is not writable."""
    if not out or out == "-":
        return
    path = Path(out).expanduser()
    folder = path.parent
    if path.is_dir():
        raise CallAssistError(f"{option} {out} is a folder: give a file name in it, e.g. "
                              f"{path / ('call' + (path.suffix or '.out'))}")
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise CallAssistError(f"cannot write {option} {out}: {folder} {what}; create the folder "
                              f"or choose another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CallAssistError(f"cannot write {option} {out}: the folder {folder} is not writable "
                              f"by you; choose another file")


@contextmanager
def _ctrl_c(first, second=None):
    """While the block runs, the first Ctrl+C calls `first()` (a gentle stop: the work in hand
    ends and what was done is kept); a second one calls `second()` and raises KeyboardInterrupt
    (stop at once). Yields a list that is non-empty once Ctrl+C was pressed."""
    pressed: list[bool] = []

    def handler(signum, frame):
        if pressed:
            if second is not None:
                second()
            raise KeyboardInterrupt
        pressed.append(True)
        first()

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl+C stays as it was
        old = None
    try:
        yield pressed
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _printer(stream=sys.stdout, unredacted: bool = False):
    """The transcript on the terminal as the call goes; personal data (card and phone numbers,
    e-mail addresses...) is redacted as the library stores it, unless `unredacted`."""
    from .core.events import (CallerPoint, CallMetrics, CallScore, ChecklistItem, CoachingTip,
                         EscalationAdvice, KnowledgeMatch, MoodState, PhraseSuggestion,
                         Relabelled, RuleMatch, Status, Utterance, WrapUp)
    from .library.redact import redact_event
    pad = " " * 19

    def show(ev):
        if not unredacted:
            ev = redact_event(ev)
        if isinstance(ev, Utterance):
            print(f"[{ev.start:6.1f}-{ev.end:6.1f}] {ev.speaker:>8}: {ev.text}", file=stream)
        elif isinstance(ev, MoodState):
            print(f"{pad}mood: {ev.label} ({ev.score:+.2f}, {ev.trend})", file=stream)
        elif isinstance(ev, PhraseSuggestion):
            print(f"{pad}say: " + " | ".join(ev.phrases), file=stream)
        elif isinstance(ev, KnowledgeMatch):
            print(f"{pad}knowledge: " + "; ".join(c["title"] for c in ev.cards), file=stream)
        elif isinstance(ev, CallerPoint):
            state = f"addressed (#{ev.addressed_by})" if ev.addressed else ev.category
            print(f"{pad}point {ev.id} [{state}]: {ev.text}", file=stream)
        elif isinstance(ev, CoachingTip):
            print(f"{pad}coaching: “{ev.said}” → {ev.suggestion}", file=stream)
        elif isinstance(ev, EscalationAdvice):
            print(f"{pad}ESCALATE: {ev.reason}", file=stream)
        elif isinstance(ev, ChecklistItem):
            print(f"{pad}✓ {ev.label}", file=stream)
        elif isinstance(ev, RuleMatch) and (ev.alert or ev.category or ev.flag):
            what = ev.alert or ev.name
            tags = ", ".join(t for t in (ev.category, f"flag {ev.flag}" if ev.flag else "") if t)
            print(f"{pad}rule {ev.rule}: {what}" + (f" [{tags}]" if tags else ""), file=stream)
        elif isinstance(ev, CallMetrics):
            talk = ", ".join(f"{k} {v:.0f} s" for k, v in ev.talk_time.items())
            wpm = ", ".join(f"{k} {v:.0f}" for k, v in ev.words_per_minute.items())
            print(f"metrics: talk {talk}; talk/listen {ev.talk_listen_ratio}; non-talk "
                  f"{ev.non_talk_time:.0f} s; silences>3s {len(ev.long_silences)}; overlaps "
                  f"{len(ev.overlaps)}; words/min {wpm}", file=stream)
        elif isinstance(ev, Relabelled):  # the lines so far follow again, the roles swapped
            print(f"--- {ev.message} ---", file=stream)
        elif isinstance(ev, Status) and ev.level == "warning":  # errors end the run: said once
            print(f"warning: {ev.message}", file=stream)
        elif isinstance(ev, WrapUp):
            for line in ev.lines:
                print(f"{line['text']}  [#{', #'.join(map(str, line['utterances']))}]"
                      if line["utterances"] else line["text"], file=stream)
        elif isinstance(ev, CallScore):
            q = " ".join("  -  " if x is None else f"{x:+.1f}" for x in ev.quarters)
            print(f"call score {ev.speaker:>8}: {ev.overall:+.1f}  (quarters: {q})", file=stream)
    return show


def _shown(timeline, unredacted: bool = False):
    """The timeline as it leaves the program (JSON file or stdout): personal data redacted from
    every event, as the library stores it (library.redact), unless `unredacted`."""
    if unredacted:
        return timeline
    from .library.redact import redact_timeline
    return redact_timeline(timeline)


def _write_json(timeline, out: str | None, unredacted: bool = False) -> None:
    """The timeline as JSON to the file `out` (readable by its owner only) or stdout ('-'),
    redacted unless `unredacted` (see _shown)."""
    if not out:
        return
    timeline = _shown(timeline, unredacted)
    if out == "-":
        print(timeline.to_json())
    else:
        timeline.save(out)
        sys.stdout.flush()
        print(f"timeline written to {out}", file=sys.stderr)


def _already(store, call_id: str, title: str, path: Path, library: str | None) -> CallAssistError:
    from shlex import quote
    lib = f" --library {quote(library)}" if library else ""
    return CallAssistError(f"{path.name} is already in the call library {store.path} as call "
                           f"{call_id} ({title or path.stem}): see it with `callassist report "
                           f"{call_id} --html REPORT.html{lib}`, or analyse it without --save")


def _library_for(cfg, args, source):
    """The call library for `analyze --save`, opened (or made) and asked whether it holds this
    recording already (its content key), all before the analysis. Returns (library, key)."""
    from .audio.provenance import content_key

    path = Path(args.call).resolve()
    store = cfg.open_store(args.library)
    try:
        try:
            key = content_key(path)
        except OSError as exc:
            raise CallAssistError(f"cannot read {path.name} ({exc.strerror}): check the file") from None
        found = store.find_recording(path, key, source.duration)
        if found is not None:
            raise _already(store, *found, path, args.library)
    except BaseException:
        store.close()
        raise
    return store, key


def cmd_analyze(args) -> int:
    from .audio.separated import open_recording
    from .audio.sources import FileSource

    _check_output(args.json, "--json")  # said at once, not after the analysis
    source = FileSource(args.call, channels=args.channels, realtime=args.realtime)
    cfg = _config(args)
    if args.channels is None and cfg.channels and source.info.channels > 1:
        source = FileSource(args.call, channels=cfg.channels, realtime=args.realtime)
    elif source.info.channels == 1:
        source = open_recording(args.call, args.channels, mono=cfg.mono, realtime=args.realtime)
    store = key = None
    if args.save:  # a library that cannot be used, or holds this call, is said before the analysis
        store, key = _library_for(cfg, args, source)
        if hasattr(source, "profile") and cfg.voice_profiles:  # a mono call of a known agent
            source.profile = store.voice_profile(args.agent)
    try:
        return _analyze(args, cfg, source, store, key)
    finally:
        if store is not None:
            store.close()


def _analyze(args, cfg, source, store, key) -> int:
    """Run the call; with a library, store it as it goes (as the panel stores a live call), so
    a crash loses only the last second or so and Ctrl+C keeps everything analysed so far."""
    from .library.store import AlreadyStored

    models = _models(cfg)
    pipe = models.session(cfg, partials=args.realtime)
    to_stdout = args.json == "-"
    if not args.quiet:
        pipe.subscribe(_printer(sys.stderr if to_stdout else sys.stdout, args.unredacted))
    path = Path(args.call).resolve()
    call = pipe.new_call(str(args.call), source.speakers)
    call_id = None
    if store is not None:
        from .audio.provenance import recorded_at
        try:  # listed by when the call happened; keyed, so the same audio is stored once
            call_id = store.start_call({**call, "started": recorded_at(path)}, audio_path=path,
                                       title=path.stem, agent=args.agent, content_key=key)
        except AlreadyStored as exc:  # stored by another process since the check
            raise _already(store, exc.call_id, exc.title, path, args.library) from None
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=round(source.duration, 1), unit="s", desc=Path(args.call).name,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]",
                   leave=False)
    reached = [0.0]  # seconds of audio analysed

    def progress(t):
        reached[0] = t
        if bar is not None:
            bar.update(round(t, 1) - bar.n)

    timeline, error, status, kept = None, None, "failed", None  # "failed" until it ends well
    try:
        if call_id is not None:
            pipe.subscribe(store.recorder(call_id))  # each event saved as it comes
        with _ctrl_c(pipe.stop) as pressed:  # Ctrl+C: stop with what was analysed
            try:
                timeline = pipe.run(source, realtime=args.realtime, on_progress=progress,
                                    call=call)
                status = "done"
            except CallAssistError as exc:  # damaged part-way: what came before is kept
                error, timeline = exc, getattr(exc, "timeline", None)
        if pressed:
            status = "interrupted"
    except KeyboardInterrupt as exc:  # a second Ctrl+C: stopped at once, still kept
        status, timeline = "interrupted", getattr(exc, "timeline", None)
    finally:
        if bar is not None:
            bar.close()
        if call_id is not None:
            duration = (reached[0] if timeline is None
                        else timeline.call.get("duration", reached[0]))
            kept = store.finish_call(call_id, duration, status=status, timeline=timeline)
            if kept and status == "done" and cfg.voice_profiles and source.info.channels > 1:
                store.learn_voice(args.agent, path, cfg.channels if args.channels is None
                                  else args.channels)  # the agent's voice, for mono calls
    said = len(timeline.utterances) if timeline is not None else 0
    if status == "done":
        _write_json(timeline, args.json, args.unredacted)
    elif timeline is not None and said and args.json and not to_stdout:
        _shown(timeline, args.unredacted).save(args.json)  # the part analysed, as far as it went
    where = []
    if kept:
        where.append(f"in the call library {store.path} as call {call_id}" +
                     ("" if status == "done" else f" (marked {status})"))
    if status != "done" and said and args.json and not to_stdout:
        where.append(f"in {args.json}")
    if error is not None:
        raise CallAssistError(f"{error}" + (f"; kept {' and '.join(where)}" if where else "")) \
            from None
    if status == "interrupted":
        if where:
            what = f"kept {said} utterance{'' if said == 1 else 's'} {' and '.join(where)}"
        elif not said:
            what = "nothing was said before that: nothing kept"
        else:
            what = "nothing kept (add --save or --json OUT to keep a partial analysis)"
        sys.stdout.flush()
        print(f"callassist: interrupted after {reached[0]:.0f} s of {source.duration:.0f} s of "
              f"audio: {what}", file=sys.stderr)
        return 130
    if store is not None:
        if kept:
            rec = store.get_call(call_id)
            print(f"saved to the call library {store.path} as call {call_id} "
                  f"({len(rec.flags or [])} flagged moments)", file=sys.stderr)
        else:
            print(f"nothing was said in {path.name}: not saved to the call library",
                  file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    import threading

    from .library.importer import Importer, find_recordings

    files = find_recordings(args.paths)
    if not files:
        raise CallAssistError(f"no recordings (.wav, .flac, .ogg, .mp3…) found in "
                              f"{', '.join(args.paths)}: give recordings or folders that hold them")
    cfg = _config(args)
    if args.ray is not None:
        return _import_on_ray(args, cfg, files)
    failed = stored = 0
    t0 = time.perf_counter()
    with cfg.open_store(args.library) as store:  # a library that cannot be used: said first
        models = _models(cfg)
        importer = Importer(store, models, cfg, jobs=args.jobs or cfg.import_jobs,
                            agent=args.agent)
        drain, cancel = threading.Event(), threading.Event()

        def said(res, done, total):
            nonlocal failed, stored
            if res.error == "cancelled" and cancel.is_set():
                return  # stopped at once by a second Ctrl+C: not an error of the recording
            failed += bool(res.error) and not res.skipped
            stored += res.ok
            flagged = (f", {len(store.get_call(res.call_id).flags or [])} flagged moments"
                       if res.ok else "")
            print(_import_line(res, done, total, flagged), flush=True)

        def gently():
            drain.set()
            print("callassist: stopping after the recordings in progress are stored "
                  "(Ctrl+C again to stop at once)", file=sys.stderr, flush=True)

        def at_once():
            drain.set()
            cancel.set()

        try:
            with _ctrl_c(gently, at_once) as pressed:
                results = importer.run(files, on_result=said, drain=drain, cancel=cancel)
        except KeyboardInterrupt:  # the recordings in progress were dropped, none half-stored
            sys.stdout.flush()
            print(f"callassist: interrupted: {stored} of {len(files)} recordings imported into "
                  f"{store.path}; run the same command again to import the rest (those "
                  f"already stored are skipped)", file=sys.stderr)
            return 130
    audio = sum(r.duration for r in results if r.ok)
    wall = time.perf_counter() - t0
    n_ok = sum(r.ok for r in results)
    if pressed:
        left = len(files) - len(results)
        print(f"callassist: interrupted: imported {n_ok} of {len(files)} recordings into "
              f"{store.path}; {left} not started: run the same command again to import them "
              f"(those already stored are skipped)", file=sys.stderr)
        return 130
    print(f"imported {n_ok} of {len(results)} recordings ({audio / 60:.1f} min of audio) into "
          f"{store.path} in {wall:.0f} s", file=sys.stderr)
    return 1 if failed else 0


def _import_line(res, done: int, total: int, more: str = "") -> str:
    """The progress line of one recording imported (locally or on Ray)."""
    if res.skipped:
        what = res.skip_reason
    elif res.error:
        what = f"error: {res.error}" + (" (partly saved)" if res.call_id else "")
    else:
        what = f"{res.duration:.0f} s in {res.seconds:.1f} s{more}"
    return f"[{done}/{total}] {res.path.name}: {what}"


def _import_on_ray(args, cfg, files) -> int:
    """`import --ray [ADDRESS]`: the same import, the analysis on a Ray cluster's workers."""
    from .library import rayimport
    from .library.store import default_db

    library = args.library or cfg.library_path() or default_db()
    t0 = time.perf_counter()
    counts = {"failed": 0}

    def said(res, done, total):
        counts["failed"] += bool(res.error) and not res.skipped
        print(_import_line(res, done, total), flush=True)

    where = f"the Ray cluster at {args.ray}" if args.ray else "a local Ray cluster"
    print(f"callassist: analysing {len(files)} recordings on {where} "
          f"(each worker loads the models first)", file=sys.stderr, flush=True)
    results = rayimport.run(files, library, cfg, address=args.ray or None,
                            workers=args.jobs or cfg.import_jobs, agent=args.agent,
                            on_result=said)
    audio = sum(r.duration for r in results if r.ok)
    wall = time.perf_counter() - t0
    print(f"imported {sum(r.ok for r in results)} of {len(results)} recordings "
          f"({audio / 60:.1f} min of audio) into {library} in {wall:.0f} s", file=sys.stderr)
    return 1 if counts["failed"] else 0


def cmd_library(args) -> int:
    _need_screen("the library window")
    from .gui.app import run_library
    return run_library(args.library, args.config, args.call)


def cmd_board(args) -> int:
    from .gui.board import run_board
    return run_board(args.library, args.config)


def cmd_report(args) -> int:
    from .config import Config
    from .library import report

    cfg = Config.load(args.config)
    for option in ("html", "pdf", "csv", "audio"):  # said before anything is read or written
        _check_output(getattr(args, option), f"--{option}")
    with cfg.open_store(args.library, create=False) as store:  # none there: said, none made
        if args.list or not (args.html or args.pdf or args.csv or args.audio):
            for rec in store.list_calls():
                print(f"{rec.id}  {rec.started[:16]}  {rec.duration:6.0f} s  "
                      f"{len(rec.flags or [])} flags  {rec.title}")
            return 0
        if args.csv:
            store.write_csv(store.list_calls(), args.csv)  # with the QA scores
            print(f"library written to {args.csv}", file=sys.stderr)
        if args.html or args.pdf or args.audio:
            if not args.call:
                raise CallAssistError("which call? give its id (see `callassist report --list`)")
            data = report.ReportData.from_store(store, args.call)
            if args.html:
                report.write_html(data, args.html)
                print(f"report written to {args.html}", file=sys.stderr)
            if args.pdf:
                from .gui.pdf import write_pdf
                write_pdf(data, args.pdf)
                print(f"report written to {args.pdf}", file=sys.stderr)
            if args.audio:
                from .library.redact.audio import write_redacted_audio
                if not data.record.audio_path:
                    raise CallAssistError(f"call {args.call} has no recording in the library")
                n = write_redacted_audio(data.record.audio_path, data.timeline, args.audio)
                print(f"recording written to {args.audio} ({n} stretches of personal data "
                      f"bleeped)", file=sys.stderr)
    return 0


def cmd_voices(args) -> int:
    from .config import Config

    cfg = Config.load(args.config)
    with cfg.open_store(args.library, create=False) as store:
        if args.delete or args.delete_all:
            n = store.delete_voice_profile(None if args.delete_all else args.delete)
            if args.delete and not n:
                raise CallAssistError(f"no voice profile of {args.delete!r}: see "
                                      f"`callassist voices` for the agents that have one")
            print(f"{n} voice profile{'s' * (n != 1)} deleted", file=sys.stderr)
            return 0
        profiles = store.voice_profiles()
        for agent, seconds, calls, updated in profiles:
            print(f"{agent}  {calls} call{'s' * (calls != 1)}, {seconds / 60:.1f} min of speech, "
                  f"updated {updated[:16]}")
        if not profiles:
            state = "on" if cfg.voice_profiles else "off (voice_profiles = false)"
            print(f"no voice profiles yet: they are learnt from stereo calls imported or saved "
                  f"with --agent NAME (learning is {state})", file=sys.stderr)
    return 0


def _new_password(args) -> str | None:
    """The new login's password: from --password-file, or asked twice on the terminal."""
    import getpass
    if args.password_file:
        try:
            text = sys.stdin.read() if args.password_file == "-" else \
                Path(args.password_file).read_text()
        except OSError as exc:
            raise CallAssistError(f"cannot read {args.password_file} ({exc.strerror})") from None
        password = text.splitlines()[0] if text.strip() else ""
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.login} (empty: keep theirs): ")
        if password and getpass.getpass("again: ") != password:
            raise CallAssistError("the two passwords differ: run the command again")
    else:
        raise CallAssistError("give the new login's password with --password-file FILE "
                              "(or '-' for standard input)")
    if password and len(password) < 12:
        raise CallAssistError("a password of at least 12 characters, please")
    return password or None


def cmd_team(args) -> int:
    from .config import Config
    from .library import team

    cfg = Config.load(args.config)
    if args.action != "list" and not args.login:
        raise CallAssistError(f"`callassist team {args.action}` needs a LOGIN")
    with cfg.open_store(args.library, create=False) as library:
        store = library.store
        team._check(store)
        if args.action == "add":
            team.check_login(args.login)
            made = team.add_member(store, args.login, args.role, _new_password(args))
            print(f"{args.login}: {args.role}" + (" (new login)" if made else "") +
                  f"; they put their password in ~/.pgpass as "
                  f"HOST:PORT:DATABASE:{args.login}:PASSWORD (mode 0600)", file=sys.stderr)
        elif args.action == "remove":
            team.remove_member(store, args.login)
            print(f"{args.login} may no longer use this library", file=sys.stderr)
        else:
            rows = team.members(store)
            for login, role, added in rows:
                print(f"{login}  {role}  (since {added[:10]})")
            if not rows:
                print("nobody yet: `callassist team add LOGIN --role agent|coach|qa`",
                      file=sys.stderr)
    return 0


def cmd_listen(args) -> int:
    from .audio.sources import MicSource
    from .core.events import AGENT, CUSTOMER

    _check_output(args.json, "--json")
    inputs = {CUSTOMER: args.input}
    if args.agent_input is not None:
        inputs[AGENT] = args.agent_input
    source = MicSource(inputs)
    cfg, models = _load(args)
    if args.agent_input is None and (args.both_speakers or cfg.single_input == "both"):
        from .audio.separated import LiveSeparatedSource
        profile = None
        if args.agent and cfg.voice_profiles:
            try:
                with cfg.open_store(None, create=False) as store:
                    profile = store.voice_profile(args.agent)
            except CallAssistError:
                profile = None  # no library yet: no profile
        source = LiveSeparatedSource(source, profile=profile)
    source.on_lost = lambda speaker, message: print(f"callassist: warning: {message}",
                                                    file=sys.stderr)
    pipe = models.session(cfg, partials=False)
    source.open()
    pipe.subscribe(_printer(unredacted=args.unredacted))
    signal.signal(signal.SIGINT, lambda *a: source.stop())
    signal.signal(signal.SIGTERM, lambda *a: source.stop())
    if args.seconds:
        import threading
        threading.Timer(args.seconds, source.stop).start()
    print("listening… (Ctrl-C to stop)", file=sys.stderr)
    timeline = pipe.run(source, realtime=True, source_name="live")
    _write_json(timeline, args.json, args.unredacted)
    return 0


def cmd_devices(args) -> int:
    from .audio.devices import MONITOR, list_devices

    listed = list_devices()
    if not listed.devices:
        print(listed.error or "no input devices found", file=sys.stderr)
        return 1
    width = max(len(d.name) for d in listed.devices)
    for d in listed.devices:
        kind = f"monitor of {d.monitor_of or 'an output'}" if d.kind == MONITOR else "microphone"
        print(f"{d.name:<{width}}  {d.description}  [{kind}{', default' if d.default else ''}]")
    if listed.caller:
        from shlex import quote  # a command to paste: device names are quoted
        agent = f" --agent-input {quote(listed.agent)}" if listed.agent else ""
        print(f"\nsoftphone: --input {quote(listed.caller)}{agent}  ({listed.reason})")
    return 0


def cmd_download(args) -> int:
    from .asr.vosk_models import SMALL_EN_SHA256, SMALL_EN_URL, download_model

    url = args.url or SMALL_EN_URL
    sha = args.sha256 if args.sha256 is not None else (SMALL_EN_SHA256 if url == SMALL_EN_URL else None)
    path = download_model(url, sha or None, Path(args.dest) if args.dest else None,
                          progress=sys.stderr.isatty())
    print(f"Vosk model ready: {path}")
    return 0


def _need_screen(what: str) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or os.environ.get("QT_QPA_PLATFORM")):
        raise CallAssistError(f"no screen to show {what} on: run it in a desktop session, "
                              f"or analyse a call in the terminal with `callassist analyze CALL`")


def cmd_gui(args) -> int:
    _need_screen("the side panel")
    from .config import Config
    config = Config.load()  # a broken config.toml is one line here, before any window opens
    if args.play:
        from .audio.sources import probe
        probe(args.play)  # a bad file is a one-line error before any window opens
    try:
        from .gui.app import run
    except ImportError as exc:
        raise CallAssistError(f"the side panel needs PySide6 ({exc}): run scripts/setup.sh") from None
    return run(args.play, args.speed, playback=not args.mute, config=config)


def main(argv: list[str] | None = None) -> int:
    # (telemetry and model hubs are off from `import callassist` on: see callassist/__init__.py)
    if argv is None:  # the program itself: what any library writes for us (SQLite's -wal and
        os.umask(0o077)  # -shm, Qt's files) is owner-only too; our own files are 0600 anyway
    parser = build_parser()
    args = parser.parse_args(argv)
    from .logs import setup_logging
    setup_logging()
    commands = {"analyze": cmd_analyze, "listen": cmd_listen, "devices": cmd_devices,
                "download-model": cmd_download, "import": cmd_import, "library": cmd_library,
                "report": cmd_report, "voices": cmd_voices, "team": cmd_team,
                "board": cmd_board}
    handler = commands[args.command] if args.command else cmd_gui
    try:
        code = handler(args)
    except CallAssistError as exc:
        logging.getLogger("callassist").warning("%s: %s", args.command or "panel", exc)
        one_line = " ".join(str(exc).splitlines())  # a name from a file may hold a line break
        print(f"callassist: error: {one_line}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("callassist: interrupted", file=sys.stderr)
        code = 130
    if argv is None and args.command not in _WINDOWS:
        _exit(code)
    return code


# commands that open a window end the usual way: Qt's objects are taken down in order
_WINDOWS = {None, "library", "board"}


def _exit(code: int | None) -> None:
    """End the program without the interpreter's teardown: freeing torch's and transformers'
    thousands of module objects one by one takes 1-1.5 s after the work is done (measured by
    scripts/bench_cli.py). Everything a normal exit does that matters still happens, in
    its order: other threads that are not daemons are waited for, the atexit handlers run
    (logging's flush, models' loads in flight), the output streams are flushed."""
    import atexit
    import threading
    # what the interpreter runs first: thread pools told to stop, threads that are not daemons
    # waited for (then the atexit handlers, as it does)
    try:
        threading._shutdown()
    except KeyboardInterrupt:  # Ctrl+C while a thread finishes: it ends now, as it asked
        os._exit(130)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a closed pipe (`| head`): nothing more can be said
            pass
    os._exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
