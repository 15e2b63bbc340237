"""The mood of one utterance, read from its words and the turns just before it: polarity
(negative / neutral / positive) and intensity (0 calm, 1 mild, 2 heated, 3 furious).

The model is a peft LoRA adapter with two small heads (``models/mood/``) over the process's one
all-MiniLM-L6-v2 encoder (``mood.encoder.shared_encoder``), which knowledge search shares with the
adapter switched off. Text is normalised the way speech recognisers write it (lower case, no
punctuation) before it reaches the model, in training (``scripts/train_mood.py``) and at
inference alike. Only words are read: voice is never used to judge mood.
"""
from __future__ import annotations

import html
import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import ModelError
from ..resources import shipped
from .encoder import POLARITY, encoder_path, shared_encoder

# torch, transformers and peft are imported lazily: importing this module stays cheap.

LABELS = POLARITY
DEFAULT_MODEL_DIR = shipped("models", "mood")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
CONFIG_FILE = "mood.json"
FORMAT = "callassist-mood-v2"
TEXT_WORDS = 60  # the last 60 words of a long utterance
CONTEXT_WORDS = 40  # the last 40 words of the turns before it
CONTEXT_TURNS = 2
HEAT = ("calm", "mild", "heated", "furious")


@dataclass(frozen=True)
class SentimentResult:
    label: str  # one of LABELS
    probs: dict[str, float]  # {"negative": p, "neutral": p, "positive": p}, sums to 1
    score: float  # probs["positive"] - probs["negative"], in [-1, 1]
    intensity: float = 0.0  # expected intensity 0 (calm) .. 3 (furious)

    @property
    def heat(self) -> str:
        return HEAT[min(3, int(self.intensity + 0.5))]


Turn = tuple[str, str]  # (speaker, text) of an earlier utterance in the call


def context_text(turns: Sequence[Turn]) -> str:
    """The turns before an utterance as the model reads them: the last CONTEXT_TURNS, each as
    "agent: …" or "caller: …", cut to the last CONTEXT_WORDS words."""
    parts = []
    for speaker, text in list(turns)[-CONTEXT_TURNS:]:
        words = normalize_text(text)
        if words:
            parts.append(f"{'agent' if speaker == 'agent' else 'caller'}: {words}")
    words = " ; ".join(parts).split()
    return " ".join(words[-CONTEXT_WORDS:])


def utterance_text(text: str) -> str:
    return " ".join(normalize_text(text).split()[-TEXT_WORDS:])


# ---------------------------------------------------------------------------------------------
# Text normalisation: tweets and written text -> the form speech recognisers produce.

_URL = re.compile(r"(?:https?://|www\.)\S+|\b\w+\.(?:com|co|net|org|ly)/\S*", re.I)
_MENTION = re.compile(r"(?<![\w@])@\w+")
_RETWEET = re.compile(r"\bRT\b|\bvia\s+(?=@)")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_NOT_WORD = re.compile(r"[^a-z0-9']+")
_LOOSE_APOSTROPHE = re.compile(r"(?<![a-z0-9])'+|'+(?![a-z0-9])")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower-case words without punctuation, as a speech recogniser writes them.

    Drops what speech never contains (URLs, @mentions, "RT", the ``#`` of hashtags, whose
    CamelCase is split into words), folds accents, keeps in-word apostrophes ("don't").
    """
    t = html.unescape(text or "")
    t = _URL.sub(" ", t)
    t = _RETWEET.sub(" ", t)
    t = _MENTION.sub(" ", t)
    t = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", t)
    t = t.replace("&", " and ").translate(_QUOTES)
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii").lower()
    t = _NOT_WORD.sub(" ", t)
    t = _LOOSE_APOSTROPHE.sub(" ", t)
    return _SPACES.sub(" ", t).strip()


# ---------------------------------------------------------------------------------------------


class SentimentModel:
    """The shipped mood model over the shared encoder. ``SentimentModel.load()``; thread-safe."""

    def __init__(self, encoder, adapter: str, config: dict, load_seconds: float = 0.0):
        self._encoder = encoder
        self._adapter = adapter
        self.config = config
        self.max_length = int(config.get("max_length", 128))
        self.load_seconds = load_seconds

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> "SentimentModel":
        t0 = time.perf_counter()
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        needed = (CONFIG_FILE,) + ADAPTER_FILES
        if not all((model_dir / f).is_file() for f in needed):
            raise ModelError(
                f"the mood model is missing from {model_dir} (need {', '.join(needed)}): "
                f"restore models/mood from the repository or retrain it with scripts/train_mood.py")
        try:
            config = json.loads((model_dir / CONFIG_FILE).read_text())
            labels, fmt = tuple(config["labels"]), config["format"]
            int(config["max_length"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"the mood model config {model_dir / CONFIG_FILE} is unreadable ({exc}): "
                f"restore models/mood from the repository or retrain it with scripts/train_mood.py"
            ) from None
        if labels != LABELS or fmt != FORMAT:
            raise ModelError(f"the mood model in {model_dir} is {fmt} with labels {labels}, expected "
                             f"{FORMAT} with {LABELS}: retrain it with scripts/train_mood.py")
        encoder_path()  # the package is still there (a clear error if it was uninstalled)
        encoder = shared_encoder()
        adapter = encoder.attach(model_dir)
        return cls(encoder, adapter, config, load_seconds=time.perf_counter() - t0)

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    def predict(self, texts: Sequence[str],
                contexts: Sequence[Sequence[Turn]] | None = None) -> list[SentimentResult]:
        """The mood of each text; `contexts[i]` are the turns said just before texts[i]."""
        norm = [utterance_text(t) for t in texts]
        ctx = [context_text(c) for c in contexts] if contexts is not None else [""] * len(texts)
        out: list[SentimentResult] = [
            SentimentResult("neutral", {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, 0.0)
        ] * len(texts)
        todo = [i for i, t in enumerate(norm) if t]
        if todo:
            pol, inten = self._encoder.classify(self._adapter, [norm[i] for i in todo],
                                                [ctx[i] for i in todo], self.max_length)
            for i, p, q in zip(todo, pol, inten):
                d = dict(zip(LABELS, p))
                label = LABELS[max(range(len(LABELS)), key=p.__getitem__)]
                out[i] = SentimentResult(label, d, max(-1.0, min(1.0, d["positive"] - d["negative"])),
                                         intensity=sum(k * v for k, v in enumerate(q)))
        return out

    def predict_one(self, text: str, context: Sequence[Turn] = ()) -> SentimentResult:
        return self.predict([text], [context])[0]
