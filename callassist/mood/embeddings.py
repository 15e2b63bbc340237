"""Sentence embeddings (mean pooling, unit length, as sentence-transformers computes them) from
the process's one all-MiniLM-L6-v2 encoder (`mood.encoder.shared_encoder`), with the mood adapter
switched off: knowledge search and the listening aid read the packaged weights as they are."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .encoder import shared_encoder


class Embedder:
    dim = 384

    def __init__(self, encoder=None, max_length: int = 128):
        self._encoder = encoder if encoder is not None else shared_encoder()
        self.max_length = max_length

    @property
    def load_seconds(self) -> float:
        return self._encoder.load_seconds

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self._encoder.embed(texts, batch_size=batch_size, max_length=self.max_length)


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """One encoder per process: knowledge search and the listening aid share it with the mood."""
    return Embedder()
