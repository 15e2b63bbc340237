"""Audio sources with real files: resampling, channel mapping, pacing and every bad input."""
import struct
import time

import numpy as np
import pytest
import soundfile as sf

from callassist.audio.sources import FileSource, parse_channel_map, probe
from callassist.errors import AudioError
from tests.conftest import DEMO_CALLS, write_wav


def tone(freq, seconds, rate, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def collect(source):
    out = {}
    for b in source:
        out.setdefault(b.speaker, []).append(b)
    return {k: (np.concatenate([b.samples for b in v]), v) for k, v in out.items()}


def dominant_freq(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)]


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_any_rate_is_resampled_to_16k(tmp_path, rate):
    path = write_wav(tmp_path / f"t{rate}.wav", tone(440, 2.0, rate), rate)
    got = collect(FileSource(path))
    audio, blocks = got["customer"]  # mono = one speaker, the customer
    assert abs(len(audio) - 32000) <= 2
    assert abs(dominant_freq(audio, 16000) - 440) < 3
    starts = [b.start for b in blocks]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert all(len(b.samples) == 1600 for b in blocks[:-1])  # 100 ms blocks whatever the rate
    assert [b.start for b in blocks] == pytest.approx([i * 0.1 for i in range(len(blocks))])


def test_8khz_telephone_speech_is_recognised_after_resampling(tmp_path, whisper_engine, espeak):
    """8 kHz narrowband audio of real speech comes out at 16 kHz and Whisper reads it."""
    import soxr
    from tests.wer import wer

    text = "my order has not arrived and I would like a refund please"
    speech = espeak(text, "en-us+m7", 150, 45)
    path = write_wav(tmp_path / "tel.wav", soxr.resample(speech, 16000, 8000), 8000)
    assert probe(path).sample_rate == 8000
    audio, _ = collect(FileSource(path))["customer"]
    assert abs(len(audio) - len(speech)) <= 16
    hyp = " ".join(s.text for s in whisper_engine.transcribe(audio))
    assert wer(text, hyp) <= 0.35, hyp


def test_stereo_channels_map_to_speakers(tmp_path):
    left, right = tone(300, 1.0, 16000), tone(1200, 1.0, 16000)
    path = write_wav(tmp_path / "call.wav", np.stack([left, right], axis=1), 16000)
    got = collect(FileSource(path))
    assert set(got) == {"agent", "customer"}  # default: left = agent, right = customer
    assert abs(dominant_freq(got["agent"][0], 16000) - 300) < 3
    assert abs(dominant_freq(got["customer"][0], 16000) - 1200) < 3
    swapped = collect(FileSource(path, channels="customer,agent"))
    assert abs(dominant_freq(swapped["customer"][0], 16000) - 300) < 3
    only = collect(FileSource(path, channels="ignore,customer"))
    assert set(only) == {"customer"}


def test_channel_map_errors():
    with pytest.raises(AudioError, match="3 channels"):
        parse_channel_map(None, 3)
    with pytest.raises(AudioError, match="one name per channel"):
        parse_channel_map("agent", 2)
    assert parse_channel_map("agent,customer,ignore", 3) == ("agent", "customer", "ignore")


def test_realtime_pacing(tmp_path):
    path = write_wav(tmp_path / "p.wav", tone(440, 0.6, 16000), 16000)
    t0 = time.monotonic()
    n = sum(1 for _ in FileSource(path, realtime=True))
    elapsed = time.monotonic() - t0
    assert n == 6 and 0.45 <= elapsed < 2.0
    t0 = time.monotonic()
    list(FileSource(path))
    assert time.monotonic() - t0 < 0.3


def test_flac_and_ogg(tmp_path):
    for ext in ("flac", "ogg"):
        p = tmp_path / f"x.{ext}"
        sf.write(str(p), tone(440, 1.0, 16000), 16000, format=ext.upper())
        audio, _ = collect(FileSource(p))["customer"]
        assert abs(len(audio) - 16000) < 200


def test_demo_call_is_stereo_with_both_speakers():
    info = probe(DEMO_CALLS / "angry_calmed.flac")
    assert info.channels == 2 and info.duration > 60


# ---- bad input: one clear message each -------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        probe(tmp_path / "nope.wav")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(AudioError, match="folder"):
        probe(tmp_path)


def test_not_audio(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioError, match="not a supported audio file.*convert"):
        probe(p)


def test_unsupported_sample_format(tmp_path):
    """A WAV whose data is MP3-coded (format tag 0x55): libsndfile cannot decode it."""
    data = b"\xff\xfb" + b"\x00" * 998
    fmt = struct.pack("<HHIIHH", 0x55, 1, 8000, 1000, 1, 0)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    p = tmp_path / "mp3inwav.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(AudioError, match="not a supported audio file"):
        probe(p)


def test_empty_audio(tmp_path):
    p = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no audio"):
        probe(p)


def test_too_low_sample_rate(tmp_path):
    p = write_wav(tmp_path / "low.wav", tone(200, 1.0, 4000), 4000)
    with pytest.raises(AudioError, match="4000 Hz"):
        probe(p)
