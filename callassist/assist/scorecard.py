"""QA scorecards: the centre's evaluation form as data (content/scorecard.yaml), answered from rules.

    name: Customer care QA
    sections:
      - name: Opening
        questions:
          - id: greeting
            text: Greeted the caller with the company or their own name
            weight: 2
            rule: greeting          # yes when the rule matched, with its matches as evidence
          - id: no_blame
            text: Did not blame or lecture the caller
            rule: blames_caller
            yes_if: not_matched     # yes when it did NOT match
          - id: empathy
            text: Showed empathy to an upset caller
            rule: empathy
            applies_if: upset_caller  # n/a unless this rule matched
          - id: courtesy
            text: Overall courtesy
            type: scale             # 1-5, answered by a reviewer

A call's card is computed from its timeline's rule matches (assist.rulebook), so it is never a
second copy of the truth; a reviewer's answers are kept beside it in the library (who, when, why)
and win over the automatic ones. The score is the weighted share of "yes" among the yes/no
questions answered, and of the scale answers (1-5 as 0..1), in percent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Sequence

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ..core.events import RuleMatch, Utterance
from ..errors import ConfigError
from ..resources import shipped
from . import yamlfile

DEFAULT_CARD = shipped("content", "scorecard.yaml")
MAX_BYTES = 1_000_000
YES, NO, NA = "yes", "no", "n/a"


def _qid(v: str) -> str:
    return yamlfile.lower_word(v, "greeting")


class QuestionItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, AfterValidator(_qid)]
    text: yamlfile.NonEmptyText
    weight: float = Field(1.0, gt=0, le=100)
    type: Literal["yes_no", "scale"] = "yes_no"
    rule: str | None = None
    yes_if: Literal["matched", "not_matched"] = "matched"
    applies_if: str | None = None


class SectionItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: yamlfile.NonEmptyText
    questions: list[QuestionItem] = Field(min_length=1)


class CardItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: yamlfile.NonEmptyText
    sections: list[SectionItem] = Field(min_length=1)


@dataclass
class Scorecard:
    path: Path
    name: str
    sections: list[SectionItem]

    @classmethod
    def load(cls, path: str | Path | None = None, rules=None) -> "Scorecard":
        """The form at `path` (default: the shipped one). `rules` (a Rulebook): every rule a
        question names must exist. Anything wrong is one ConfigError line naming the line: a
        form that half loaded would score calls wrongly."""
        path = Path(path).expanduser() if path else DEFAULT_CARD
        where = str(path)
        text = yamlfile.read_content_file(path, "scorecard file", MAX_BYTES)
        root = yamlfile.compose_file(text, where)
        if root is None:
            raise ConfigError(f"{where}: the scorecard is empty: give name and sections")
        data = yamlfile.construct(root, where)
        try:
            card = CardItem.model_validate(data)
        except ValidationError as exc:
            line = _error_line(root, exc)
            raise ConfigError(f"{where} line {line}: "
                              f"{yamlfile.schema_problem(exc, CardItem.model_fields)}") from None
        ids = [q.id for s in card.sections for q in s.questions]
        dup = next((q for q in ids if ids.count(q) > 1), None)
        if dup:
            raise ConfigError(f"{where}: the question id {dup} is used twice: give each its own")
        if rules is not None:
            known = {r.id for r in rules.rules}
            for s in card.sections:
                for q in s.questions:
                    for ref in (q.rule, q.applies_if):
                        if ref is not None and ref not in known:
                            raise ConfigError(f"{where}: question {q.id} names the rule {ref}, "
                                              f"which is not in {rules.path}")
        return cls(path, card.name, card.sections)

    @property
    def questions(self) -> list[QuestionItem]:
        return [q for s in self.sections for q in s.questions]


def _error_line(root, exc: ValidationError) -> int:
    """The line of the node a validation error's location points at."""
    node = root
    for part in exc.errors()[0]["loc"]:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return yamlfile.node_line(node)


@dataclass
class Answer:
    question: QuestionItem
    section: str
    auto: str | int | None  # yes / no / n/a, or None: for a reviewer (scale questions)
    evidence: list[dict] = field(default_factory=list)  # {"time", "speaker", "utterance_id", "text"}
    review: dict | None = None  # {"answer", "reviewer", "at", "why", "auto"} from the library

    @property
    def answer(self) -> str | int | None:
        return self.review["answer"] if self.review is not None else self.auto


@dataclass
class CardResult:
    card: Scorecard
    answers: list[Answer]

    @property
    def score(self) -> float | None:
        """Weighted percent over the questions answered (n/a and unanswered left out)."""
        got = total = 0.0
        for a in self.answers:
            value = a.answer
            w = a.question.weight
            if value in (YES, NO):
                got += w * (value == YES)
                total += w
            elif isinstance(value, int) and not isinstance(value, bool):
                got += w * (value - 1) / 4
                total += w
        return round(100 * got / total, 1) if total else None

    def get(self, question_id: str) -> Answer:
        return next(a for a in self.answers if a.question.id == question_id)


def answer_card(card: Scorecard, matches: Sequence[RuleMatch],
                utterances: Sequence[Utterance] = (), reviews: dict[str, dict] | None = None
                ) -> CardResult:
    """A call's scorecard from its rule matches; `reviews`: question id -> the reviewer's answer
    (the library's), which wins over the automatic one."""
    by_rule: dict[str, list[RuleMatch]] = {}
    for m in matches:
        by_rule.setdefault(m.rule, []).append(m)
    texts = {u.id: u.text for u in utterances}
    answers = []
    for section in card.sections:
        for q in section.questions:
            evidence, auto = [], None
            if q.type == "yes_no" and q.rule is not None:
                found = by_rule.get(q.rule, [])
                if q.applies_if is not None and not by_rule.get(q.applies_if):
                    auto = NA
                else:
                    auto = YES if bool(found) == (q.yes_if == "matched") else NO
                evidence = [{"time": m.time, "speaker": m.speaker, "utterance_id": m.utterance_id,
                             "text": texts.get(m.utterance_id, m.evidence)
                             if m.utterance_id is not None else m.evidence, "matched": m.evidence}
                            for m in found]
                if auto == NO and not found:
                    evidence = [{"time": None, "speaker": None, "utterance_id": None,
                                 "text": f"not found in the call ({q.rule})", "matched": ""}]
            review = (reviews or {}).get(q.id)
            answers.append(Answer(q, section.name, auto, evidence, review))
    return CardResult(card, answers)


def check_answer(question: QuestionItem, answer) -> str | int:
    """A reviewer's answer, checked against the question's type (one line if wrong)."""
    if question.type == "scale":
        try:
            value = int(answer)
        except (TypeError, ValueError):
            value = 0
        if not 1 <= value <= 5:
            raise ConfigError(f"question {question.id} is answered 1 to 5 (got {answer!r})")
        return value
    if answer not in (YES, NO, NA):
        raise ConfigError(f"question {question.id} is answered yes, no or n/a (got {answer!r})")
    return answer


def result_from_answers(card: Scorecard, auto: dict[str, str | int | None],
                        reviewed: dict[str, str | int] | None = None) -> CardResult:
    """A call's card from its stored automatic answers (question id -> answer) and the
    reviewers' answers over them: the score without the call's events."""
    reviewed = reviewed or {}
    return CardResult(card, [Answer(q, s.name, auto.get(q.id), [],
                                    {"answer": reviewed[q.id]} if q.id in reviewed else None)
                             for s in card.sections for q in s.questions])


@dataclass
class QuestionAverage:
    question: QuestionItem
    answered: int = 0  # calls with an answer (yes/no, or 1-5)
    value: float | None = None  # share of "yes" in percent, or the mean of a 1-5 scale
    reviewed: int = 0  # automatic answers a reviewer looked at
    agreed: int = 0  # ... and kept


@dataclass
class AgentAverage:
    agent: str
    calls: int
    score: float | None  # mean score (percent) of their scored calls


def averages(card: Scorecard, calls: Sequence[tuple[str, dict, dict]]
             ) -> tuple[list[AgentAverage], list[QuestionAverage]]:
    """Averages per agent and per question over calls given as (agent, automatic answers,
    reviewers' answers): the reviewers' answers count where there are any."""
    scores: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    per_q = {q.id: QuestionAverage(q) for q in card.questions}
    sums: dict[str, float] = {q: 0.0 for q in per_q}
    for agent, auto, reviewed in calls:
        result = result_from_answers(card, auto, reviewed)
        counts[agent] = counts.get(agent, 0) + 1
        if result.score is not None:
            scores.setdefault(agent, []).append(result.score)
        for a in result.answers:
            avg, value = per_q[a.question.id], a.answer
            if value in (YES, NO):
                avg.answered += 1
                sums[a.question.id] += 100.0 * (value == YES)
            elif isinstance(value, int) and not isinstance(value, bool):
                avg.answered += 1
                sums[a.question.id] += value
            if a.question.id in reviewed and a.auto is not None:
                avg.reviewed += 1
                avg.agreed += str(reviewed[a.question.id]) == str(a.auto)
    for qid, avg in per_q.items():
        if avg.answered:
            avg.value = round(sums[qid] / avg.answered, 1 if avg.question.type == "yes_no" else 2)
    agents = [AgentAverage(agent, counts[agent],
                           round(sum(scores[agent]) / len(scores[agent]), 1)
                           if scores.get(agent) else None) for agent in sorted(counts)]
    return agents, list(per_q.values())
