"""Close-the-call checklist, ticked automatically when the agent says the matching things."""
from __future__ import annotations

import re

from ..core.text import normalize

ITEMS = (
    ("resolved", "Confirm the issue is resolved", re.compile(
        r"\b(does|did|has|have|is) (that|this|everything|it) (solve|solved|fix|fixed|resolve|"
        r"resolved|help|sort|sorted|work|working|answer|answered)\b|\bis (it|that|everything) "
        r"(working|sorted|fixed|resolved) now\b|\b(that|this|everything)('s| is| should be) "
        r"(all )?(sorted|fixed|resolved)\b|\bglad (it|that)('s| is) working\b")),
    ("recap", "Recap the next steps", re.compile(
        r"\b(to recap|to sum(marise|marize| up)|just to confirm|so to confirm|next steps?|"
        r"you('ll| will) (receive|get|see)|(it|they|this|your \w+)( will|'ll) (arrive|be delivered|"
        r"ship|reach you)|i('ve| have) (sent|emailed|arranged|booked|added|corrected|upgraded|"
        r"refunded|credited|scheduled))\b")),
    ("anything_else", "Ask if there is anything else", re.compile(
        r"\b(anything else|something else|any other (questions?|way|thing)|else i can (help|do))\b")),
    ("thanks", "Thank the caller", re.compile(
        r"\b(thank you|thanks) (so much |very much )?(for (calling|your patience|waiting|holding|"
        r"choosing|contacting|bearing))")),
)


GREETING = re.compile(r"\b(how (can|may) i help|my name is|speaking)\b")


class Checklist:
    def __init__(self):
        self.done: dict[str, tuple[int, str]] = {}

    def agent_said(self, utt_id: int, text: str) -> list[tuple[str, str, str]]:
        """(item, label, evidence) for each item this utterance ticks for the first time."""
        norm = normalize(text)
        out = []
        for item, label, pattern in ITEMS:
            if item in self.done:
                continue
            m = pattern.search(norm)
            if m and item == "thanks" and GREETING.search(norm):
                continue  # "thank you for calling, how can I help" opens the call, not closes it
            if m:
                self.done[item] = (utt_id, m.group(0))
                out.append((item, label, m.group(0)))
        return out

    @property
    def missing(self) -> list[str]:
        return [label for item, label, _ in ITEMS if item not in self.done]
