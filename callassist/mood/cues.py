"""Caller cues beyond polarity, each calling for a different kind of help.

- anger / escalation: asks for a manager, threatens to cancel or complain, says this is not the
  first call, sounds fed up;
- confusion: does not understand, asks how / what again and again;
- worry / urgency: needs it now, fears losing money or service;
- gratitude / satisfaction: thanks the agent, says the problem is solved.

Rules are phrase patterns matched on the words of the utterance, so that written text and
speech-recogniser output (lower case, no punctuation) give the same cues. Every cue carries the
words that triggered it, exactly as they appear in the utterance, so the panel can show why.
Pure Python, no model: well under a millisecond per line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..core import rules
from ..core.rules import TOKEN as _TOKEN, negated as _negated

CUE_KINDS = ("anger", "confusion", "worry", "gratitude")


@dataclass(frozen=True)
class Cue:
    kind: str  # one of CUE_KINDS
    trigger: str  # the words in the utterance that triggered it, as they appear
    reason: str  # short human phrase, e.g. "asks for a manager"
    strength: float  # 0..1


# Words are matched lower-case with apostrophes removed ("don't" and "dont" are both "dont"), as
# in core.rules; the rules other stages read too (asks for a manager, threatens to cancel) live there.
_ORDINAL = r"(?:second|third|fourth|fifth|sixth|seventh|tenth|2nd|3rd|4th|5th|6th|7th|10th|umpteenth|hundredth|\w+th)"
_NUM_TIMES = r"(?:twice|three times|four times|five times|six times|\d+ times|several times|many times|multiple times|so many times|a few times|a dozen times|a million times|a hundred times|over and over|again and again|a couple of times|times)"
_QUESTION_START = re.compile(
    r"^(?:(?:so|ok|okay|um|uh|and|but|sorry|wait|right|well|then) )*"
    r"(?:how|what|where|which|why|when)\b|\b(?:how|what) (?:do|does|can|should|would|will|is|are|was|am|did) (?:i|you|we|it|that|this|they)\b"
    r"|\bhow to\b|\bwhat(?:s| is) (?:the|that|this|a|my)\b"
)
_STOP = {"i", "you", "we", "it", "the", "a", "an", "to", "do", "does", "is", "are", "my", "your", "that",
         "this", "how", "what", "where", "which", "why", "when", "can", "should", "would", "so", "and",
         "of", "on", "in", "for", "me", "again", "then", "um", "uh", "ok", "okay", "just", "now", "its"}


@dataclass(frozen=True)
class _Rule:
    name: str  # the built-in detector's name in the rules file (content/builtin_rules.yaml)
    kind: str
    reason: str
    strength: float
    pattern: re.Pattern
    negatable: bool = True  # skip the match when a negation word comes just before it


def _rule(name: str, kind: str, reason: str, strength: float, pattern: str,
          negatable: bool = True) -> _Rule:
    return _Rule(name, kind, reason, strength, re.compile(r"\b(?:" + pattern.replace("'", "") + r")\b"), negatable)


def _shared(name: str, kind: str, strength: float, phrases: rules.Phrases) -> _Rule:
    """A cue from a rule in core.rules, which other stages read too (its name is the reason)."""
    return _Rule(name, kind, phrases.name, strength, phrases.regex, phrases.negatable)


_RULES: tuple[_Rule, ...] = (
    # -- anger / escalation --------------------------------------------------------------------
    _shared("asks_for_senior", "anger", 0.9, rules.ASKS_FOR_SENIOR),
    _shared("cancel_threat", "anger", 0.85, rules.CANCEL_THREAT),
    _rule("complaint_threat", "anger", "threatens to complain", 0.85,
          r"(?:file|make|lodge|submit|raise|put in|write) (?:a |an )?(?:formal |official )?complaint"
          r"|report (?:you|this|your company|it) to"
          r"|(?:my|a|an) (?:lawyer|attorney|solicitor)|legal action|(?:sue|suing) (?:you|your company|them)"
          r"|(?:the|to the) (?:press|media|newspapers|ombudsman|better business bureau|bbb|regulator|fcc|ftc|trading standards)"
          r"|(?:leave|write|post|give) (?:you |a |an )?(?:bad|terrible|negative|awful|horrible|one star|1 star|zero star) review"
          r"|(?:post|tell everyone|put) (?:this |it )?(?:on|all over) (?:social media|twitter|facebook|the internet)"),
    _rule("repeat_call", "anger", "says this is not the first call", 0.75,
          rf"(?:this is|thats|that is|its|it is) (?:the|my) {_ORDINAL} time (?:ive |i have |im |i am |i |we )?(?:called|calling|rung|ringing|phoned|phoning|had to call|contacted)"
          rf"|(?:not|isnt|is not) (?:the|my) first time (?:ive |i have |im |i am |i )?(?:called|calling|rung|ringing|phoned|had to call)"
          rf"|(?:ive|i have|i|we have|weve) (?:already |now |just )?(?:called|rung|phoned|contacted you|spoken to \w+|talked to \w+|been on the phone) (?:\w+ )?(?:{_NUM_TIMES}|before|already|yesterday|last week|earlier|this morning|every day)"
          rf"|(?:called|calling|rung|phoned|spoke to you|talked to you) (?:you )?(?:about this )?{_NUM_TIMES}"
          r"|(?:keep|kept) (?:having to )?(?:call|calling|ringing|phoning)|every time i (?:call|ring|phone)"
          r"|(?:already|previously) (?:explained|told|called|been through|gone through)"
          r"|(?:explain|repeat|tell) (?:this|it|my story|myself) (?:all over )?again"
          r"|how many (?:more )?times (?:do|have|must|will|am) (?:i|you)"
          r"|(?:nobody|no one|noone|you never) (?:ever )?(?:calls?|called|rang|got) (?:me )?back",
          negatable=False),
    _rule("fed_up", "anger", "sounds fed up", 0.6,
          r"(?:ridiculous|unacceptable|outrageous|absurd|pathetic|disgraceful|a disgrace|a joke|a scam|insane|useless|incompetent|infuriating)"
          r"|(?:fed up|sick and tired|sick of|had enough|had it with|wasting my time|waste of (?:my )?time|you people|rip off|ripoff)"
          r"|(?:worst|terrible|horrible|awful|appalling|lousy) (?:service|company|customer service|experience|support|airline)"
          r"|(?:im|i am|so|really|very|getting|extremely|absolutely) (?:angry|furious|livid|pissed|mad|annoyed|irritated|frustrated|fuming)"
          r"|(?:not|never) (?:happy|satisfied|pleased) (?:at all|with)|thanks for nothing"
          r"|(?:fucking|fuck|shit|bullshit|crap|damn|goddamn|bloody hell)",
          negatable=False),
    # -- confusion ---------------------------------------------------------------------------------
    _rule("not_understanding", "confusion", "does not understand", 0.75,
          r"(?:dont|do not|didnt|did not|cant|cannot|can not|still dont|still cant) (?:really |quite |fully |even )?(?:understand|follow|get it|get what|get how|get this|see what|see how|see why|figure out|work out|make sense of|know what (?:that|this|you) means?|know what to do|know how)"
          r"|(?:im|i am|so|really|totally|completely|a bit|a little|little|bit|getting|very) (?:confused|lost|puzzled|baffled)|confusing"
          r"|(?:that|this|it|none of this|none of that) (?:doesnt|does not|dont|do not) make (?:any )?sense|makes no sense|making no sense"
          r"|what do you mean|what does (?:that|this|it) mean|what are you (?:talking about|saying)"
          r"|(?:i have|ive got|ive|i got) no (?:idea|clue) (?:how|what|why|where|which|about)"
          r"|(?:im |i am )?not sure (?:how|what|where|which|why|i understand|i follow|what you mean)"
          r"|(?:im|i am) not (?:following|understanding|getting it|with you)|you lost me|lost me there"
          r"|(?:can|could|would) you (?:please )?(?:explain|say that|repeat|go over|walk me through|slow down)|say (?:that|it) again|come again",
          negatable=False),
    # -- worry / urgency ---------------------------------------------------------------------------
    _rule("urgent", "worry", "urgent", 0.7,
          r"(?:urgent|urgently|emergency|asap|as soon as possible|right away|immediately|straight away|time sensitive|no time|running out of time|last minute|deadline)"
          r"|(?:need|needs|needed|have to|must) (?:\w+ ){0,3}(?:today|tonight|right now|by tomorrow|by tonight|this morning|this afternoon|by the end of the day|before \w+day)"
          r"|(?:flight|plane|train|surgery|appointment|interview|meeting|payment|rent|bill) (?:\w+ ){0,2}(?:leaves|departs|is|is due|are due|starts) (?:in (?:an hour|\w+ (?:hours|minutes))|tonight|tomorrow|today|at \d+)",
          negatable=True),
    _rule("worried", "worry", "sounds worried", 0.65,
          r"(?:im|i am|so|really|very|getting|bit|little|quite|extremely|were|we are) (?:worried|anxious|scared|nervous|concerned|stressed|panicking|frightened|afraid|terrified|desperate)"
          r"|(?:afraid|scared|worried|worry|fear) (?:that|of|about|ill|i will|i might|it will|it might|you will|they will)|what if (?:it|i|they|we|something|he|she) (?:happens|doesnt|dont|cant|loses?|miss|misses|breaks|fails|gets|never)|panic|panicking"
          r"|(?:cant|cannot|can not|dont|do not) (?:afford|sleep)|(?:stranded|stuck) (?:at|in|here|overseas|abroad)"
          r"|(?:will|am|are|would) (?:i|we) (?:going to |gonna )?(?:lose|be charged|get charged|be stuck|miss|be stranded|be cut off)"
          r"|(?:lose|lost|losing) (?:all )?(?:my|our) (?:money|data|files|photos|savings|job|home|house|booking|flight|reservation|deposit|account)"
          r"|(?:fraud|fraudulent|scammed|stolen|hacked|identity theft|unauthori[sz]ed (?:charge|payment|transaction)s?)",
          negatable=True),
    # -- gratitude / satisfaction -----------------------------------------------------------------
    _rule("thanks", "gratitude", "thanks the agent", 0.8,
          r"(?:thank you|thanks|thank u|thankyou|thx|cheers|(?:i )?(?:really |truly )?appreciate (?:it|that|this|your help|you|all your help|the help)|much appreciated|(?:im|i am|so|very) grateful)",
          negatable=True),
    _rule("solved", "gratitude", "says it is solved", 0.75,
          r"(?:that|it|this|everything) (?:worked|works now|works|is working|fixed it|solved it|did the trick|sorted it|is fixed|is sorted|is solved|is resolved)"
          r"|(?:(?:problem|issue) (?:is|has been|got|seems|was)|its|it is|it has been|it got|it seems|thats|that is|that has been|that got|everything is|everythings) (?:all )?(?:solved|fixed|resolved|sorted(?: out)?)(?! (?:yet|soon|today|tomorrow))"
          r"|^(?:(?:great|perfect|ok|okay|oh|brilliant|excellent) )*problem solved"
          r"|(?:all|well|that|thats) sorted|(?:all|im|were) set now|thats (?:all|everything) i needed",
          negatable=True),
    _rule("satisfied", "gratitude", "is satisfied", 0.7,
          r"(?:thats|that is|this is|thats been|that was|youve been|you have been|you were|youre|you are|it was|was) (?:really |very |so |just |absolutely |super )?(?:great|perfect|wonderful|brilliant|excellent|amazing|fantastic|awesome|lovely|helpful|a great help|a big help|a lifesaver|a star|the best)"
          r"|(?:im|i am|so|really|very) (?:happy|glad|pleased|satisfied|relieved|delighted)"
          r"|great service|excellent service|good service|great job|good job|well done|you made my day|youre a star|you rock",
          negatable=True),
)
REPEATED_QUESTIONS = "repeated_questions"  # asks how / what again (from the call's history)
DETECTORS: dict[str, str] = {r.name: r.kind for r in _RULES} | {REPEATED_QUESTIONS: "confusion"}
"""The cue detectors by name, with the kind of cue each gives: the built-in rules
(content/builtin_rules.yaml) switch them on and off by these names."""

# A gratitude phrase that is really a refusal or sarcasm: not gratitude.
_NOT_GRATITUDE = re.compile(r"\b(?:no (?:thanks|thank you)|thanks but no|thanks for nothing|thanks a lot for nothing)\b")


def _words(text: str) -> tuple[str, list[tuple[int, int]], list[int]]:
    """(joined lower-case words, their spans in text, their start offsets in the joined string)."""
    spans, words, offsets, pos = [], [], [], 0
    for m in _TOKEN.finditer(text):
        w = rules.plain(m.group())
        spans.append((m.start(), m.end()))
        offsets.append(pos)
        words.append(w)
        pos += len(w) + 1
    return " ".join(words), spans, offsets


def _token_range(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    first = max(i for i, o in enumerate(offsets) if o <= start)
    last = max(i for i, o in enumerate(offsets) if o < end)
    return first, last


def _is_question(joined: str) -> bool:
    return bool(_QUESTION_START.search(joined))


def _content(joined: str) -> set[str]:
    return {w for w in joined.split() if w not in _STOP and len(w) > 2}


def detect_cues(text: str, history: Sequence[str] = (),
                only: frozenset[str] | set[str] | None = None) -> list[Cue]:
    """Cues in one caller utterance; ``history`` = the caller's earlier utterances in this call;
    ``only``: the names of the detectors to run (DETECTORS; default all)."""
    joined, spans, offsets = _words(text or "")
    if not joined:
        return []
    words = joined.split(" ")
    shouting = sum(c.isupper() for c in text) > 8 and sum(c.isupper() for c in text) > 0.6 * sum(c.isalpha() for c in text)
    found: dict[tuple[str, str], Cue] = {}
    blocked = [m.span() for m in _NOT_GRATITUDE.finditer(joined)]
    for rule in _RULES:
        if only is not None and rule.name not in only:
            continue
        hits: list[tuple[int, int]] = []
        for pos in offsets:
            if hits and pos < offsets[hits[-1][1]] + len(words[hits[-1][1]]):
                continue  # inside the previous hit
            m = rule.pattern.match(joined, pos)
            if not m:
                continue
            if rule.kind == "gratitude" and any(s <= m.start() < e for s, e in blocked):
                continue
            first, last = _token_range(offsets, m.start(), m.end())
            if rule.negatable and _negated(words, first):
                continue
            hits.append((first, last))
        if not hits:
            continue
        first, last = hits[0]
        strength = rule.strength + 0.05 * (len(hits) - 1)
        if rule.kind == "anger" and (shouting or text.count("!") >= 2):
            strength += 0.1
        trigger = text[spans[first][0] : spans[last][1]]
        found[(rule.kind, rule.reason)] = Cue(rule.kind, trigger, rule.reason, round(min(strength, 1.0), 2))

    # Asks how / what again: this utterance is a question and so were earlier ones in the call.
    if (only is None or REPEATED_QUESTIONS in only) and _is_question(joined):
        earlier = [h for h in list(history)[-6:] if _is_question(_words(h or "")[0])]
        if earlier:
            now = _content(joined)
            same = any(len(now & _content(_words(h)[0])) >= max(1, len(now) // 2) for h in earlier)
            m = _QUESTION_START.search(joined)
            first = _token_range(offsets, m.start(), m.end())[0]
            last = min(len(spans) - 1, first + 7)
            reason = "asks the same thing again" if same else "asks how / what repeatedly"
            strength = min(0.9, (0.65 if same else 0.5) + 0.1 * (len(earlier) - 1))
            found[("confusion", reason)] = Cue("confusion", text[spans[first][0] : spans[last][1]], reason, round(strength, 2))
    return sorted(found.values(), key=lambda c: (-c.strength, CUE_KINDS.index(c.kind)))
