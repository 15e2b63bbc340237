"""Calming and helpful phrases for the agent, from an editable YAML library.

The library has one list per situation (angry, frustrated, confused, worried, waiting, bad_news,
thanks, closing, neutral). A phrase may require a caller cue (`cues: [anger]`) or fit best right
after certain caller words (`after: [third time]`). Suggestions rotate so the agent does not see
the same line all call, and a phrase the agent has already said is not suggested again.

A broken entry or section is reported with its file and line and skipped; the rest loads. Each
phrase is checked against `PhraseItem` (strict: `cues: 5`, a number for a phrase, an unknown
field are reported with the situation, the phrase and the field). The file is read with
`callassist.assist.yamlfile`: aliases (a "billion laughs" bomb), `!!python` tags and files over 1 MB
refuse the whole file with one line.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Sequence

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..errors import ConfigError
from ..resources import shipped
from ..core.text import words
from . import yamlfile

DEFAULT_PHRASES = shipped("content", "phrases.yaml")
SITUATIONS = ("angry", "frustrated", "confused", "worried", "waiting", "bad_news", "thanks",
              "closing", "neutral")
CUE_KINDS = ("anger", "confusion", "worry", "gratitude")
MAX_BYTES = 1_000_000  # a phrase file is a few kB; anything near this is not a phrase file


def _as_list(v):
    return [] if v is None else [v] if isinstance(v, str) else v


class PhraseItem(BaseModel):
    """The schema of one phrase in the file (a plain string is short for `text: ...`)."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    text: yamlfile.NonEmptyText  # what to say
    cues: Annotated[list[Literal[CUE_KINDS]], BeforeValidator(_as_list)] = []  # only on these
    after: Annotated[list[Annotated[str, BeforeValidator(yamlfile.number_as_text)]],
                     BeforeValidator(_as_list)] = []  # caller words after which it fits best


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
        try:
            if not path.exists():
                raise ConfigError(f"phrase file not found: {path} (choose another in the "
                                  f"settings or with --phrases)")
            if path.is_dir():
                raise ConfigError(f"{path} is a folder, not a phrase file: give a .yaml file")
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise ConfigError(f"{path} is {size / 1e6:.1f} MB, too big for a phrase file "
                                  f"(at most {MAX_BYTES // 1_000_000} MB): choose the right file")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} cannot be read ({exc.__class__.__name__}): save it as UTF-8 "
                              f"text") from None
        lib = cls(path)
        # Parse each top-level section on its own, so one broken section leaves the rest usable.
        # Aliases, tags and absurd sizes refuse the whole file (yamlfile.YamlRefused).
        budget = yamlfile.Budget()
        lines = text.splitlines()
        starts = [i for i, l in enumerate(lines) if re.match(r"^[A-Za-z_][\w-]*\s*:", l)]
        if not starts and text.strip():
            lib.problems.append(f"{path} line 1: no situations found (expected e.g. 'angry:')")
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            chunk = "\n" * start + "\n".join(lines[start:end])
            try:
                node = yamlfile.compose(chunk, str(path), budget=budget)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                # (libyaml marks the end of the input one line after the chunk's last)
                line = min(mark.line + 1, end) if mark else start + 1
                lib.problems.append(f"{path} line {line}: not valid YAML "
                                    f"({getattr(exc, 'problem', None) or exc}); section skipped")
                continue
            if node is None:
                continue
            if not isinstance(node, yaml.MappingNode):
                lib.problems.append(f"{path} line {start + 1}: expected 'situation:' followed by "
                                    f"a list of phrases; section skipped")
                continue
            for key_node, value_node in node.value:
                lib._load_section(key_node, value_node)
        if not any(lib.phrases.values()):
            raise ConfigError(f"{path} has no usable phrases: "
                              + ("; ".join(lib.problems[:3]) if lib.problems else "add some"))
        return lib

    def _load_section(self, key_node, value_node) -> None:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            self.problems.append(f"{self.path} line {line}: a situation name must be a word "
                                 f"(known: {', '.join(SITUATIONS)}); skipped")
            return
        name = str(key_node.value).strip().lower()
        if name not in SITUATIONS:
            self.problems.append(f"{self.path} line {line}: unknown situation "
                                 f"{yamlfile.short(name, 40)} (known: {', '.join(SITUATIONS)}); "
                                 f"skipped")
            return
        if not isinstance(value_node, yaml.SequenceNode):
            self.problems.append(f"{self.path} line {line}: '{name}' must be a list of phrases; skipped")
            return
        items = self.phrases.setdefault(name, [])
        for index, item in enumerate(value_node.value, 1):
            iline = item.start_mark.line + 1
            where = f"{self.path} line {iline}: {name} phrase {index}"
            try:
                data = yamlfile.construct(item, str(self.path))
            except yamlfile.YamlRefused as exc:  # e.g. a date that does not exist
                self.problems.append(f"{exc}; skipped")
                continue
            if isinstance(data, str):
                data = {"text": data}
            if not isinstance(data, dict):
                self.problems.append(f"{where}: a phrase must be text or a mapping with 'text' "
                                     f"(got {yamlfile.short(data)}); skipped")
                continue
            try:
                phrase = PhraseItem.model_validate(data)
            except ValidationError as exc:
                if any(e["loc"][:1] == ("text",) and e["type"] in ("missing", "value_error")
                       for e in exc.errors()):  # the usual slip, said as before
                    self.problems.append(f"{self.path} line {iline}: phrase has no text ({name} "
                                         f"phrase {index}: add 'text: ...'); skipped")
                else:
                    self.problems.append(f"{where}: "
                                         f"{yamlfile.schema_problem(exc, PhraseItem.model_fields)}"
                                         f"; skipped")
                continue
            items.append(Phrase(name, phrase.text, tuple(phrase.cues),
                                tuple(" ".join(words(a)) for a in phrase.after), iline))


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
