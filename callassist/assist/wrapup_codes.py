"""The wrap-up codes a call ends with, from an editable YAML list (content/wrapup_codes.yaml).

Each code has a label and a description, and optionally examples (what is said on such calls),
keywords (words of the caller's reason for calling that point to it), agent keywords (what the
agent says that settles it, e.g. a transfer makes the call ESCALATED), agent targets (who the
agent keywords must name, in the same turn or, for a handover that names no one else, in the
agent's two turns before: a team leader, not the payment line), `left_open` (a call the agent's
words give this code was handed on, so it is not resolved), a mood (a compliment is made in
a good mood) and the state of the caller's item (a fault on a new one, just delivered or out of
the box, is a damaged item; on one that worked before, a technical fault). A call's code is chosen by the agent keywords, or else by
the learned scorer of assist.wrapup_model from the caller's words: those keywords, the meaning
(the shared sentence encoder's similarity to each code's description and examples, embedded once
per process, `prepare`) and the mood; `choose` is the hand-written rule it replaced (keywords and
meaning of the reason alone), kept for comparison. When nothing fits, the fallback code (ENQUIRY).

The file is read with `assist.yamlfile` (safe, bounded) and checked strictly against `CodeItem`;
anything wrong is ONE line naming the file and the line (a ConfigError): a call must never end
with a code list that half loaded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal, Sequence

import numpy as np
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from ..core.rules import plain_text
from ..errors import ConfigError
from ..resources import shipped
from . import yamlfile

DEFAULT_CODES = shipped("content", "wrapup_codes.yaml")
MAX_BYTES = 1_000_000
KEYWORD_WEIGHT = 0.1  # one keyword of the reason counts as this much similarity ...
MAX_KEYWORDS = 3  # ... a phrase of several words twice as much; at most this many in all
PREPARE_BATCH = 4
MIN_SIMILARITY = 0.30  # a reason this far from every code, with no keyword, gets the fallback


def _code_name(v: str) -> str:
    v = v.strip()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", v):
        raise ValueError("must be one upper-case word such as DELIVERY or TECH_SUPPORT")
    return v


TextList = yamlfile.TextList


class CodeItem(BaseModel):
    """The schema of one wrap-up code in the file."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    code: Annotated[str, AfterValidator(_code_name)]
    label: yamlfile.NonEmptyText
    description: yamlfile.NonEmptyText
    examples: TextList = []
    keywords: TextList = []
    agent_keywords: TextList = []
    agent_targets: TextList = []
    mood: Literal["positive", "negative"] | None = None
    item: Literal["new", "used"] | None = None
    left_open: bool = False


def keyword_pattern(words: Sequence[str]) -> re.Pattern | None:
    """One regex over plain text for a list of keywords ("hasn't arrived", "reimburse*")."""
    alts = []
    for w in words:
        star = w.rstrip().endswith("*")
        plain = plain_text(w.rstrip().rstrip("*"))
        if plain:
            alts.append(re.escape(plain) + (r"\w*" if star else ""))
    if not alts:
        return None
    alts.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)")


@dataclass(frozen=True)
class WrapUpCode:
    code: str
    label: str
    description: str
    examples: tuple[str, ...] = ()
    keywords: re.Pattern | None = field(default=None, compare=False)
    agent_keywords: re.Pattern | None = field(default=None, compare=False)
    agent_targets: re.Pattern | None = field(default=None, compare=False)
    line: int = 0
    mood: str | None = None  # the caller's mood such calls start with, when it tells them apart
    left_open: bool = False  # the agent's words that settle it hand the call on: it is not resolved
    item: str | None = None  # "new" or "used": the caller's item such calls are about, when it tells them apart


@dataclass(frozen=True)
class Choice:
    code: WrapUpCode
    why: str
    utterances: tuple[int, ...]
    score: float


@dataclass
class WrapUpCodes:
    path: Path
    codes: list[WrapUpCode]
    fallback: str = "ENQUIRY"
    _prepared: tuple | None = field(default=None, repr=False)  # (embedder, vectors, owner index)

    # ---- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None) -> "WrapUpCodes":
        path = Path(path).expanduser() if path else DEFAULT_CODES
        text = yamlfile.read_content_file(path, "wrap-up code file", MAX_BYTES)
        where = str(path)
        root = yamlfile.compose_file(text, where)
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(f"{where} line {yamlfile.node_line(root)}: expected 'codes:' followed by a list "
                              f"of codes")
        top = {str(k.value): (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        unknown = [k for k in top if k not in ("codes", "fallback")]
        if unknown:
            k = top[unknown[0]][0]
            raise ConfigError(f"{where} line {yamlfile.node_line(k)}: unknown field {yamlfile.short(unknown[0], 40)}"
                              f" (known: codes, fallback)")
        if "codes" not in top or not isinstance(top["codes"][1], yaml.SequenceNode) \
                or not top["codes"][1].value:
            node = top["codes"][1] if "codes" in top else root
            raise ConfigError(f"{where} line {yamlfile.node_line(node)}: 'codes' must be a list of codes, each "
                              f"with code, label and description")
        codes: list[WrapUpCode] = []
        for index, item in enumerate(top["codes"][1].value, 1):
            codes.append(_read_code(item, index, where))
            if codes[-1].code in [c.code for c in codes[:-1]]:
                raise ConfigError(f"{where} line {codes[-1].line}: the code {codes[-1].code} is "
                                  f"listed twice: give each code once")
        fallback = "ENQUIRY" if any(c.code == "ENQUIRY" for c in codes) else codes[-1].code
        if "fallback" in top:
            key, node = top["fallback"]
            value = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else None
            if value not in [c.code for c in codes]:
                raise ConfigError(f"{where} line {yamlfile.node_line(node)}: fallback {yamlfile.short(value, 40)}"
                                  f" is not one of the codes ({', '.join(c.code for c in codes)})")
            fallback = value
        return cls(path, codes, fallback)

    @cached_property
    def reason_keywords(self) -> re.Pattern | None:
        """Every code's caller keywords in one pattern: words that say why someone called."""
        parts = [c.keywords.pattern for c in self.codes if c.keywords is not None]
        return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None

    def get(self, code: str) -> WrapUpCode:
        return next(c for c in self.codes if c.code == code)

    # ---- choosing ----------------------------------------------------------------------------
    def prepare(self, embedder) -> None:
        """Embed every code's description and examples (once per encoder, at load time)."""
        if embedder is None or (self._prepared and self._prepared[0] is embedder):
            return
        texts, owners = [], []
        for i, c in enumerate(self.codes):
            for t in (c.description, *c.examples):
                texts.append(t)
                owners.append(i)
        # a few texts at a time: the encoder runs small batches on one thread, which on a busy
        # 2-core machine is several times faster than one big batch on two (mood.threads)
        vectors = np.concatenate([np.asarray(embedder.encode(texts[i:i + PREPARE_BATCH]))
                                  for i in range(0, len(texts), PREPARE_BATCH)])
        self._prepared = (embedder, vectors, np.asarray(owners))

    def own_vectors(self, i: int) -> np.ndarray:
        """The description and examples of the i-th code, embedded (`prepare` first)."""
        _, vectors, owners = self._prepared
        return vectors[owners == i]

    def similarities(self, vector: np.ndarray, embedder) -> np.ndarray:
        """Each code's best similarity (description or an example) to an embedded text."""
        self.prepare(embedder)
        return self.code_similarities(vector)

    def code_similarities(self, vector: np.ndarray) -> np.ndarray:
        """The same, with the codes already prepared (`prepare`) for the text's encoder."""
        _, vectors, owners = self._prepared
        sims = vectors @ vector
        best = np.full(len(self.codes), -1.0)
        np.maximum.at(best, owners, sims)
        return best

    def agent_choice(self, agent: Sequence[tuple[int, str]],
                     before: dict[int, str] | None = None) -> Choice | None:
        """The code the agent's words settle whatever the caller wanted (a transfer to a team
        leader: ESCALATED), or None; `before`: what the caller said just before an agent turn."""
        plains = [plain_text(text) for _, text in agent]
        for k in range(len(agent) - 1, -1, -1):  # what the agent did last settles it
            uid, plain = agent[k][0], plains[k]
            asked = plain_text((before or {}).get(uid, ""))
            earlier = plains[max(0, k - LOOK_BACK):k]
            for c in self.codes:
                m = _said(c.agent_keywords, plain)
                # a transfer to the payment line is not an escalation: with targets, the agent
                # turn, or the caller's request it grants, must name one ("…put you through to
                # my team leader", "put me through to your supervisor"), or the agent's turns
                # just before did, for a transfer or callback that names no one else ("my team
                # leader has to approve that … I've booked a callback with her")
                if m and (c.agent_targets is None or c.agent_targets.search(plain)
                          or c.agent_targets.search(asked)
                          or _handed_on(m, plain, earlier, c.agent_targets)):
                    return Choice(c, f"the agent said “{m.group()}”", (uid,), 1.0)
        return None

    def choose(self, reason: Sequence[tuple[int, str]], reason_vector: np.ndarray | None = None,
               embedder=None) -> Choice:
        """The code of a call from its reason for calling (caller (id, text)), for a call whose
        agent's words settle none (`agent_choice` first); `reason_vector` is the reason embedded
        with `embedder` (None: keywords only)."""
        plain = plain_text(" ".join(t for _, t in reason))
        hits = [sorted({m.group() for m in c.keywords.finditer(plain)}) if c.keywords else []
                for c in self.codes]
        sims = (self.similarities(reason_vector, embedder)
                if reason_vector is not None and embedder is not None else np.zeros(len(self.codes)))
        # a phrase of several words says more than one word; the agent-only codes never compete
        weight = np.array([min(sum(2 if " " in h else 1 for h in hit), MAX_KEYWORDS)
                           for hit in hits], dtype=float)
        scores = sims + KEYWORD_WEIGHT * weight
        scores[[c.agent_keywords is not None and c.keywords is None for c in self.codes]] = -9.0
        best = int(np.argmax(scores))
        ids = tuple(uid for uid, _ in reason)
        if not hits[best] and sims[best] < MIN_SIMILARITY:
            return Choice(self.get(self.fallback), "nothing the caller said fits another code",
                          ids, float(scores[best]))
        why = []
        if hits[best]:
            why.append("the caller said " + ", ".join(f"“{h}”" for h in hits[best][:3]))
        if reason_vector is not None and embedder is not None:
            why.append(f"meaning {sims[best]:.2f} like “{self.codes[best].description}”")
        return Choice(self.codes[best], "; ".join(why), ids, float(scores[best]))


NOT_DONE = re.compile(r"\b(?:can't|cant|cannot|can not|couldn't|couldnt|unable to|not able to|won't be able to|"
                      r"wont be able to|don't|dont|no way to|there's no|theres no)\s+(?:\w+\s+){0,2}$")
SELF = re.compile(r"\b(?:i'll|i will|ill|i'm going to|im going to|i can|i could|let me|i'd|id|we'll|we will|"
                  r"well)\s+(?:\w+\s+)?$")  # the agent's own callback ("I'll ring you as soon as…")
HANDOVER = re.compile(r"transfer|through|over|pass|hand|call|ring|phone|book")
DESTINATION = re.compile(r"\s+(?:\w+\s+)?to\s+(?!them|him|her\b)(\w+(?:\s+\w+)?)")
NAMED_PLACE = re.compile(r"\b(?:over|through|across)\s+to\s+(?:the|our|a)\s+\w+")
LOOK_BACK = 2  # agent turns before a handover that may name who it goes to


# a hand-on only if something happens ("if they've started, I'll get a team leader to ring you",
# "if we get cut off while I'm putting you through, I'll ring you straight back"): the words just
# before, back to the start of the condition's clause
IF_SO = re.compile(r"\b(?:if|unless|in case)\b(?:\s+\S+){1,9}\s*$")


def _said(pattern: re.Pattern | None, plain: str) -> re.Match | None:
    """The last match of the keywords in the text that is not said as not done ("I can't put
    you through to them"), nor the agent's own call back ("I'll ring you as soon as I hear"),
    nor only if something happens ("if they've started, I'll get a team leader to ring you"),
    or None."""
    if pattern is None:
        return None
    found = [m for m in pattern.finditer(plain)
             if not NOT_DONE.search(plain[max(0, m.start() - 40):m.start()])
             and not (re.match(r"(?:call|ring|phone) you", m.group())
                      and SELF.search(plain[max(0, m.start() - 30):m.start()]))
             and not IF_SO.search(plain[max(0, m.start() - 60):m.start()])]
    return found[-1] if found else None


def _handed_on(m: re.Match, plain: str, earlier: Sequence[str], targets: re.Pattern) -> bool:
    """A transfer or callback that does not say to whom ("please hold while I transfer you",
    "she'll ring you this afternoon"), or names someone the agent's turns just before called a
    target ("I'll get my team leader, Mr Okafor … putting you through to Mr Okafor now"): those
    turns named a target, or the transfer names nobody at all. A transfer to somewhere named
    ("to the payment line"), here or just before ("I'll pop you over to our secure payment
    line … putting you through now"), is not one."""
    if not HANDOVER.search(m.group()):
        return False
    dest = DESTINATION.match(plain[m.end():])
    named_before = [e for e in earlier if targets.search(e)]
    if dest is not None:  # a destination named here: a target only by a name said just before
        name = dest.group(1)
        return any(re.search(rf"\b{re.escape(name)}\b", e) for e in named_before) \
            and not re.match(r"(?:the|our|a|an|your|my)\b", name)
    if named_before:
        return True
    # nobody named here or just before: a plain transfer, unless it goes on to a named place
    return bool(re.search(r"transfer|through|over|pass|hand", m.group())) \
        and not any(NAMED_PLACE.search(e) for e in earlier[-1:])


def _read_code(node, index: int, where: str) -> WrapUpCode:
    line = yamlfile.node_line(node)
    data = yamlfile.construct(node, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} line {line}: wrap-up code {index} must be a mapping with code, "
                          f"label and description (got {yamlfile.short(data)})")
    try:
        item = CodeItem.model_validate(data)
    except ValidationError as exc:
        line = yamlfile.field_line(node, exc)  # the line of the field at fault
        name = data.get("code") if isinstance(data.get("code"), str) else index
        raise ConfigError(f"{where} line {line}: wrap-up code {name}: "
                          f"{yamlfile.schema_problem(exc, CodeItem.model_fields)}") from None
    return WrapUpCode(item.code, item.label, item.description, tuple(item.examples),
                      keyword_pattern(item.keywords), keyword_pattern(item.agent_keywords),
                      keyword_pattern(item.agent_targets), line, item.mood, item.left_open, item.item)


@lru_cache(maxsize=1)
def default_codes() -> WrapUpCodes:
    """The shipped code list, read once per process."""
    return WrapUpCodes.load()
