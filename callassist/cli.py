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
                   help="speaker of each channel, e.g. agent,customer (default for stereo)")
    a.add_argument("--realtime", action="store_true", help="pace the audio as if live")
    a.add_argument("--quiet", action="store_true", help="print no transcript")
    a.add_argument("--save", action="store_true", help="also store the call in the call library "
                   "(personal data redacted, moments flagged)")
    a.add_argument("--library", metavar="FILE", help="call library file for --save "
                   "(default: ~/.local/share/callassist/calls.sqlite3)")
    a.add_argument("--agent", metavar="NAME", help="with --save: the agent on the call")
    _engine_options(a)

    im = sub.add_parser("import", help="analyse recordings into the call library (several at once)")
    im.add_argument("paths", nargs="+", metavar="PATH", help="recordings or folders of recordings")
    im.add_argument("--jobs", type=int, help="recordings analysed at once (default: 2)")
    im.add_argument("--channels", metavar="NAMES", help="speaker of each channel (default: agent,customer)")
    im.add_argument("--library", metavar="FILE", help="call library file")
    im.add_argument("--agent", metavar="NAME", help="the agent who took these calls")
    _engine_options(im)

    lib = sub.add_parser("library", help="open the QA / coach window on the call library")
    lib.add_argument("--library", metavar="FILE", help="call library file")
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
    rp.add_argument("--library", metavar="FILE", help="call library file")
    rp.add_argument("--config", metavar="FILE", help="config file")

    li = sub.add_parser("listen", help="transcribe a live call from input devices")
    li.add_argument("--input", metavar="DEV", help="caller's audio: a source name or description "
                    "from `callassist devices` (e.g. the monitor of the softphone's output)")
    li.add_argument("--agent-input", metavar="DEV", help="your microphone (optional second input, "
                    "named the same way)")
    li.add_argument("--seconds", type=float, help="stop after this many seconds (default: Ctrl-C)")
    li.add_argument("--json", metavar="OUT", help="write the timeline as JSON to OUT when done")
    _engine_options(li)

    sub.add_parser("devices", help="list audio inputs (PulseAudio/PipeWire sources and monitors "
                   "by name and description) and the softphone choice")

    d = sub.add_parser("download-model", help="download the official small English Vosk model")
    d.add_argument("--url", help="model zip URL (default: vosk-model-small-en-us-0.15)")
    d.add_argument("--sha256", help="expected SHA-256 of the zip ('' to skip the check)")
    d.add_argument("--dest", metavar="DIR", help="folder to unpack into (default: user data folder)")
    return ap


def _load(args):
    """The settings (config.toml with the command line's options on top) and the models."""
    from .config import Config
    from .core.models import shared_models

    cfg = Config.load(args.config, engine=args.engine, vosk_model=args.vosk_model,
                      whisper_model=args.whisper_model, mood_model=args.mood_model,
                      knowledge=args.knowledge, phrases=args.phrases,
                      channels=getattr(args, "channels", None))
    return cfg, shared_models(cfg)


def _printer(stream=sys.stdout):
    from .core.events import (CallerPoint, CallMetrics, CallScore, ChecklistItem, CoachingTip,
                         EscalationAdvice, KnowledgeMatch, MoodState, PhraseSuggestion, Status,
                         Utterance)
    pad = " " * 19

    def show(ev):
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
        elif isinstance(ev, CallMetrics):
            talk = ", ".join(f"{k} {v:.0f} s" for k, v in ev.talk_time.items())
            wpm = ", ".join(f"{k} {v:.0f}" for k, v in ev.words_per_minute.items())
            print(f"metrics: talk {talk}; talk/listen {ev.talk_listen_ratio}; non-talk "
                  f"{ev.non_talk_time:.0f} s; silences>3s {len(ev.long_silences)}; overlaps "
                  f"{len(ev.overlaps)}; words/min {wpm}", file=stream)
        elif isinstance(ev, Status) and ev.level == "warning":  # errors end the run: said once
            print(f"warning: {ev.message}", file=stream)
        elif isinstance(ev, CallScore):
            q = " ".join("  -  " if x is None else f"{x:+.1f}" for x in ev.quarters)
            print(f"call score {ev.speaker:>8}: {ev.overall:+.1f}  (quarters: {q})", file=stream)
    return show


def _write_json(timeline, out: str | None) -> None:
    if not out:
        return
    if out == "-":
        print(timeline.to_json())
    else:
        timeline.save(out)
        sys.stdout.flush()
        print(f"timeline written to {out}", file=sys.stderr)


def cmd_analyze(args) -> int:
    from .audio.sources import FileSource

    source = FileSource(args.call, channels=args.channels, realtime=args.realtime)
    cfg, models = _load(args)
    if args.channels is None and cfg.channels and source.info.channels > 1:
        source = FileSource(args.call, channels=cfg.channels, realtime=args.realtime)
    pipe = models.session(cfg, partials=args.realtime)
    if args.save:  # a library that cannot be opened is said before the analysis, not after
        cfg.open_store(args.library).close()
    to_stdout = args.json == "-"
    if not args.quiet:
        pipe.subscribe(_printer(sys.stderr if to_stdout else sys.stdout))
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=round(source.duration, 1), unit="s", desc=Path(args.call).name,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]",
                   leave=False)

    def progress(t):
        if bar is not None:
            bar.update(round(t, 1) - bar.n)

    try:
        timeline = pipe.run(source, realtime=args.realtime, on_progress=progress,
                            source_name=str(args.call))
    except CallAssistError as exc:
        if bar is not None:
            bar.close()
        tl = getattr(exc, "timeline", None)
        if tl is not None and args.json and args.json != "-" and tl.utterances:
            tl.save(args.json)  # keep what was analysed before the damage
        raise
    if bar is not None:
        bar.close()
    _write_json(timeline, args.json)
    if args.save:
        with cfg.open_store(args.library) as store:
            call_id = store.save_recording(timeline, Path(args.call).resolve(),
                                           title=Path(args.call).stem, agent=args.agent)
            rec = store.get_call(call_id)
        print(f"saved to the call library {store.path} as call {call_id} "
              f"({len(rec.flags or [])} flagged moments)", file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    from .library.importer import Importer, find_recordings

    files = find_recordings(args.paths)
    if not files:
        raise CallAssistError(f"no recordings (.wav, .flac, .ogg, .mp3…) found in "
                              f"{', '.join(args.paths)}: give recordings or folders that hold them")
    cfg, models = _load(args)
    failed = 0
    t0 = time.perf_counter()
    with cfg.open_store(args.library) as store:
        importer = Importer(store, models, cfg, jobs=args.jobs or cfg.import_jobs,
                            agent=args.agent)

        def said(res, done, total):
            nonlocal failed
            if res.skipped:
                what = res.skip_reason
            elif res.error:
                failed += 1
                what = f"error: {res.error}" + (" (partly saved)" if res.call_id else "")
            else:
                rec = store.get_call(res.call_id)
                what = (f"{res.duration:.0f} s in {res.seconds:.1f} s, "
                        f"{len(rec.flags or [])} flagged moments")
            print(f"[{done}/{total}] {res.path.name}: {what}", flush=True)

        results = importer.run(files, on_result=said)
    audio = sum(r.duration for r in results if r.ok)
    wall = time.perf_counter() - t0
    n_ok = sum(r.ok for r in results)
    print(f"imported {n_ok} of {len(results)} recordings ({audio / 60:.1f} min of audio) into "
          f"{store.path} in {wall:.0f} s", file=sys.stderr)
    return 1 if failed else 0


def cmd_library(args) -> int:
    _need_screen("the library window")
    from .gui.app import run_library
    return run_library(args.library, args.config, args.call)


def cmd_report(args) -> int:
    from .config import Config
    from .library import report

    cfg = Config.load(args.config)
    with cfg.open_store(args.library) as store:
        if args.list or not (args.html or args.pdf or args.csv or args.audio):
            for rec in store.list_calls():
                print(f"{rec.id}  {rec.started[:16]}  {rec.duration:6.0f} s  "
                      f"{len(rec.flags or [])} flags  {rec.title}")
            return 0
        if args.csv:
            report.write_csv(store.list_calls(), args.csv)
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


def cmd_listen(args) -> int:
    from .audio.sources import MicSource
    from .core.events import AGENT, CUSTOMER

    inputs = {CUSTOMER: args.input}
    if args.agent_input is not None:
        inputs[AGENT] = args.agent_input
    source = MicSource(inputs)
    source.on_lost = lambda speaker, message: print(f"callassist: warning: {message}",
                                                    file=sys.stderr)
    cfg, models = _load(args)
    pipe = models.session(cfg, partials=False)
    source.open()
    pipe.subscribe(_printer())
    signal.signal(signal.SIGINT, lambda *a: source.stop())
    signal.signal(signal.SIGTERM, lambda *a: source.stop())
    if args.seconds:
        import threading
        threading.Timer(args.seconds, source.stop).start()
    print("listening… (Ctrl-C to stop)", file=sys.stderr)
    timeline = pipe.run(source, realtime=True, source_name="live")
    _write_json(timeline, args.json)
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
        agent = f" --agent-input {listed.agent}" if listed.agent else ""
        print(f"\nsoftphone: --input {listed.caller}{agent}  ({listed.reason})")
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
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    from .logs import setup_logging
    setup_logging()
    commands = {"analyze": cmd_analyze, "listen": cmd_listen, "devices": cmd_devices,
                "download-model": cmd_download, "import": cmd_import, "library": cmd_library,
                "report": cmd_report}
    handler = commands[args.command] if args.command else cmd_gui
    try:
        return handler(args)
    except CallAssistError as exc:
        logging.getLogger("callassist").warning("%s: %s", args.command or "panel", exc)
        print(f"callassist: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("callassist: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
