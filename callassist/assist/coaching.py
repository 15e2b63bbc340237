"""Positive-language coaching on the agent's own speech: negative phrasing, blame, jargon,
each with a positive reframe the agent can use next time."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.text import normalize


@dataclass(frozen=True)
class Rule:
    category: str
    pattern: re.Pattern
    suggestion: str


def _r(category: str, pattern: str, suggestion: str) -> Rule:
    return Rule(category, re.compile(pattern), suggestion)


RULES = (
    _r("can't", r"\b(i|we) (can't|cannot|can not|am unable to|are unable to)\b(?! wait)",
       "Say what you can do: “What I can do is…”"),
    _r("policy", r"\b(that's|that is|it's|it is) (not |against )?(our|the|company) policy\b|\bpolicy says\b",
       "Give the reason and an option: “Our returns window is 30 days, so here's what I can offer…”"),
    _r("nothing I can do", r"\b(there's|there is) nothing (i|we) can do\b",
       "Offer the next best step: “Here's what we can do…”"),
    _r("you have to", r"(?<!don't )(?<!do not )\byou (have to|need to|must)\b",
       "Invite rather than instruct: “Could you please…” or “The quickest way is to…”"),
    _r("calm down", r"\b(calm down|relax|don't get upset|no need to shout)\b",
       "Acknowledge the feeling: “I can hear how frustrating this is, and I want to fix it.”"),
    _r("don't know", r"\bi (don't|do not) know\b",
       "Commit to finding out: “Let me find that out for you.”"),
    _r("not my job", r"\b(not my (job|department|problem|fault)|not our (problem|fault))\b",
       "Take ownership: “Let me get you to the team that handles this and stay with you.”"),
    _r("blame", r"\byou (didn't|did not|forgot to|failed to|should have)\b",
       "Focus on the fix, not the fault: “Let's get this sorted together.”"),
    _r("as I said", r"\b(as i (said|told you|mentioned)|like i said|i already (told|said))\b",
       "Recap without blame: “Just to recap…”"),
    _r("I'll try", r"\bi'?ll try\b|\bi will try\b",
       "Promise what you will do: “I will…”"),
    _r("no problem", r"\bno problem\b",
       "Say it positively: “Happy to help” or “My pleasure.”"),
    _r("jargon", r"\b(ssid|dhcp|wan port|lan port|firmware|rma|sku|ticket id|escalation queue|"
                 r"tier (one|two|1|2)|ip address|mac address|bios)\b",
       "Say it plainly: e.g. “the network name” for SSID, “the internet port” for WAN port."),
)


def review(text: str) -> list[tuple[str, str, str]]:
    """(category, words said, suggestion) for each negative phrasing in an agent utterance."""
    norm = normalize(text)
    out = []
    for rule in RULES:
        m = rule.pattern.search(norm)
        if m:
            out.append((rule.category, m.group(0), rule.suggestion))
    return out
