"""Build a mood adapter's ONNX graph (``encoder.onnx`` beside it), which ``GraphEncoder`` runs.

    .venv/bin/python -m callassist.mood.export [FOLDER ...] [--if-stale]

FOLDER defaults to the shipped models/mood; ``--if-stale`` builds only a graph that is missing
or was built from other weights (scripts/setup.sh runs this; ~10 s when it builds).

The graph is the packaged MiniLM with the adapter's LoRA branch UNmerged and scaled by an input
(``lora_scale``): 0 gives the packaged weights as they are (sentence embeddings), 1 the mood
model. One graph, one copy of the weights, for both readers. It is traced from the same torch
modules the adapter was trained in (transformers + peft), checked against them on a few
sentences before it replaces the old file, and carries the fingerprint of what it was built
from, so a retrained adapter never runs with a stale graph.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..errors import CallAssistError, ModelError
from .encoder import (FINGERPRINT_KEY, GRAPH_FILE, GRAPH_INPUTS, GRAPH_OUTPUTS, GraphEncoder,
                      TorchEncoder, fingerprint, graph_problem)

CHECK_TEXTS = [  # what the built graph must score as torch does (pairs: utterance, context)
    ("This is the third time I've called and nobody has fixed it!", "agent: how can I help?"),
    ("Thank you so much, that's perfect.", ""),
    ("I want to return my order please.", "agent: thanks for calling. caller: hi"),
    ("ok", ""),
]
TOLERANCE = 1e-4


def _graph_module(torch_encoder: TorchEncoder, name: str):
    """A torch module (input_ids, attention_mask, token_type_ids, lora_scale) -> (unit-length
    mean-pooled embedding, polarity logits, intensity logits), from the peft model as loaded."""
    from peft.tuners.lora import Linear as LoraLinear
    from torch import nn

    scale: list = [None]  # the graph's lora_scale input, read by every LoRA layer

    class Scaled(nn.Module):
        def __init__(self, layer: LoraLinear):
            super().__init__()
            self.base = layer.base_layer
            self.lora_A, self.lora_B = layer.lora_A[name], layer.lora_B[name]
            self.scaling = float(layer.scaling[name])

        def forward(self, x):  # peft's own sum, with the scale an input (dropout off at eval)
            return self.base(x) + self.lora_B(self.lora_A(x)) * (scale[0] * self.scaling)

    net = torch_encoder._peft.base_model.model  # MoodNet, its Linear layers wrapped by peft

    def swap(module: nn.Module) -> None:
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoraLinear):
                setattr(module, child_name, Scaled(child))
            else:
                swap(child)
    swap(net.bert)

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = net.bert
            self.polarity = net.polarity.modules_to_save[name]
            self.intensity = net.intensity.modules_to_save[name]

        def forward(self, input_ids, attention_mask, token_type_ids, lora_scale):
            scale[0] = lora_scale
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)  # as MoodNet.embed
            emb = nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            k = (attention_mask * (token_type_ids == 0)).unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * k).sum(1) / k.sum(1).clamp(min=1.0)  # as MoodNet.forward
            return emb, self.polarity(pooled), self.intensity(pooled)

    return Graph().eval()


def build(folder: Path) -> Path:
    """Write `folder`/encoder.onnx from the adapter in `folder`; its path. ModelError if the
    adapter cannot be loaded or the graph does not score as torch does."""
    import warnings

    import numpy as np
    import onnx
    import torch

    folder = Path(folder)
    reference = TorchEncoder()
    name = reference.attach(folder)
    texts, contexts = [t for t, _ in CHECK_TEXTS], [c for _, c in CHECK_TEXTS]
    want_mood = reference.classify(name, texts, contexts, 128)
    want_emb = reference.embed(texts)
    module = _graph_module(reference, name)  # (changes the torch model: `reference` is spent)
    enc = reference.mood_tokenizer(texts, contexts, padding=True, return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], torch.tensor(1.0))
    axes = {n: {0: "batch", 1: "tokens"} for n in GRAPH_INPUTS[:3]}
    axes.update({n: {0: "batch"} for n in GRAPH_OUTPUTS})
    fd, tmp = tempfile.mkstemp(prefix=".encoder-", suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on transformers' shape checks
            torch.onnx.export(module, args, tmp, dynamo=False, opset_version=17,
                              input_names=list(GRAPH_INPUTS), output_names=list(GRAPH_OUTPUTS),
                              dynamic_axes=axes)
        model = onnx.load(tmp)
        meta = model.metadata_props.add()
        meta.key, meta.value = FINGERPRINT_KEY, fingerprint(folder)
        model.doc_string = (f"CallAssist mood graph: {folder.name} over the packaged "
                            f"all-MiniLM-L6-v2; LoRA scaled by lora_scale")
        onnx.save(model, tmp)
        os.chmod(tmp, 0o600)
        got = GraphEncoder(folder, graph_file=Path(tmp))  # checked before it replaces the old
        got_mood = got.classify(got._default, texts, contexts, 128)
        got_emb = got.embed(texts)
        diff = max(float(np.abs(np.array(a) - np.array(b)).max())
                   for a, b in zip(want_mood + (want_emb,), got_mood + (got_emb,)))
        if diff > TOLERANCE:
            raise ModelError(f"the graph built from {folder} scores differently from torch "
                             f"(by {diff:.1e}): not written")
        os.replace(tmp, folder / GRAPH_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder / GRAPH_FILE


def main(argv: list[str] | None = None) -> int:
    from .sentiment import DEFAULT_MODEL_DIR

    ap = argparse.ArgumentParser(prog="python -m callassist.mood.export",
                                 description="Build the ONNX graph of a mood adapter folder.")
    ap.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_MODEL_DIR])
    ap.add_argument("--if-stale", action="store_true",
                    help="build only a graph that is missing or built from other weights")
    args = ap.parse_args(argv)
    for folder in args.folders:
        try:
            if args.if_stale and graph_problem(folder) is None:
                print(f"{folder / GRAPH_FILE}: up to date")
                continue
            print(f"{build(folder)}: built")
        except CallAssistError as exc:
            print(f"callassist: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
