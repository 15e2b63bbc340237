"""Calming and helpful phrases for the agent, from an editable YAML library.

The library has one list per situation (angry, frustrated, confused, worried, waiting, bad_news,
thanks, closing, neutral). A phrase may require a caller cue (`cues: [anger]`) or fit best right
after certain caller words (`after: [third time]`). Suggestions rotate so the agent does not see
the same line all call, and a phrase the agent has already said is not suggested again.

A broken entry or section is reported with its file and line and skipped; the rest loads.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from ..errors import ConfigError
from ..resources import shipped
from ..core.text import words

DEFAULT_PHRASES = shipped("content", "phrases.yaml")
SITUATIONS = ("angry", "frustrated", "confused", "worried", "waiting", "bad_news", "thanks",
              "closing", "neutral")
CUE_KINDS = ("anger", "confusion", "worry", "gratitude")


@dataclass(frozen=True)
class Phrase:
    situation: str
    text: str
    cues: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    line: int = 0


@dataclass
class PhraseLibrary:
    path: Path
    phrases: dict[str, list[Phrase]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PhraseLibrary":
        path = Path(path) if path else DEFAULT_PHRASES
        if not path.exists():
            raise ConfigError(f"phrase file not found: {path} (choose another in the settings "
                              f"or with --phrases)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} cannot be read ({exc.__class__.__name__}): save it as UTF-8 "
                              f"text") from None
        lib = cls(path)
        # Parse each top-level section on its own, so one broken section leaves the rest usable.
        lines = text.splitlines()
        starts = [i for i, l in enumerate(lines) if re.match(r"^[A-Za-z_][\w-]*\s*:", l)]
        if not starts and text.strip():
            lib.problems.append(f"{path} line 1: no situations found (expected e.g. 'angry:')")
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            chunk = "\n" * start + "\n".join(lines[start:end])
            try:
                node = yaml.compose(chunk)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 1 if mark else start + 1
                lib.problems.append(f"{path} line {line}: not valid YAML "
                                    f"({getattr(exc, 'problem', exc)}); section skipped")
                continue
            if node is None:
                continue
            for key_node, value_node in node.value:
                lib._load_section(key_node, value_node)
        if not any(lib.phrases.values()):
            raise ConfigError(f"{path} has no usable phrases: "
                              + ("; ".join(lib.problems) if lib.problems else "add some"))
        return lib

    def _load_section(self, key_node, value_node) -> None:
        name = str(key_node.value).strip().lower()
        line = key_node.start_mark.line + 1
        if name not in SITUATIONS:
            self.problems.append(f"{self.path} line {line}: unknown situation '{name}' "
                                 f"(known: {', '.join(SITUATIONS)}); skipped")
            return
        if not isinstance(value_node, yaml.SequenceNode):
            self.problems.append(f"{self.path} line {line}: '{name}' must be a list of phrases; skipped")
            return
        items = self.phrases.setdefault(name, [])
        for item in value_node.value:
            iline = item.start_mark.line + 1
            data = yaml.safe_load(yaml.serialize(item))
            if isinstance(data, str):
                data = {"text": data}
            if not isinstance(data, dict) or not str(data.get("text") or "").strip():
                self.problems.append(f"{self.path} line {iline}: phrase has no text; skipped")
                continue
            cues = data.get("cues") or []
            after = data.get("after") or []
            if isinstance(cues, str):
                cues = [cues]
            if isinstance(after, str):
                after = [after]
            bad = [c for c in cues if c not in CUE_KINDS]
            if bad or not isinstance(after, list):
                self.problems.append(f"{self.path} line {iline}: unknown cue {bad[0] if bad else ''!s} "
                                     f"or bad 'after' list; skipped")
                continue
            items.append(Phrase(name, str(data["text"]).strip(), tuple(cues),
                                tuple(" ".join(words(str(a))) for a in after), iline))


def _overlap(a: Sequence[str], b: set[str]) -> float:
    a = [w for w in a if len(w) > 2]
    return sum(w in b for w in a) / len(a) if a else 0.0


class PhraseSuggester:
    """Chooses what to suggest from the situation, the cues and what was just said."""

    def __init__(self, library: PhraseLibrary, count: int = 2):
        self.library = library
        self.count = count
        self.shown: Counter[str] = Counter()
        self.said: set[str] = set()  # phrases the agent has already said (near enough)
        self._agent_words: list[set[str]] = []

    def agent_said(self, text: str) -> None:
        w = set(words(text))
        self._agent_words.append(w)
        for items in self.library.phrases.values():
            for p in items:
                if p.text not in self.said and _overlap(words(p.text), w) >= 0.7:
                    self.said.add(p.text)

    def suggest(self, situation: str, cues: Sequence[str], caller_text: str) -> list[Phrase]:
        items = self.library.phrases.get(situation) or self.library.phrases.get("neutral") or []
        said_now = " " + " ".join(words(caller_text)) + " "
        scored = []
        for order, p in enumerate(items):
            if p.text in self.said:
                continue
            if p.cues and not set(p.cues) & set(cues):
                continue
            score = 1.0
            if any(f" {a} " in said_now for a in p.after):
                score += 2.0
            if p.cues:
                score += 1.0
            score -= 1.5 * self.shown[p.text]
            scored.append((score, -order, p))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        chosen = [p for _, _, p in scored[: self.count]]
        for p in chosen:
            self.shown[p.text] += 1
        return chosen
