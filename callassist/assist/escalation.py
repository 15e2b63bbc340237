"""Escalation settings: when to advise a transfer to a senior rep.

The advice itself comes from built-in rules (content/builtin_rules.yaml) run by the rules engine
(assist.rulebook), each advised once per call: the caller asks for a manager or supervisor; the
caller sounds furious several utterances in a row; the caller's mood has stayed negative for
longer than a set time; or the caller's problems have found no match in the knowledge base
several times in a row (assist.detectors). Their thresholds are these settings (config.toml).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.rules import ESCALATE_MOOD


def request_reason(asked: str) -> str:
    """Why a transfer is advised when the caller asked for someone senior (``asked``: their words)."""
    return f"the caller asked for a senior person (“{asked}”)"


@dataclass
class EscalationSettings:
    negative_seconds: float = 120.0  # mood below the threshold this long -> advise transfer
    negative_threshold: float = ESCALATE_MOOD  # mood at or below this counts as upset
    unanswered_problems: int = 2  # consecutive caller problems the knowledge base cannot answer
    furious_utterances: int = 2  # caller utterances in a row read as furious -> advise transfer
