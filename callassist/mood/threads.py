"""How many threads torch uses for one piece of text work, shared by every torch model here.

On an agent's 2-core laptop Whisper, the softphone and the browser already keep both cores busy.
A sentence or two runs fastest on ONE thread: two threads spin-wait on each other whenever one
of them is pre-empted (measured with two busy processes beside it: mood of one utterance p50
0.28 s on two threads, 0.06 s on one). Batches (imports, index builds) use two.
torch's thread count is process-wide, so every change happens under one lock and is restored.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

SMALL = 4  # texts in a call that counts as "a sentence or two"
MAX_THREADS = 2
_LOCK = threading.RLock()


@contextmanager
def torch_threads(n_texts: int):
    import torch

    with _LOCK:
        before = torch.get_num_threads()
        wanted = 1 if n_texts <= SMALL else min(MAX_THREADS, before)
        if wanted != before:
            torch.set_num_threads(wanted)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
