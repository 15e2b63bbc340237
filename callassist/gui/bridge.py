"""The one bridge between the engine and the widgets, and the worker that runs the engine.

The worker lives in its own QThread: it loads the models, opens the audio source and runs the
pipeline there. Pipeline events are re-emitted as a Qt signal; Qt queues it to the GUI thread,
so widgets only ever change on the GUI thread and the GUI never waits for audio or a model.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..errors import CallAssistError
from ..audio.recording import swap_channels
from ..core.events import Event, Relabelled

log = logging.getLogger(__name__)
NOT_KEPT = "Nothing was said; the call was not kept"


@dataclass
class CallSetup:
    """Where a call's audio comes from and who takes it. Models and thresholds come from the
    one settings source (config.toml, `callassist.config.Config`)."""

    play: str | None = None  # recorded call to play through the panel
    inputs: dict[str, str | None] = field(default_factory=dict)  # live: speaker -> device
    speed: float = 1.0  # pacing of a played call (1 = real time)
    playback: bool = False  # play the recorded call out loud too
    record: bool = True  # save the call to the call store as it goes
    agent: str | None = None  # the agent's name, saved with the call


class EventBridge(QObject):
    """Thread-safe: call `publish` from any thread; `event` fires on the receiver's thread."""

    event = Signal(object)

    def publish(self, ev: Event) -> None:
        self.event.emit(ev)


class CallWorker(QObject):
    status = Signal(str, str)  # level, message
    level = Signal(str, float)  # speaker, RMS level 0..1 (about 10 per second)
    capturing = Signal()  # the audio is open and recorded (at once, models loaded or not)
    started = Signal(dict)  # the call's metadata, once the models are there to transcribe it
    finished = Signal(object)  # the Timeline (also after an error: nothing is lost)
    failed = Signal(str)  # one-line message for the user

    def __init__(self, setup: CallSetup, bridge: EventBridge, config, models, store=None):
        """`models`: a Future of the loaded Models (core.models.preload), or the Models."""
        super().__init__()
        self.setup = setup
        self.bridge = bridge
        self.config = config
        self.models = models
        self.store = store
        self._source = None
        self._stop = threading.Event()
        self._playing = False
        self.kept = True  # False once the library dropped the call: nothing was said

    def stop(self) -> None:
        self._stop.set()
        if self._source is not None:
            self._source.stop()
        self._stop_playback()

    def _start_playback(self) -> None:
        """Play the recorded call out loud while it runs through the panel (real time only)."""
        s = self.setup
        if not (s.play and s.playback and s.speed == 1.0):
            return
        try:
            import sounddevice as sd
            import soundfile as sf
            data, rate = sf.read(s.play, dtype="float32")
            sd.play(data, rate)
            self._playing = True
        except Exception as exc:  # no speakers: the call still runs, silently
            self.status.emit("warning", f"cannot play the call out loud ({exc.__class__.__name__}); "
                                        f"running it silently")

    def _stop_playback(self) -> None:
        if self._playing:
            try:
                import sounddevice as sd
                sd.stop()
            except Exception:
                pass
            self._playing = False

    def _session(self):
        """A new call session over the models loaded once (waiting for them if they still load)."""
        models = self.models
        if hasattr(models, "result"):  # the panel says it is listening meanwhile
            models = models.result()
        return models.session(self.config, partials=True)

    def _open_source(self):
        from ..audio.separated import open_recording
        from ..audio.sources import MicSource

        s = self.setup
        if s.play:
            return open_recording(s.play, self.config.channels, mono=self.config.mono,
                                  realtime=True, speed=s.speed)
        src = MicSource(s.inputs or {"customer": None})
        if len(src.speakers) == 1 and self.config.single_input == "both":
            from ..audio.separated import LiveSeparatedSource  # one microphone hears both
            profile = (self.store.voice_profile(s.agent) if self.store is not None
                       and self.config.voice_profiles else None)
            src = LiveSeparatedSource(src, profile=profile)
        # a device gone mid-call: the panel says so, the call goes on with the other input
        src.on_lost = lambda speaker, message: self.status.emit("device", message)
        src.open()
        return src

    def _learn_voice(self, path, order: tuple[str, ...]) -> None:
        """A live call with the agent on their own microphone adds to their voice profile
        (used only to tell them apart on mono calls), when they gave their name and the
        setting allows it. Runs on this worker thread, after the call is saved."""
        agent = self.setup.agent
        if not agent or "agent" not in order or len(order) < 2 \
                or not getattr(self.config, "voice_profiles", False):
            return
        try:
            self.store.learn_voice(agent, path, ",".join(order))
        except (CallAssistError, OSError) as exc:  # a profile is a convenience: never an error
            log.warning("voice profile of %s not updated: %s", agent, exc)

    def _capture(self, source, audio_rec, blocks: queue.Queue) -> None:
        """Capture thread: from the moment the call starts, every block is recorded and queued
        for the pipeline, which may still be waiting for the models: nothing said is lost."""
        last_level: dict[str, float] = {}
        prepares = hasattr(source, "separation")  # a mono call: its voices are told apart first
        try:
            if not prepares:
                self._start_playback()
            for block in source:
                now = time.monotonic()
                if prepares and self._clock is None:  # played out loud from its first block
                    self._start_playback()
                if self._clock is None:  # the call's clock: when its first audio arrived
                    self._clock = now - block.end / self._speed
                if now - last_level.get(block.speaker, 0) >= 0.1:
                    last_level[block.speaker] = now
                    rms = float(np.sqrt(np.mean(block.samples ** 2))) if len(block.samples) else 0.0
                    self.level.emit(block.speaker, min(1.0, rms * 4))
                if audio_rec is not None:
                    audio_rec(block)
                blocks.put(block)
                if self._stop.is_set():
                    source.stop()
        except CallAssistError as exc:
            blocks.put(exc)  # raised in the pipeline's thread, after what came before it
        finally:
            blocks.put(None)

    @staticmethod
    def _queued(blocks: queue.Queue, source=None):
        return _Queued(blocks, source)

    @Slot()
    def run(self) -> None:
        """Open the audio at once and record it; transcribe it as soon as the models are ready
        (Start never waits for them); save the call as it goes."""
        timeline = None
        recorder = audio_rec = capture = None
        order: tuple[str, ...] = ()
        call = {"id": uuid.uuid4().hex[:12]}
        self._clock = None
        self._speed = self.setup.speed if self.setup.play else 1.0
        try:
            self._source = source = self._open_source()
            if getattr(source, "peek", False) is None:  # a mono call: which voice is the agent,
                source.peek = lambda audio: self._session().peek_text(audio)  # by their words
            if self.store is not None and self.setup.record and not self.setup.play:
                from ..audio.recording import AudioRecorder
                from ..paths import data_dir, private_dir
                folder = data_dir() / "recordings"  # live audio is recorded as it comes
                private_dir(folder)  # owner only, like each recording in it
                # agent left, customer right: the layout `analyze` expects of a stereo call
                order = tuple(sorted(source.speakers, key=lambda sp: sp != "agent"))
                audio_rec = AudioRecorder(str(folder / f"{call['id']}.wav"), order)
            blocks: queue.Queue = queue.Queue()  # unbounded: recorded audio is never dropped
            capture = threading.Thread(target=self._capture, args=(source, audio_rec, blocks),
                                       name="callassist-capture", daemon=True)
            capture.start()
            self.capturing.emit()
            pipe = self._session()  # waits here if the models are still loading
            pipe.subscribe(self.bridge.publish)
            name = self.setup.play or "live call"
            call = {**pipe.new_call(name, source.speakers), "id": call["id"]}
            if self.store is not None and self.setup.record:
                self.store.start_call(call, audio_path=str(audio_rec.path) if audio_rec else self.setup.play,
                                      title=Path(name).stem if self.setup.play else "Live call",
                                      agent=self.setup.agent or None,
                                      own_audio=audio_rec is not None)
                recorder = self.store.recorder(call["id"])
                pipe.subscribe(recorder)
            self.started.emit(call)
            self.status.emit("info", "Call in progress")
            try:
                timeline = pipe.run(self._queued(blocks, source), realtime=True, call=call,
                                    speed=self._speed, clock=lambda: self._clock)
            except CallAssistError as exc:
                timeline = getattr(exc, "timeline", None)
                self.failed.emit(str(exc))
        except CallAssistError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never let the worker die silently
            log.exception("call worker failed")
            self.failed.emit(f"unexpected error: {exc.__class__.__name__}: {exc}")
        finally:
            if self._source is not None:
                self._source.stop()
            if capture is not None:
                capture.join(timeout=10)
            self._stop_playback()
            if audio_rec is not None:
                audio_rec.close()
                if timeline is not None and timeline.of(Relabelled):  # one microphone whose
                    try:                                             # roles were swapped live
                        swap_channels(audio_rec.path)
                    except (OSError, ValueError) as exc:
                        log.warning("could not swap the channels of %s: %s", audio_rec.path, exc)
                        audio_rec = None  # not for the agent's voice profile, then
            if recorder is not None:
                recorder.close()
                duration = timeline.call.get("duration", 0.0) if timeline is not None else 0.0
                self.kept = self.store.finish_call(
                    call["id"], duration, status="done" if timeline is not None else "failed",
                    separation=timeline.call.get("separation") if timeline is not None else None)
                if not self.kept:
                    self.status.emit("info", NOT_KEPT)
                elif audio_rec is not None and timeline is not None:
                    self._learn_voice(audio_rec.path, order)
            self.finished.emit(timeline)
            from ..core.models import trim_memory
            trim_memory()


class _Queued:
    """The captured blocks for the pipeline, in order (an error raised where it happened); the
    source's other attributes (speakers, how a mono call's voices were told apart) read through."""

    def __init__(self, blocks: queue.Queue, source=None):
        self._blocks, self._source = blocks, source

    def __getattr__(self, name):
        if self._source is None:
            raise AttributeError(name)
        return getattr(self._source, name)

    def __iter__(self):
        while (item := self._blocks.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item


def start_worker(worker: CallWorker) -> QThread:
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit)
    thread.start()
    return thread
