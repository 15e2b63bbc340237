"""The centre's own rules: what to look for in a call, written as data (content/rules.yaml).

A rule says what is (or is not) said, by whom, when, with what mood, and what follows:

    - id: no_greeting                       # one word: scorecards and the editor name it
      name: No greeting with the company name
      speaker: agent                        # agent | customer | any (default)
      said: ["thank you for calling", "thanks for calling *", "you're through to *"]
      not_said: true                        # the rule matches when none of it is said ...
      within: {first: 30}                   # ... in the first 30 s ({last: 60}, {from: 60, to: 120})
      then: {alert: "Greet the caller with the company name", severity: medium,
             category: Greeting missed, flag: 1}

`said` phrases are matched on plain words (lower case, no punctuation, "don't" = "dont"), a `*`
stands for one to three words, `(a|b|c)` for any one of those words, and a negation just before
a phrase ("I don't want to cancel") cancels it, unless `negation: false` (an agent's "isn't there
anything else?" still asks); `unless` phrases in the same utterance cancel a match ("thank you for
calling" is not a thank-you at the end when it comes with "how can I help"). `means` matches by
meaning instead: the shared sentence encoder's similarity of an utterance to the text, at least
`threshold`. `detector` names a built-in test written in code (assist.detectors) where phrases
cannot say it: the caller's cues ("asks_for_senior", "fed_up", ...), the state of the call
("furious_run", "sustained_negative", "no_knowledge") and the flagged moments ("silence",
"mood_drop", ...). Conditions: the caller's mood at the time (`mood_below`, `mood_above`), their
intensity (`intensity: angry` = angry or worse), and over the call: a silence longer than
`silence_over` seconds, the talk/listen ratio (`talk_ratio_above`, `talk_ratio_below`),
interruptions (`interruptions_at_least`). A rule with only mood conditions matches at the first
utterance where they hold. Each rule matches once per call unless `every: true`.

Actions (`then`): a live alert on the panel with a severity, a category of the call, a flagged
moment (severity 1-3; `graded` for a moment detector, which grades each moment), a cue in the
caller's mood reading (`cue: anger`, given at every utterance it is found in), advice to transfer
the call (`escalate: TRIGGER`), a tick on the close-the-call checklist (`checklist: LABEL`).
Scorecards (assist.scorecard) answer their questions from which rules matched, with the matches
as evidence.

Built-in rules (content/builtin_rules.yaml: the cues, escalation advice, checklist and flags)
run with the centre's file on this one engine (`Rulebook.for_centre`); a centre rule with a
built-in's id takes its place, which is how a built-in is switched off or changed.

The file is read with `assist.yamlfile` (safe, bounded). A broken rule is skipped with one line
naming the file, the line and the fault (`problems`); the rest still load. A file that is not a
rules file at all is one ConfigError line.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Iterable, Literal, Sequence

import numpy as np
import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field,
                      ValidationError, model_validator)

from ..core.events import (CUSTOMER, CallMetrics, ChecklistItem, EscalationAdvice, Event,
                           MoodState, RuleMatch, Utterance)
from ..core.rules import Phrases, plain_text
from ..errors import CallAssistError, ConfigError
from ..resources import shipped
from ..mood.cues import DETECTORS as CUE_KINDS, Cue, detect_cues
from . import detectors, yamlfile
from .escalation import EscalationSettings

log = logging.getLogger(__name__)
DEFAULT_RULES = shipped("content", "rules.yaml")
BUILTIN_RULES = shipped("content", "builtin_rules.yaml")
REPLACED_RULES = shipped("content", "builtin_rules_replaced.yaml")
LEGACY_CHECKLIST = {"thanks": "checklist_thanks"}  # calls stored before the checklist was rules
MAX_BYTES = 1_000_000
# heat of the caller's words (mood.tracker): the least of each intensity label
INTENSITY = {"annoyed": 0.0, "frustrated": 0.9, "angry": 1.6, "furious": 2.3}


def _rule_id(v: str) -> str:
    return yamlfile.lower_word(v, "no_greeting or asks_manager")


def _detector(v: str) -> str:
    if detectors.kind_of(v) is None:
        raise ValueError(f"{v[:40]!r} is not a built-in detector (known: "
                         f"{', '.join(detectors.known())})")
    return v


Text = yamlfile.Text


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    first: float | None = Field(None, gt=0)
    last: float | None = Field(None, gt=0)
    start: float | None = Field(None, ge=0, alias="from")
    to: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [self.first is not None, self.last is not None,
                 self.start is not None or self.to is not None]
        if sum(kinds) != 1:
            raise ValueError("give one of {first: S}, {last: S} or {from: S, to: S}")
        if self.start is not None and self.to is not None and self.to <= self.start:
            raise ValueError("'to' must come after 'from'")
        return self

    def describe(self) -> str:
        if self.first is not None:
            return f"in the first {self.first:g} s"
        if self.last is not None:
            return f"in the last {self.last:g} s"
        return f"between {self.start or 0:g} s and {self.to:g} s" if self.to else \
            f"after {self.start:g} s"


class Then(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    alert: Text | None = None
    severity: Literal["low", "medium", "high"] = "medium"
    category: Text | None = None
    flag: Annotated[int, Field(ge=0, le=3)] | Literal["graded"] = 0
    cue: Literal["anger", "confusion", "worry", "gratitude"] | None = None
    escalate: Annotated[str, AfterValidator(_rule_id)] | None = None
    checklist: Text | None = None

    @property
    def only_cue(self) -> bool:
        """Whether the rule's one action is a cue (it colours the mood; no event of its own)."""
        return self.cue is not None and not (self.alert or self.category or self.flag
                                             or self.escalate or self.checklist)


class RuleItem(BaseModel):
    """The schema of one rule in the file."""
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, AfterValidator(_rule_id)]
    name: Text
    enabled: bool = True
    speaker: Literal["agent", "customer", "any"] = "any"
    said: yamlfile.TextList = []
    # a built-in test (assist.detectors) where phrases cannot say it; instead of said / means
    detector: Annotated[str, AfterValidator(_detector)] | None = None
    unless: yamlfile.TextList = []  # phrases that cancel a match in the same utterance
    means: Text | None = None
    threshold: float = Field(0.55, ge=0.3, le=0.95)  # MiniLM: paraphrases ~0.55-0.8
    not_said: bool = False
    negation: bool = True  # a negation just before a phrase cancels it ("I don't want to cancel")
    within: Window | None = None
    mood_below: float | None = Field(None, ge=-1, le=1)
    mood_above: float | None = Field(None, ge=-1, le=1)
    intensity: Literal["annoyed", "frustrated", "angry", "furious"] | None = None
    silence_over: float | None = Field(None, gt=0)
    talk_ratio_above: float | None = Field(None, ge=0)
    talk_ratio_below: float | None = Field(None, gt=0)
    interruptions_at_least: int | None = Field(None, ge=1)
    every: bool = False
    then: Then = Then()

    @model_validator(mode="after")
    def _something_to_match(self):
        words = bool(self.said) or self.means is not None or self.detector is not None
        conditions = [self.mood_below, self.mood_above, self.intensity, self.silence_over,
                      self.talk_ratio_above, self.talk_ratio_below, self.interruptions_at_least]
        if not words and all(c is None for c in conditions):
            raise ValueError("say what to look for: said, means, detector, or a condition "
                             "(mood_below, intensity, silence_over, ...)")
        if self.not_said and not words:
            raise ValueError("not_said needs said, means or a detector: what is it that is not "
                             "said?")
        if (self.then.escalate or self.then.checklist) and (self.not_said or not words):
            raise ValueError("escalate and checklist follow something said: give said, means or "
                             "a detector (and no not_said)")
        then = self.then
        if self.detector is not None:
            kind = detectors.kind_of(self.detector)
            if kind == "moment":
                extra = [k for k in self.model_fields_set
                         if k not in ("id", "name", "enabled", "detector", "then")]
                if extra or set(then.model_fields_set) - {"flag"} or then.flag != "graded":
                    raise ValueError(f"the {self.detector} detector reads the whole call and "
                                     f"grades each moment itself: give it only "
                                     f"then: {{flag: graded}}")
            elif self.said or self.means is not None:
                raise ValueError("give said/means or a detector, not both")
            if kind == "state" and self.speaker == "agent":
                raise ValueError(f"the {self.detector} detector reads the caller: speaker must be "
                                 f"customer")
            if kind == "cue" and then.cue not in (None, CUE_KINDS[self.detector]):
                raise ValueError(f"the {self.detector} detector's cue is "
                                 f"{CUE_KINDS[self.detector]}, not {then.cue}")
        if then.flag == "graded" and detectors.kind_of(self.detector or "") != "moment":
            raise ValueError("flag: graded is for the moment detectors (mood_drop, silence, ...);"
                             " give a severity 1-3")
        if then.cue is not None:
            if self.speaker != "customer":
                raise ValueError("a cue reads the caller's words: give speaker: customer")
            if self.means is not None or self.not_said or self.within is not None or any(
                    c is not None for c in conditions):
                raise ValueError("a cue is given as each caller utterance comes: give it said "
                                 "phrases or a cue detector only (no means, not_said, within "
                                 "or conditions)")
            if self.detector is not None and detectors.kind_of(self.detector) != "cue":
                raise ValueError(f"the {self.detector} detector gives no cue")
        return self


def phrase_pattern(phrase: str) -> str:
    """A phrase as a regex over plain words; `*` is one to three words, `(a|b)` either word."""
    parts = []
    for token in phrase.split():
        if token == "*":
            parts.append(r"\w+(?: \w+){0,2}")
        elif token.startswith("(") and token.endswith(")") and "|" in token:
            words = [w for w in (plain_text(a) for a in token[1:-1].split("|")) if w]
            if words:
                parts.append("(?:" + "|".join(re.escape(w) for w in words) + ")")
        else:
            plain = plain_text(token.replace("*", " "))
            if plain:
                parts.append(re.escape(plain) + (r"\w*" if token.endswith("*") else ""))
    return " ".join(parts)


@dataclass
class Rule:
    item: RuleItem
    line: int
    phrases: Phrases | None = None
    vector: np.ndarray | None = field(default=None, repr=False)
    unless: Phrases | None = None
    builtin: bool = False  # one of content/builtin_rules.yaml, as shipped

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def detector(self) -> str | None:
        """'cue', 'state' or 'moment' for a rule with a built-in detector, else None."""
        return detectors.kind_of(self.item.detector) if self.item.detector else None

    def cancelled(self, text: str) -> bool:
        """Whether an `unless` phrase in the utterance cancels a match in it."""
        return self.unless is not None and self.unless.find(text) is not None

    @property
    def metric(self) -> bool:
        """Whether it needs the whole call's figures (decided at hang-up)."""
        i = self.item
        return any(v is not None for v in (i.silence_over, i.talk_ratio_above,
                                           i.talk_ratio_below, i.interruptions_at_least))

    @property
    def words(self) -> bool:
        """Whether it looks at what is said (phrases, meaning, or an utterance's detector)."""
        return (self.phrases is not None or self.item.means is not None
                or self.detector in ("cue", "state"))

    def in_window(self, t: float, duration: float | None) -> bool | None:
        """Whether time `t` is inside the rule's window (None: not known until the call ends)."""
        w = self.item.within
        if w is None:
            return True
        if w.first is not None:
            return t <= w.first
        if w.last is not None:
            return None if duration is None else t >= duration - w.last
        return (w.start is None or t >= w.start) and (w.to is None or t <= w.to)

    def window_closed(self, now: float) -> bool:
        w = self.item.within
        return w is not None and (w.first is not None and now > w.first
                                  or w.to is not None and now > w.to)

    def mood_ok(self, mood: MoodState | None) -> bool:
        i = self.item
        if i.mood_below is None and i.mood_above is None and i.intensity is None:
            return True
        if mood is None:
            return False
        return ((i.mood_below is None or mood.score <= i.mood_below)
                and (i.mood_above is None or mood.score >= i.mood_above)
                and (i.intensity is None or mood.intensity >= INTENSITY[i.intensity]))


@dataclass
class Rulebook:
    path: Path
    rules: list[Rule]
    problems: list[str] = field(default_factory=list)
    _embedder: object = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Rulebook":
        path = Path(path).expanduser() if path else DEFAULT_RULES
        where = str(path)
        text = yamlfile.read_content_file(path, "rules file", MAX_BYTES)
        root = yamlfile.compose_file(text, where)
        if root is None:
            return cls(path, [])
        top = ({str(k.value): v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
               if isinstance(root, yaml.MappingNode) else {})
        node = top.get("rules")
        if not isinstance(node, yaml.SequenceNode) or set(top) - {"rules"}:
            raise ConfigError(f"{where} line {yamlfile.node_line(root)}: a rules file is "
                              f"'rules:' followed by a list of rules (each with id, name and "
                              f"what to look for)")
        rules, problems, seen = [], [], set()
        for index, item in enumerate(node.value, 1):
            try:
                rule = _read_rule(item, index, where)
            except ConfigError as exc:
                if isinstance(exc, yamlfile.YamlRefused):
                    raise
                problems.append(str(exc))
                continue
            if rule.id in seen:
                problems.append(f"{where} line {rule.line}: the rule id {rule.id} is used twice: "
                                f"the second one is skipped")
                continue
            seen.add(rule.id)
            rules.append(rule)
        return cls(path, rules, problems)

    @classmethod
    def builtin(cls) -> "Rulebook":
        """The built-in rules alone (content/builtin_rules.yaml): cues, escalation advice, the
        close-the-call checklist and the flagged moments. Read once per process."""
        return _builtin_book()

    @classmethod
    def for_centre(cls, path: str | Path | None = None) -> "Rulebook":
        """The rules a call runs: the built-in ones, then the centre's file (default: the
        shipped content/rules.yaml). A centre rule with a built-in rule's id takes its place (how
        a centre switches a built-in off or changes what it does); built-ins it does not name
        stay, so a program update brings new ones to an old file."""
        base, own = cls.builtin(), cls.load(path)
        old = _replaced()
        # a copy of a rule shipped before it became a built-in is not the centre's change
        mine = {r.id: r for r in own.rules
                if not (r.id in old and rule_to_dict(r.item) == old[r.id])}
        problems = list(own.problems)
        for b in base.rules:
            r = mine.get(b.id)
            lost = [k for k in ("detector", "cue", "escalate", "checklist")
                    if r is not None and r.item.enabled and _action(b, k) and not _action(r, k)]
            if lost:
                problems.append(f"{own.path} line {r.line}: rule {r.id} takes the place of the "
                                f"built-in rule without its {', '.join(lost)} (give it another "
                                f"id to keep the built-in)")
        rules = [mine.pop(r.id, r) for r in base.rules]
        rules += [r for r in own.rules if mine.get(r.id) is r]
        return cls(own.path, rules, problems)

    def get(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def cue_detector(self):
        """The caller's cues as the mood tracker reads them: what the active rules with a
        `cue` give (`detect(text, history) -> [Cue]`), None when no rule gives one."""
        cue_rules = [r for r in self.active if r.item.then.cue]
        names = frozenset(r.item.detector for r in cue_rules if r.item.detector and not r.unless)
        guarded = [r for r in cue_rules if r.item.detector and r.unless]
        phrased = [r for r in cue_rules if r.phrases is not None]
        if not cue_rules:
            return None

        def detect(text: str, history=()) -> list:
            cues = detect_cues(text, history, only=names) if names else []
            for r in guarded:  # a detector whose rule says when it does not count
                if not r.cancelled(text):
                    cues += detect_cues(text, history, only={r.item.detector})
            for r in phrased:
                hit = r.phrases.find(text)
                if hit and not r.cancelled(text):
                    cues.append(Cue(r.item.then.cue, hit, r.item.name, 0.7))
            return cues
        return detect

    def checklist(self) -> list[tuple[str, str]]:
        """(rule id, label) of the close-the-call checklist: the active rules that tick it."""
        return [(r.id, r.item.then.checklist) for r in self.active if r.item.then.checklist]

    def checklist_ticks(self, ticks: Iterable[ChecklistItem]) -> list[tuple[str, str, object]]:
        """(item, label, its tick or None) for each checklist item, this rulebook's first, then
        items a call was ticked by that it no longer has (a rule since removed)."""
        done: dict[str, ChecklistItem] = {}
        for c in ticks:
            if c.done:
                done.setdefault(LEGACY_CHECKLIST.get(c.item, c.item), c)
        out = [(item, label, done.pop(item, None)) for item, label in self.checklist()]
        return out + [(item, c.label, c) for item, c in done.items()]

    def moment_kinds(self) -> list[str]:
        """The moment detectors (flag kinds) the active rules switch on."""
        return [r.item.detector for r in self.active if r.detector == "moment"]

    @property
    def active(self) -> list[Rule]:
        return [r for r in self.rules if r.item.enabled]

    def prepare(self, embedder) -> None:
        """Embed the `means` texts (once per encoder)."""
        if embedder is None or self._embedder is embedder:
            return
        meaning = [r for r in self.rules if r.item.means is not None]
        if meaning:
            vectors = np.asarray(embedder.encode([r.item.means for r in meaning]))
            for r, v in zip(meaning, vectors):
                r.vector = v
        self._embedder = embedder


def _action(rule: Rule, what: str):
    return rule.item.detector if what == "detector" else getattr(rule.item.then, what)


@lru_cache(maxsize=1)
def _replaced() -> dict[str, dict]:
    return {r.id: rule_to_dict(r.item) for r in Rulebook.load(REPLACED_RULES).rules}


@lru_cache(maxsize=1)
def _builtin_book() -> Rulebook:
    book = Rulebook.load(BUILTIN_RULES)
    if book.problems:  # shipped with the program: a broken one is a bug, said loudly
        raise ConfigError(book.problems[0])
    for r in book.rules:
        r.builtin = True
    return book


def _read_rule(node, index: int, where: str) -> Rule:
    line = yamlfile.node_line(node)
    data = yamlfile.construct(node, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} line {line}: rule {index} must be a mapping with id, name "
                          f"and what to look for (got {yamlfile.short(data)})")
    try:
        item = RuleItem.model_validate(data)
    except ValidationError as exc:
        name = data.get("id") if isinstance(data.get("id"), str) else index
        raise ConfigError(f"{where} line {yamlfile.field_line(node, exc)}: rule {name}: "
                          f"{yamlfile.schema_problem(exc, RuleItem.model_fields)}") from None
    return _compiled(item, line)


def rule_from_dict(data, where: str = "rule", line: int = 0) -> Rule:
    """A rule from plain values (the rules editor's text), checked as in the file."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a rule is a mapping with id, name and what to look for "
                          f"(got {yamlfile.short(data)})")
    try:
        item = RuleItem.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {yamlfile.schema_problem(exc, RuleItem.model_fields)}") \
            from None
    return _compiled(item, line)


def _compiled(item: RuleItem, line: int) -> Rule:
    """A checked rule with its phrases compiled (one regex over plain words)."""
    source = "|".join(p for p in (phrase_pattern(s) for s in item.said) if p)
    phrases = Phrases(item.id, source, negatable=item.negation) if source else None
    unless = "|".join(p for p in (phrase_pattern(s) for s in item.unless) if p)
    return Rule(item, line, phrases, unless=Phrases(item.id, unless, negatable=False)
                if unless else None)


def rule_to_dict(item: RuleItem) -> dict:
    """A rule as plain values for the file (only what differs from the defaults)."""
    return item.model_dump(by_alias=True, exclude_defaults=True)


def save_rules(path: str | Path, rules: Sequence[dict]) -> None:
    """Write a rules file (owner-only), every rule checked first: nothing broken is saved."""
    from ..paths import private_dir, write_private
    for i, data in enumerate(rules, 1):
        rule_from_dict(data, f"rule {i}")
    private_dir(Path(path).parent)  # a fresh machine has no config folder yet
    header = ("# The centre's rules (written by the CallAssist rules editor; see "
              "callassist/assist/rulebook.py for every field).\n")
    text = header + yaml.safe_dump({"rules": list(rules)}, sort_keys=False, allow_unicode=True,
                                   width=100)
    write_private(Path(path), text.encode("utf-8"))


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Rulebook:
    return Rulebook.for_centre(path)


def rules_or_builtin(path: str | Path | None = None) -> Rulebook:
    """`load_rules(path)`, or the built-in rules alone when the centre's file cannot be read
    (said in the log): the checklist and the flags go on without the centre's rules."""
    try:
        return load_rules(path)
    except CallAssistError as exc:
        log.warning("the built-in rules only: %s", exc)
        return Rulebook.builtin()


def load_rules(path: str | Path | None = None) -> Rulebook:
    """The built-in rules and the centre's at `path` (default: the shipped ones), read again
    only when the file changed."""
    p = Path(path).expanduser() if path else DEFAULT_RULES
    try:
        mtime = p.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _cached(str(p), mtime)


# ---- one call ----------------------------------------------------------------------------------------

class RuleRunner:
    """Applies a rulebook to one call: `on_utterance` as each utterance is final (live matches:
    what is said, with the mood at the time), `finish` at hang-up (what was never said, and
    conditions on the whole call). A match is a RuleMatch event, and the advice to transfer
    (`escalate`) or the checklist tick (`checklist`) its rule asks for; a rule whose one action
    is a cue gives no event (the cue is in the caller's mood reading)."""

    def __init__(self, book: Rulebook, embedder=None, caller: str = CUSTOMER,
                 escalation: EscalationSettings | None = None, cues: bool = False):
        self.book = book
        self.active = [r for r in book.active if (cues or not r.item.then.only_cue)
                       and r.detector != "moment"]
        self.embedder = embedder if any(r.item.means for r in self.active) else None
        if self.embedder is not None:
            book.prepare(self.embedder)
        self.caller = caller
        self.state = detectors.CallState(escalation or EscalationSettings())
        self.history: list[str] = []  # the caller's earlier utterances (cue detectors)
        self.fired: dict[str, int] = {}  # rule id -> matches so far
        self.said: dict[str, list[tuple[Utterance, str]]] = {}  # word rules: what matched
        self.closed: set[str] = set()  # not-said rules already decided
        self.mood: MoodState | None = None
        self.now = 0.0

    def _role(self, utt: Utterance) -> str:
        return "customer" if utt.speaker == self.caller else "agent"

    def _find(self, rule: Rule, utt: Utterance, vector: np.ndarray | None,
              states: dict[str, str]) -> str | None:
        hit = None
        kind = rule.detector
        if kind == "cue":
            cues = detect_cues(utt.text, self.history, only={rule.item.detector})
            hit = detectors.cue_reason(rule.item.detector, cues[0].trigger) if cues else None
        elif kind == "state":
            hit = states.get(rule.item.detector)
        if hit is None and rule.phrases is not None:
            hit = rule.phrases.find(utt.text)
        if hit is None and rule.item.means is not None and vector is not None \
                and rule.vector is not None:
            sims = vector @ rule.vector  # each sentence of the utterance
            best = int(np.argmax(sims))
            if float(sims[best]) >= rule.item.threshold:
                hit = (f"{self._sentences[best]} (means “{rule.item.means}”, "
                       f"{float(sims[best]):.2f})")
        return None if hit is None or rule.cancelled(utt.text) else hit

    def _match(self, rule: Rule, time: float, evidence: str, utt: Utterance | None) -> list[Event]:
        self.fired[rule.id] = self.fired.get(rule.id, 0) + 1
        then = rule.item.then
        out: list[Event] = [RuleMatch(
            time=round(time, 3), rule=rule.id, name=rule.item.name,
            speaker=utt.speaker if utt else None, utterance_id=utt.id if utt else None,
            evidence=evidence, alert=then.alert or "", severity=then.severity,
            category=then.category or "", flag=then.flag if isinstance(then.flag, int) else 0)]
        if utt is not None and then.escalate:
            why = evidence if rule.detector else f"{rule.item.name} (“{evidence}”)"
            out.append(EscalationAdvice(time=round(time, 3), utterance_id=utt.id,
                                        trigger=then.escalate, reason=why))
        if utt is not None and then.checklist:
            out.append(ChecklistItem(time=round(time, 3), utterance_id=utt.id, item=rule.id,
                                     label=then.checklist, done=True, evidence=evidence))
        return out

    def _can_fire(self, rule: Rule) -> bool:
        return rule.item.every or rule.id not in self.fired

    def on_mood(self, mood: MoodState | None) -> None:
        if mood is not None:
            self.mood = mood

    def on_utterance(self, utt: Utterance, mood: MoodState | None = None, *,
                     problem: bool = False, answered: bool | None = None) -> list[Event]:
        """The matches of this final utterance. For the caller's: `mood` after it, and whether
        it raised a problem (`problem`) the knowledge base answers (`answered`)."""
        self.on_mood(mood)
        self.now = max(self.now, utt.end)
        out = self._close_windows(utt.start)
        vector = None
        if self.embedder is not None:  # by meaning: sentence by sentence, so one sentence of a
            # long utterance ("I've been on hold for 20 minutes") is not drowned by the rest
            self._sentences = _sentences(utt.text)
            vector = np.asarray(self.embedder.encode(self._sentences))
        role = self._role(utt)
        states = {}
        if role == "customer":
            states = self.state.caller_said(
                utt.end, mood.score if mood else None, bool(mood and mood.label == "furious"),
                problem, answered if problem else None)
        for rule in self.active:
            i = rule.item
            if i.speaker not in ("any", role):
                continue
            inside = rule.in_window(utt.start, None)
            if inside is False:
                continue
            if not rule.words:  # mood conditions only: the first utterance where they hold
                if inside and not rule.metric and rule.mood_ok(self.mood) and self._can_fire(rule):
                    out += self._match(rule, utt.end, f"{self.mood.label} "
                                       f"({self.mood.score:+.2f}) at “{_short(utt.text)}”", utt)
                continue
            hit = self._find(rule, utt, vector, states)
            if hit is None or not rule.mood_ok(self.mood):
                continue
            self.said.setdefault(rule.id, []).append((utt, hit))
            if i.not_said or rule.metric or inside is None:
                continue  # decided when its window closes or the call ends
            if self._can_fire(rule):
                out += self._match(rule, utt.end, hit, utt)
        if role == "customer":
            self.history.append(utt.text)
        return out

    def _close_windows(self, now: float) -> list[Event]:
        """Not-said rules whose window (the first N seconds, up to `to`) has passed."""
        out = []
        for rule in self.active:
            if rule.item.not_said and rule.id not in self.closed and rule.window_closed(now):
                self.closed.add(rule.id)
                if not self.said.get(rule.id) and not rule.metric:
                    w = rule.item.within
                    end = w.first if w.first is not None else w.to
                    out += self._match(rule, end, f"not said {w.describe()}", None)
        return out

    def finish(self, duration: float, metrics: CallMetrics | None = None) -> list[Event]:
        out: list[Event] = []
        for rule in self.active:
            i = rule.item
            if rule.metric:
                found = self._metric(rule, metrics, duration)
                if found is None:
                    continue
                time, why = found
                if rule.words:
                    said = [(u, h) for u, h in self.said.get(rule.id, [])
                            if rule.in_window(u.start, duration)]
                    if bool(said) == i.not_said:
                        continue
                    if said:
                        u, h = said[0]
                        out += self._match(rule, u.end, f"{h}; {why}", u)
                        continue
                if self._can_fire(rule):
                    out += self._match(rule, time, why, None)
                continue
            if not rule.words:
                continue
            said = [(u, h) for u, h in self.said.get(rule.id, [])
                    if rule.in_window(u.start, duration)]
            if i.not_said:
                if rule.id in self.closed:
                    continue
                self.closed.add(rule.id)
                if not said:
                    where = i.within.describe() if i.within else "in the call"
                    out += self._match(rule, duration, f"not said {where}", None)
            elif i.within is not None and i.within.last is not None:
                for u, h in said:  # "in the last minute": known now
                    if self._can_fire(rule):
                        out += self._match(rule, u.end, h, u)
        return out

    def _metric(self, rule: Rule, m: CallMetrics | None, duration: float) -> tuple[float, str] | None:
        """(time, why) when the rule's conditions on the whole call hold, else None."""
        if m is None:
            return None
        i = rule.item
        time, whys = duration, []
        if i.silence_over is not None:
            long = [(a, b) for a, b in m.long_silences
                    if b - a > i.silence_over and rule.in_window(a, duration)]
            if not long:
                return None
            time = long[0][0]
            whys.append(f"silence of {long[0][1] - long[0][0]:.0f} s")
        ratio = m.talk_listen_ratio
        if i.talk_ratio_above is not None:
            if ratio is None or ratio <= i.talk_ratio_above:
                return None
            whys.append(f"talk/listen ratio {ratio:.2f}")
        if i.talk_ratio_below is not None:
            if ratio is None or ratio >= i.talk_ratio_below:
                return None
            whys.append(f"talk/listen ratio {ratio:.2f}")
        if i.interruptions_at_least is not None:
            counts = m.interruptions
            n = (sum(counts.values()) if i.speaker == "any"
                 else counts.get("agent" if i.speaker == "agent" else self.caller, 0))
            if n < i.interruptions_at_least:
                return None
            whys.append(f"{n} interruptions")
        return time, ", ".join(whys)


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]
    return parts or [text.strip() or "."]


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def evaluate(book: Rulebook, events: Sequence[Event], duration: float, embedder=None,
             caller: str = CUSTOMER, rules: Iterable[str] | None = None,
             cues: bool = False) -> list[RuleMatch]:
    """The rules' matches on a whole stored call (its events in order): what the live runner
    would have found. `rules`: only these ids; `cues`: the matches of rules that only give a cue
    too (testing a rule in the editor)."""
    if rules is not None:
        wanted = set(rules)
        book = Rulebook(book.path, [r for r in book.rules if r.id in wanted], [],
                        book._embedder)
    runner = RuleRunner(book, embedder, caller, cues=cues)
    moods = {e.utterance_id: e for e in events if isinstance(e, MoodState)}
    out: list[RuleMatch] = []
    metrics = None
    for e in events:
        if isinstance(e, Utterance):
            out += runner.on_utterance(e, moods.get(e.id))
        elif isinstance(e, CallMetrics):
            metrics = e
    return [m for m in out + runner.finish(duration, metrics) if isinstance(m, RuleMatch)]
