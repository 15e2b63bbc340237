"""The phrases and mood thresholds that several stages read, each defined once.

Why one module: the same rule used to be written in several places and the copies drifted apart.
"I want a manager" raised the anger cue but no escalation advice, the hold phrases of the phrase
suggester and of the silence flag differed, and "negative" meant -0.2 in the tracker and the
report but -0.3 in the QA list. Now every stage that asks "did the caller ask for a manager?",
"is the agent putting the caller on hold?" or "is this mood negative?" asks this module.

Phrases are matched on *plain words*: lower case, punctuation dropped, apostrophes removed
("Don't!" and the recogniser's "dont" are both ``dont``), so written text and speech-recogniser
output give the same answer. The patterns are therefore written without apostrophes ("thats",
"im"). A phrase rule can be *negatable*: a negation word just before it, in the same clause
("I don't want a manager", "we're not going to cancel"), means the phrase was not meant.

Pure Python, no Qt, no model: importing it costs next to nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

# ---- mood thresholds -----------------------------------------------------------------------------
# The caller's mood score runs from -1 (very negative) to +1 (very positive).

NEGATIVE = -0.2
"""At or below: the caller's mood is negative (frustrated, upset). The tracker's labels, the
report's bands, the QA list's "ended negative", and the flags' negative stretches all use it."""

POSITIVE = 0.15
"""At or above: the caller's mood is positive (calm, pleased); neutral between the two. A call
that ends here counts as ended positive, and as resolved for the unresolved-close flag."""

VERY_NEGATIVE = -0.5
"""At or below: very negative. The QA list's "dropped below" filter and the severity of anger
flags use it."""

ESCALATE_MOOD = -0.3
"""Default escalation threshold: mood at or below this for long enough -> advise a transfer.
Stricter than NEGATIVE on purpose (a frustrated caller is not yet a case for a senior rep); the
agent can change it in the settings."""

MOOD_CHANGE = 0.15
"""A change of the mood score at least this big is a real change, smaller is noise: the
tracker's improving / worsening trend and the QA list's "got better" / "got worse" filters."""


# The tracker's labels for a mood in the negative band, mildest to most heated (the mood model's
# intensity tells them apart); "confused" and "worried" say what is wrong, not how bad it is.
NEGATIVE_LABELS = ("annoyed", "frustrated", "upset", "angry", "furious")


def mood_band(score: float | None) -> str | None:
    """'negative', 'neutral' or 'positive' for a mood score (None for no score)."""
    if score is None:
        return None
    return "negative" if score <= NEGATIVE else "positive" if score >= POSITIVE else "neutral"


def mood_change(before: float | None, after: float | None) -> str | None:
    """'worse', 'better' or 'same' from one mood score to a later one (None if either is missing)."""
    if before is None or after is None:
        return None
    delta = after - before
    return "worse" if delta <= -MOOD_CHANGE else "better" if delta >= MOOD_CHANGE else "same"


# ---- plain words ---------------------------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z0-9]+)*")
"""One word of written or recognised text; an apostrophe inside a word keeps it one word."""


def plain(word: str) -> str:
    """A word as the phrase rules see it: lower case, apostrophes removed."""
    return word.lower().replace("'", "").replace("\u2019", "")


def plain_text(text: str) -> str:
    """Text as the phrase rules see it: plain words joined by single spaces."""
    return " ".join(plain(m.group()) for m in TOKEN.finditer(text or ""))


NEGATORS = frozenset({
    "not", "dont", "never", "no", "didnt", "doesnt", "isnt", "wont", "wouldnt", "cant", "cannot",
    "wasnt", "arent", "without", "hardly", "nothing", "neither", "nor"})
# Words that start a new clause: a negation before one of them does not reach past it.
CLAUSE_START = frozenset({
    "i", "im", "ill", "ive", "id", "we", "were", "well", "you", "youre", "he", "she", "they", "if",
    "and", "but", "or", "so", "because", "when", "then", "unless", "otherwise", "else"})


def negated(words: Sequence[str], first: int) -> bool:
    """A negation word among the 4 words before ``words[first]``, in the same clause."""
    for w in reversed(words[max(0, first - 4): first]):
        if w in NEGATORS:
            return True
        if w in CLAUSE_START:
            return False
    return False


@dataclass(frozen=True)
class Phrases:
    """One phrase rule: a regular expression over plain words, and whether negation cancels it."""

    name: str
    source: str  # the pattern, written in plain words
    negatable: bool = True
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "regex", re.compile(r"\b(?:" + self.source + r")\b"))

    def find(self, text: str) -> str | None:
        """The first (not negated) match in ``text``, as plain words; None if there is none.

        Tried at the start of every word, as the cue detector does, so a negated early match does
        not hide a later one."""
        words = plain_text(text).split(" ")
        joined, pos = " ".join(words), 0
        for i, w in enumerate(words):
            m = self.regex.match(joined, pos)
            pos += len(w) + 1
            if m and m.group() and not (self.negatable and negated(words, i)):
                return m.group()
        return None

    def __contains__(self, text: str) -> bool:
        return self.find(text) is not None


# ---- what callers and agents say -----------------------------------------------------------------

# Who a caller asks for when they want the call escalated. Not a bare "senior" ("I am a senior"),
# not "my manager" (the caller's own: "my manager told me to call"), and not a senior word used
# as a modifier ("supervisor mode", "manager account").
_SENIOR = (r"(?:manager|supervisor|boss|team leader|team lead|"
           r"senior (?:person|agent|rep|representative|colleague|member of staff|staff|manager)|"
           r"(?:someone|somebody) (?:more senior|senior|higher up|in charge)|person in charge)"
           r"(?! (?:mode|password|login|account|access|settings|menu|level|role|position|job|"
           r"rights|permissions?|key|code|told|said|says|asked|wants|approved))")
_TO_SENIOR = rf"(?:(?:a |an |the |your |some |to )?{_SENIOR}|your superior)"

ASKS_FOR_SENIOR = Phrases("asks for a manager", "|".join((
    # speak / talk / be put through ... to a manager ("put me through to a team leader")
    rf"(?:speak|talk|speaking|talking|put me through|get me through|transfer me|connect me|"
    rf"pass me|hand me over|escalate (?:this|it|me|my \w+)) (?:over )?(?:to|with) (?:{_TO_SENIOR}|management)",
    # want / demand / can I have ... a manager ("I want a manager", "I demand a supervisor")
    rf"(?:want|need|demand|insist on|ask for|asking for|give me|let me have|(?:can|could|may) i "
    rf"(?:have|see|get)|id like)(?: to (?:see|have|get))? {_TO_SENIOR}",
    # get me / fetch / call ... a manager ("get me your boss")
    rf"(?:get|put|fetch|find|call|give)(?: me)?(?: through to| over to| on to)? {_TO_SENIOR}",
    # escalate this; who is your manager; a manager, now
    r"escalate (?:this|it|my (?:complaint|case|issue|problem|ticket|claim)|the matter|this call)",
    rf"(?:who is|whos|wheres|where is) (?:your|the) {_SENIOR}",
    rf"(?:your|a|the) {_SENIOR} (?:please|now|right now|immediately)",
)))
"""The caller asks for a manager, supervisor, team leader, boss or someone senior. One pattern for
the anger cue, the escalation advice and the escalation flag, so the three always agree."""

_THING = (r"(?:account|subscription|service|services|contract|membership|card|policy|plan|order|"
          r"booking|reservation|internet|line|phone|insurance)")
CANCEL_THREAT = Phrases("threatens to cancel", "|".join((
    rf"(?:cancel|close|terminate|end|quit) (?:my|our|the|this) (?:\w+ )?{_THING}",
    r"(?:im|i am|ill|i will|gonna|going to|want to|about to|ready to|thinking of|thinking about) "
    r"(?:cancel|cancelling|canceling|leave|leaving|switch|switching|quit|quitting)\b(?! (?:the )?(?:call|line|hold))",
    r"(?:switch|switching|move|moving|go|going) (?:over )?to (?:a |another |your )?(?:competitor|"
    r"different (?:company|provider|bank|airline)|another (?:company|provider|bank|airline))",
    r"take (?:my|our) business (?:elsewhere|somewhere else)",
    r"(?:never|not) (?:going to |gonna )?(?:use|buy from|fly with|fly|shop with|shop at|deal with|"
    r"do business with) (?:you|your company|you guys|you people|this company) (?:ever )?again",
)))
"""The caller threatens to cancel, leave or switch to a competitor ("I'm going to cancel my
account"). Negatable: "I don't want to cancel" is not a threat."""

HOLD = Phrases("puts the caller on hold", "|".join((
    r"let me (?:check|look|find|see|pull|have a look)",
    r"one (?:moment|minute|second|sec)",
    r"just a (?:moment|minute|second|sec)|give me a (?:moment|minute|second|sec)",
    r"bear with me|hold on|hold the line|please hold|(?:put|place|placing|putting) you on (?:a )?(?:brief |short |quick )?hold",
    r"(?:can|could|would|will) you (?:please )?hold",
)), negatable=False)
"""The agent puts the caller on hold or goes to look something up: the phrase suggester offers
"thanks for waiting" phrases, and a long silence after it is flagged as a hold, not a silence.
Not negatable: "no, let me check" is still a hold."""

BAD_NEWS = Phrases("gives bad news", r"unfortunately|im afraid|i am afraid|im sorry but|sadly|"
                                     r"regret to (?:say|tell you|inform you)", negatable=False)
"""The agent is giving the caller bad news: the phrase suggester offers softening phrases."""

CLOSING = Phrases("wraps up the call", r"thats (?:all|everything|it)|that is (?:all|everything|it)|"
                                       r"nothing else|no thats|have a (?:nice|good|great) (?:day|evening|one)|"
                                       r"bye|goodbye", negatable=False)
"""The caller is wrapping up the call: the phrase suggester offers closing phrases."""
