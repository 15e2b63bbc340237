"""The facts of a call, read from its utterances by rules: why the customer called, what the agent
did, what the agent promised for later (with when and how much), and whether it was resolved.

Every fact is a clause cut from one utterance (or several), with their ids, so each sentence of a
wrap-up can be traced to what was said. Recognised text (lower case, no punctuation: Vosk) and
written text (Whisper) both work: the rules run over `timespans.shadow`, which keeps the
apostrophes ("i'll", "hasn't") and marks sentence ends, so the clauses are cut from the original.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..core.events import Utterance
from ..core.rules import NEGATIVE_LABELS, plain_text
from ..core.text import normalize, spoken_numbers
from .points import ISSUE, QUESTION, REQUEST
from .timespans import NUMBER_WORD, WEEKDAY, Span, amounts, conditions, shadow, times

MAX_WORDS = 28  # a clause longer than this (a recogniser's run-on) is cut around what matters
BOUNDARY = re.compile(r"\b(?:and|so|but|because|then|okay|ok|which|that)\s+")
NEXT_CLAUSE = re.compile(r"(?:\s*,\s*(?:and\s+|so\s+|but\s+)?|\s+(?:and|so|but|because)\s+(?:then\s+)?)"
                         r"(?:i|i'll|i've|i'm|we|we'll|we've|you|"
                         r"you'll|it|it'll|they|they'll|he|she|the|your|someone|somebody|once|"
                         r"when|if|as|is|there)\b")


@dataclass(frozen=True)
class Fact:
    text: str
    utterances: tuple[int, ...]
    when: str | None = None
    amount: str | None = None


@dataclass
class Turn:
    """An utterance with what the rules read: its shadow and its sentences (char spans)."""
    utt: Utterance
    sh: str
    sentences: list[tuple[int, int]]

    @classmethod
    def of(cls, utt: Utterance) -> "Turn":
        sh = shadow(utt.text)
        spans, start = [], 0
        for m in re.finditer(r"\|+", sh):
            spans.append((start, m.start()))
            start = m.end()
        spans.append((start, len(sh)))
        spans = [(a, b) for a, b in spans if sh[a:b].strip()]
        return cls(utt, sh, spans or [(0, len(sh))])

    @property
    def id(self) -> int:
        return self.utt.id

    def sentence_at(self, pos: int) -> tuple[int, int]:
        return next(((a, b) for a, b in self.sentences if a <= pos <= b), self.sentences[-1])

    def clause(self, a: int, b: int, back: int = 0) -> str:
        """The clause that says text[a:b]: from `a` (or up to `back` words before it, not past a
        sentence start or a conjunction) to the end of its sentence or the next clause ("…, and
        it will arrive", "… so you'll get"), at most MAX_WORDS words."""
        sa, sb = self.sentence_at(a)
        text = self.utt.text
        if back and len(self.sh[sa:sb].split()) <= 14:
            a = sa  # a short sentence is said whole: "please hold the line while i transfer you"
        elif back:
            starts = [m.start() for m in re.finditer(r"\S+", self.sh[sa:a])][-back:]
            cut = [m.end() for m in BOUNDARY.finditer(self.sh[sa:a])]
            first = sa + starts[0] if starts else a
            a = max(first, sa + cut[-1]) if cut else first
        with_commas = "".join(c if c == "," else x for c, x in zip(text, self.sh))
        nxt = NEXT_CLAUSE.search(with_commas, b, sb)
        end = nxt.start() if nxt else sb
        if len(text[a:end].split()) > MAX_WORDS:
            end = _word_end(text, a, MAX_WORDS)
        return tidy(text[a:end])


def _word_start(text: str, pos: int, n: int) -> int:
    starts = [m.start() for m in re.finditer(r"\S+", text[:pos])]
    return starts[-n] if len(starts) >= n else 0


def _word_end(text: str, pos: int, n: int) -> int:
    ends = [m.end() for m in re.finditer(r"\S+", text[pos:])]
    return pos + (ends[n - 1] if len(ends) >= n else (ends[-1] if ends else 0))


def tidy(text: str) -> str:
    """A clause as a sentence: trimmed, filler ("okay so", "yes") off the front, capitalised."""
    t = text.strip().strip(",;:- ").strip()
    t = re.sub(r"^(?:(?:okay|ok|so|right|yes|yeah|well|um|uh|oh|and|alright|great|lovely|fine|"
               r"thanks|thank you|sure|no problem|of course|i understand)[,.]?\s+)+", "", t, flags=re.I)
    if t and t[0].islower():
        t = t[0].upper() + t[1:]
    return t


# ---- why the customer called ---------------------------------------------------------------------

# what a caller says when they state the problem or what they want
REASON_EXTRA = re.compile(
    r"\b(?:i've been|ive been|i have been (?:charged|promised|waiting|trying|told)|"
    r"(?:do|did) not (?:understand|know|work)|don't (?:understand|know)|"
    r"dont (?:understand|know)|not sure how|how (?:do|can) i|can't|cannot|cant|still|"
    r"my \w+ (?:is|isn't|isnt|won't|wont|has|hasn't|hasnt|keeps|only|was|doesn't|doesnt|"
    r"does not|can't|cant|stopped|arrived|came)|i think|not there|nowhere|cracked|broken|"
    r"damaged|smashed|faulty|missing|wrong|late|charged|refund|cancel|return|exchange|swap|"
    r"dent|dented|scratch|scratched|crack|shattered|leaking|too (?:big|small|heavy|slow|loud)|"
    r"(?:wanted|want) to (?:say|give|pass on|thank)|feedback|compliment)\b")
# what only sets the scene: the call is about an order, a product, a question - the problem or the
# request usually comes in the caller's next turn, after the agent's "okay" or "what's happened?"
SCENE = re.compile(
    r"\b(?:(?:calling|ringing|phoning|rang|called) (?:about|because|regarding|to|as|for)|"
    r"wanted to|i'd like|id like|i would like|i want|i need|i (?:ordered|bought|returned|"
    r"sent back|received|paid|purchased|booked|got))\b")
PHATIC = re.compile(r"\b(?:can you hear me|are you there|is anyone there|is that|am i through to|"
                    r"have i got the right)\b")
VAGUE = re.compile(r"\b(?:calling|ringing|phoning|call|ring|rang|called)\s+(?:about|regarding|re|for|"
                   r"with\s+a\s+(?:question|query|problem))\b|\bquick\s+question\b")

# how the agent answers a caller who only set the scene: asks for details, or invites the rest
DETAILS = re.compile(r"\b(?:number|name|postcode|post code|zip|email|e mail|address|account|"
                     r"date of birth|reference|card)\b")
INVITE = re.compile(r"\bwhat(?:'s|s| is| has)? (?:happened|up|wrong|going on|it about|the (?:problem|"
                    r"question|matter|issue))\b|\bhow (?:can|may) i help\b|\bwhat can i do\b|"
                    r"\bgo (?:ahead|for it)\b|\bfire away\b|\btake your time\b")
ACK = re.compile(r"\b(?:okay|ok|right|yes|yeah|yep|sure|lovely|great|no problem|of course|uh huh|"
                 r"mhm|i see|fine|alright|all right|oh)\b")
ASKS_BACK = re.compile(r"\b(?:when|where|which|who|why|how|what|did|does|do|is|are|was|were|have|"
                       r"has|can|could|would|will)\b")


def _invites(turn: Turn) -> bool:
    """An agent turn that only acknowledges the caller or asks them to go on ("okay, lovely",
    "oh no, what's happened?", "sure, go ahead"), not one that asks for details ("when did it
    arrive?", "the order number?") or answers."""
    sh = turn.sh
    return len(sh.split()) <= 9 and not DETAILS.search(sh) and (bool(INVITE.search(sh)) or (
        len(sh.split()) <= 6 and bool(ACK.search(sh)) and not ASKS_BACK.search(sh)))


def _words_said(text: str) -> int:
    """Words of an utterance that are not a number read out ("it is four seven one two nine")."""
    rest = normalize(text)
    for _, spoken in spoken_numbers(text):
        rest = rest.replace(normalize(spoken), " ")
    return len(rest.split())


def _reason_signal(text: str) -> bool:
    return _signal(text) > 0


def _signal(text: str) -> int:
    """2 when the words state a problem or a request, 1 when they only set the scene, else 0."""
    norm = normalize(text)
    if _words_said(text) < 4:
        return 0
    if ISSUE.search(norm) or REQUEST.search(norm) or QUESTION.search(norm) \
            or REASON_EXTRA.search(shadow(text)):
        return 2
    return 1 if SCENE.search(shadow(text)) else 0


AGENT_NAME = re.compile(r"\b(?:my name is|my name's|this is|you're speaking (?:to|with)|"
                        r"you're through to|speaking with|it's)\s+([a-z]+)\b|\b([a-z]+)\s+speaking\b")
NOT_NAME = {"brightwave", "the", "a", "customer", "support", "billing", "tech", "sales", "team",
            "service", "services", "accounts", "returns", "care", "department", "speaking", "how"}


def _agent_names(turns: Sequence[Turn], caller: str) -> set[str]:
    """The agent's name as they introduced themselves ("this is Sam", "Tom speaking")."""
    names = set()
    for t in [t for t in turns if t.utt.speaker != caller][:2]:
        for m in AGENT_NAME.finditer(t.sh):
            name = m.group(1) or m.group(2)
            if name and name not in NOT_NAME:
                names.add(name)
    return names


def reason(turns: Sequence[Turn], caller: str, keywords: re.Pattern | None = None) -> list[Fact]:
    """The caller's first statement of why they called, and its continuation before the agent
    replies (the next caller utterance, if it goes on). `keywords`: words of the wrap-up codes
    (over plain text), which also mark a reason."""
    def why(t: Turn) -> int:
        if PHATIC.search(t.sh) and len(t.utt.text.split()) < 9:
            return 0
        found = _signal(t.utt.text)
        if not found and keywords is not None and _words_said(t.utt.text) >= 4 \
                and keywords.search(plain_text(t.utt.text)):
            found = 1
        return found

    def says_why(t: Turn) -> bool:
        return why(t) > 0

    caller_turns = [t for t in turns if t.utt.speaker == caller]
    strength = [why(t) for t in caller_turns[:6]]
    first = next((t for t, w in zip(caller_turns, strength) if w), None)
    if first is not None and strength[caller_turns.index(first)] == 1:
        # it only sets the scene: when the agent only acknowledges it or invites more ("okay",
        # "what's happened?", "go ahead"), the problem the caller states next is the reason
        k = caller_turns.index(first)
        if k + 1 < len(strength) and strength[k + 1] == 2:
            nxt = caller_turns[k + 1]
            if all(_invites(u) for u in turns[turns.index(first) + 1:turns.index(nxt)]):
                first = nxt
    if first is None:
        first = next((t for t in caller_turns if _words_said(t.utt.text) >= 5), None)
    if first is None:
        return []
    names = _agent_names(turns, caller)
    facts = [Fact(_reason_text(first, names), (first.id,))]
    i = turns.index(first) + 1
    if i < len(turns) and turns[i].utt.speaker == caller and _words_said(turns[i].utt.text) >= 5:
        facts.append(Fact(_reason_text(turns[i], names), (turns[i].id,)))  # said on, in one breath
    elif VAGUE.search(first.sh) and len(first.utt.text.split()) <= 12:
        # "I'm calling about my order" - "What's happened?" - "It came without the charger."
        nxt = next((t for t in turns[i:i + 3] if t.utt.speaker == caller), None)
        if nxt is not None and says_why(nxt):
            facts.append(Fact(_reason_text(nxt, names), (nxt.id,)))
    return facts


def _reason_text(turn: Turn, names: set[str] = frozenset()) -> str:
    """The sentences of the turn that say the reason (greetings and the agent's name dropped),
    cut when very long."""
    text = turn.utt.text
    keep = [tidy(text[a:b]) for a, b in turn.sentences if _reason_signal(text[a:b])]
    keep = [k for k in keep if k] or [tidy(text)]
    out = " ".join(k if k[-1:] in ".?!" or len(turn.sentences) == 1 else k + "." for k in keep)
    greeting = r"hi|hello|hey|yeah|yes|morning|good (?:morning|afternoon|evening)"
    if names:
        greeting += "|" + "|".join(re.escape(n) for n in names)
    out = re.sub(rf"^(?:(?:{greeting})[,.!]?\s+)+", "", out, flags=re.I)
    out = re.sub(r"^[A-Z][a-z]+[,.!]\s+", "", out) if out != text else out  # "Hi Sam, I…"
    words = out.split()
    if len(words) > MAX_WORDS + 10:
        out = " ".join(words[: MAX_WORDS + 10]) + " …"
    return tidy(out)


# the state of the caller's item as they tell it: new (just delivered, out of the box, never
# worked) or used (fine before, stopped); on plain text
_WHEN_NEW = (rf"(?:today|yesterday|this morning|this afternoon|last night|(?:on |this |at the )?"
             rf"(?:{WEEKDAY}|weekend)|"
             r"(?:a|one|two|three|four|five|a few|a couple of|couple of) days ago|the other day|"
             r"this week|last week)")
NEW_ITEM = re.compile(
    r"\b(?:brand new|out of the box|opened (?:it|them|the box|the parcel|the package)|unboxed|"
    r"unpacked|(?:never|not once) (?:worked|switched on|turned on|come on|came on|powered on|"
    r"charged|lit up)|first time (?:i|we|she|he) (?:used|turned|switched|tried|plugged|put)|"
    r"dead on arrival|(?:just|only just) (?:arrived|came|come|got|been delivered|bought|took it out|"
    r"(?:had|got) (?:\w+ ){0,3}?delivered)|came with|arrived with|turned up with|(?:got|bought|had) (?:a|the|my|this|"
    r"one of your) new|(?:only|just|first) (?:turned|switched|plugged|set) (?:it|them) (?:on|in|up)|"
    r"(?:came|arrived|delivered|turned up|got|bought|received|had)\b(?:\s+\w+){0,6}?\s+"
    + _WHEN_NEW + r")\b")
USED_ITEM = re.compile(
    r"\b(?:stopped|anymore|any more|no longer|used to|(?:was|were|been|worked|working) "
    r"(?:fine|ok|okay|great|perfectly|brilliant|alright|all right|lovely)|since (?:the|then|last|"
    rf"yesterday|we|i|an?|it|that|{WEEKDAY})|"
    r"after (?:the|an?) update|for (?:months|years|a year|ages|a while)|(?:months|years) ago|"
    r"(?:had|have had|we've had|i've had|ive had|weve had) (?:it|them) (?:for|since|about|nearly|"
    r"over|a year|two years|a few)|suddenly|all of a sudden|out of nowhere)\b")


def item_state(text: str) -> int:
    """+1: the caller's words tell a new item (delivered yesterday, out of the box, never switched
    on); -1: one used before (was fine, stopped, since the update); 0: neither, or both."""
    plain = plain_text(text)
    new, used = bool(NEW_ITEM.search(plain)), bool(USED_ITEM.search(plain))
    return int(new) - int(used)


# ---- what the agent did ----------------------------------------------------------------------

PARTICIPLES = set("""sent put made set done given taken raised logged issued booked cancelled
canceled refunded credited added applied updated changed reset arranged processed escalated
emailed texted reported ordered flagged noted passed corrected upgraded scheduled opened created
submitted requested removed unlocked reactivated waived reversed paid resent rebooked pushed
fixed sorted amended moved placed started registered replaced dispatched reissued renewed
switched activated blocked frozen closed authorised authorized approved attached marked spoken
contacted called chased transferred extended adjusted reduced lowered spoken asked organised
organized written""".split())
NOT_ACTION = {"been", "got", "to", "not", "no", "never", "seen", "heard", "noticed", "received",
              "had", "need", "used", "a", "an", "the", "your", "you", "it", "this", "that",
              "checked", "looked", "pulled", "found", "tried", "searched",  # looked up: not done
              "typed", "entered", "explained"}  # a detail typed in to check who is calling
IMMEDIATE = (r"(?:just\s+|quickly\s+|now\s+)*(?:check|look|see|have\s+a\s+(?:quick\s+)?look|"
             r"transfer|put\s+you|pass\s+you|connect\s+you|pop\s+you|bear|find|pull|bring\s+up|"
             r"grab|be\s+with\s+you|go\s+through|take\s+a\s+look)\b")
DONE = (r"(?:processed|cancelled|canceled|refunded|credited|updated|changed|booked|arranged|reset|"
        r"corrected|sorted|done|applied|added|removed|unlocked|issued|raised|logged|reversed|approved|"
        r"escalated|resent|re-sent|sent|replaced|fixed|reactivated|waived|upgraded|rebooked|amended|"
        r"submitted|scheduled|flagged|confirmed|opened|placed|reserved|set\s+up|put\s+through|taken\s+off)")
# what a thing is once the agent has acted on it ("the plan's cancelled", "that's gone through")
OPENED = r"(?:case|trace|claim|ticket|check|query|investigation|request|complaint|dispute)"
STATE = (r"(?:cancelled|canceled|started|opened|booked|moved|saved|ordered|logged|raised|requested|"
         r"on\s+order|set\s+up|"
         r"gone\s+(?:through|over|off)(?:\s+to\s+(?:them|him|her|the\s+[a-z]+\s+team))?(?:\s+now)?|"
         r"gone\s+to\s+(?:them|him|her|billing|the\s+(?!wrong\b|old\b|same\b|other\b)[a-z]+(?:\s+team)?)"
         r"(?:\s+now)?|gone\s+to\s+you\s+now|noted\s+on\s+(?:the|your)\s+(?:order|account|record|file|booking))")
# a transfer under way ("i'm putting you through now"; not "putting you on a short hold")
TRANSFERRING = (r"(?:transferring|putting|passing|connecting|handing)\s+you\b"
                r"(?!\s+on\s+(?:a\s+)?(?:[a-z]+\s+)?hold\b)")
# What the agent did to the order or account, in the perfect or the past, or a transfer under
# way. Not what they are about to do ("let me…", "I'll…", "what I'm going to do is…") nor what
# they are starting ("i'm refunding it now", "i'm logging that now"): the label goes on the turn
# that says it is done.
ACTION_PATTERNS = [re.compile(p) for p in (
    r"\b(?:i|we)(?:'ve|ve|\s+have)\s+(?:(?:just|now|also|already|actually|gone\s+ahead\s+and|"
    r"went\s+ahead\s+and|managed\s+to)\s+)*(?P<v>[a-z]+(?:-[a-z]+)?)\b",
    r"\bi\s+(?:just\s+|also\s+)?(?:went\s+ahead\s+and\s+)?(?P<v>sent|processed|cancelled|canceled|"
    r"refunded|credited|added|applied|updated|changed|booked|arranged|raised|logged|issued|"
    r"emailed|escalated|rebooked|corrected|upgraded|spoke|called|contacted|ordered|moved|"
    r"fixed|removed|unlocked|reactivated|waived|reversed|approved|opened|created|submitted|"
    r"scheduled|dispatched|transferred)\b",
    rf"\b{TRANSFERRING}|"
    r"\b(?:while|as)\s+i\s+(?:transfer|put|pass|connect)\s+you\b|"
    r"\b(?:transfer|put|pass|connect)\s+you\s+(?:through\s+|over\s+)?now\b",
    rf"\b(?:has|have|'s|is|it's|its|that's|thats)\s+(?:now\s+|just\s+|also\s+|all\s+)?been\s+{DONE}\b",
    rf"\b(?:that's|thats|that\s+is|it's|its|everything's|everything\s+is)\s+(?:all\s+|now\s+)?"
    rf"{DONE}\b(?:\s+(?:for\s+you|now)\b)?",
)]
# the state the agent just put things in: "that's the Beacon Mesh cancelled", "the plan's
# cancelled", "the return's started", "your warranty case is open", "that's gone to them now",
# "that's on your account now", "it's with the billing team now" (not in a recap or a condition)
STATE_PATTERNS = [re.compile(p) for p in (
    rf"\bthat's\s+(?:the|your|both)\s+(?:[a-z0-9']+\s+){{0,3}}{STATE}\b",
    rf"\b(?:that(?:\s+{OPENED})?|(?:the|your)\s+(?:[a-z0-9-]+\s+){{0,2}}[a-z0-9-]+?)(?:'s|\s+is|\s+are)\s+"
    rf"(?:now\s+|all\s+|also\s+)*{STATE}\b",
    rf"\b(?:that|(?:the|your)\s+(?:[a-z0-9-]+\s+)?{OPENED})(?:'s|\s+is)\s+(?:now\s+)?open\b",
    rf"\bthat's\s+(?:the|your)\s+(?:[a-z0-9-]+\s+)?{OPENED}\s+(?:now\s+)?open\b",
    r"\b(?:that's|it's)\s+(?:now\s+)?(?:on\s+(?:there|your\s+account|the\s+(?:account|order|booking|"
    r"case|record))\s+now|with\s+(?:the|our)\s+(?:[a-z]+\s+)?team\s+now|"
    r"off\s+(?:the|your)\s+(?:account|order|bill|card)\s+now|"
    r"on\s+(?:its|it's)\s+way\s+to\s+(?:you|your\s+[a-z]+|that\s+[a-z]+)\s+now)\b",
    # the request handed on ("that's with them as urgent", "that's with the billing team")
    r"\bthat's\s+(?:now\s+)?with\s+(?:them|the\s+[a-z]+\s+team|billing)\b",
    # "Done." / "Sent." said as the thing is done, at the start of a turn or sentence
    r"(?:^|\|)\s*(?:okay\s+|ok\s+|right\s+|lovely\s+|great\s+|perfect\s+)?(?:all\s+)?(?:done|sent)\b"
    r"(?!\s+(?:that\s+)?(?:for|with|yet|it|by|to|before|already)\b(?!'s|s\b))",
)]
ACTION_PATTERNS += STATE_PATTERNS
# "i refunded it", "it's been refunded", "that's done"
DONE_PATTERNS = ACTION_PATTERNS[1:2] + ACTION_PATTERNS[3:5]
# the done state said of a time to come, a wish, a condition or someone else's doing: "when it's
# sent", "once a refund's been issued", "as long as it's cancelled in december", "glad it's
# sorted", "until they've confirmed it's unlocked", "that should have been refunded", "what's
# been done about your complaint", "neither has been sent yet"
NOT_DONE_YET = re.compile(r"\b(?:when|once|until|till|unless|if|after|before|as\s+long\s+as|glad|hope|"
                          r"hopefully|certain|sure|why|whether|what|confirmed|neither|nothing|should|"
                          r"would|could|might|must|will)\b(?:\s+[a-z0-9']+){0,2}\s*$")
SUBORDINATE = re.compile(r"\b(?:if|once|when|while|after|because|since|until|unless|soon\s+as)\b")
RECAP_START = re.compile(r"^\s*(?:(?:okay|ok|right|perfect|great|lovely|no\s+worries|mr\s+\w+|ms\s+\w+|"
                         r"mrs\s+\w+)\s+)*(?:so|to\s+sum\s+up|just\s+to\s+recap|to\s+recap)\b|"
                         r"\b(?:recap|sum\s+up)\b")


def _action_match(turn: Turn) -> tuple[re.Match, int] | None:
    """The first place the agent says what they did or are doing, and how many words before it
    belong to its clause (0 when it starts with its subject: "i've…", "let me…")."""
    for pat in ACTION_PATTERNS:
        for m in pat.finditer(turn.sh):
            g = m.groupdict()
            if g.get("v") is not None and pat is ACTION_PATTERNS[0]:
                v = g["v"].split("-")[-1]  # "re-sent"
                if v in NOT_ACTION or not (v in PARTICIPLES or v.endswith("ed")):
                    continue
            if _question(turn, m.start()):
                continue
            before = turn.sh[turn.sentence_at(m.start())[0]:m.start()]
            if pat in STATE_PATTERNS and (RECAP_START.search(before) or SUBORDINATE.search(before)):
                continue  # "so, the trace is open, you'll hear…": a recap of what was done before;
                # "while the trace is open…", "if you return it the agreement's cancelled"
            if pat in DONE_PATTERNS and NOT_DONE_YET.search(before):
                continue  # "you'll get an email when it's sent", "glad it's sorted"
            return m, (0 if pat.pattern[:30].startswith(r"\b(?:i") else 3)
    return None


def _question(turn: Turn, pos: int) -> bool:
    """Whether the sentence at `pos` is a question ("shall I transfer you?")."""
    a, b = turn.sentence_at(pos)
    text = turn.utt.text
    return text[b: b + 1] == "?" or text[a:b].rstrip().endswith("?") or bool(
        re.match(r"\s*(?:shall|should|can|could|would|do|did|have|will)\s+(?:i|you|we)\b",
                 turn.sh[a:b]))


def actions(turns: Sequence[Turn], caller: str) -> list[Fact]:
    out = []
    for t in turns:
        if t.utt.speaker == caller:
            continue
        found = _action_match(t)
        if found:
            m, back = found
            out.append(Fact(t.clause(m.start(), m.end(), back=back), (t.id,)))
    return out


# ---- what the agent promised -------------------------------------------------------------------

FUTURE = re.compile(
    r"(?P<subj>[$£€]?\b[a-z0-9][a-z0-9.]*)(?P<modal>'ll|\s+will|\s+shall|'d|\s+would)\s+"
    r"(?P<verb>[a-z']+(?:\s+[a-z']+){0,2})"
    r"|\b(?:ill|youll|itll|theyll|thatll)\s+(?P<verb2>[a-z']+(?:\s+[a-z']+){0,2})"
    r"|\b(?:i'm|im|i\s+am|we're|we\s+are|you're|youre|you\s+are|it's|its|it\s+is|they're|theyre|"
    r"they\s+are)\s+going\s+to\s+(?P<verb3>[a-z']+(?:\s+[a-z']+){0,2})"
    r"|\b(?:should|can\s+expect\s+to)\s+(?P<verb4>(?:arrive|be|get|receive|see|reach|come|have|"
    r"clear|show|land|go|take|hear|appear)\b(?:\s+[a-z']+){0,2})"
    r"|\bexpect\s+(?P<verb5>(?:it|them|a|an|the|your|to)\b(?:\s+[a-z']+){0,2})"
    # the present for a scheduled event, kept only with a time after it ("forty dollars goes back
    # on your card within two working days", "it ships tomorrow") or an event before it ("once it
    # reaches our warehouse the $89 goes back on your card")
    r"|\b(?P<verb6>(?:goes|comes|arrives|ships|leaves\s+(?:us(?!\s+with\b)|the\s+(?:warehouse|depot)|"
    r"our\s+(?:warehouse|depot))|lands|drops|shows|takes|can\s+take|"
    r"gets\s+(?:back|to|refunded|sent)|has\s+(?:up\s+to|until|till)|"
    r"(?<!you\s)(?<!\bi\s)(?<!\bit\s)(?:go\s+out|arrive|ship|come\s+back)|"
    r"is\s+(?:refunded|credited|sent|delivered|dispatched|due|booked|coming|arriving)|"
    # ("it's coming up on the system as…", "it's due to a fault": how things are, not a schedule)
    r"(?:it's|its|they're|theyre)\s+(?:still\s+|now\s+|also\s+)?(?:due(?!\s+to\s+(?:a|an|the)\b)|booked|"
    r"scheduled|coming(?!\s+up\b)|arriving)|"
    # what the centre does as a matter of course, said with its time ("we refund it within two
    # working days")
    r"(?<=\bwe\s)(?:refund|send|email|text|call|ring|credit|issue|ship|dispatch|collect|release)|"
    r"are\s+(?:refunded|sent|delivered|dispatched|due|booked|coming|arriving))\b(?:\s+[a-z']+){0,2})")
NOT_PROMISE = re.compile(
    r"^(?:not|need|have\s+to|be\s+(?:happy|glad|able|pleased|delighted)|i|you|we|"
    r"it|they|he|she|there|that\s+be\s+all|be\s+fine|be\s+okay|be\s+ok|also\s+need|just\s+need|"
    r"probably|never|want|like|see\s+you|thank|thanks|cheers|bye|goodbye)\b")
IMMEDIATE_VERB = re.compile(rf"^{IMMEDIATE}")
QUESTION_WORDS = {"what", "when", "how", "where", "why", "which", "who", "will", "shall"}
WHEN_QUESTION = re.compile(r"\b(?:when|how\s+long|how\s+soon|what\s+time|what\s+day|by\s+when)\b")
# a condition on what the caller chooses or does makes an offer or an instruction ("if you order
# before eight…", "when you call back we can…"); a condition on events is still a promise ("if
# it's lost we'll send a replacement"), and so is one on what the caller did or has not yet heard
# ("…taken when you paid, so it'll be back in two days", "if you haven't heard by seven, the team
# leader will ring you")
CONDITIONAL = re.compile(r"\b(?:if|unless|once|when|as\s+long\s+as)\s+(?:you|you'd|youd|you're)\b"
                         r"(?!\s+(?:haven't|havent|don't\s+hear|dont\s+hear|do\s+not\s+hear|"
                         r"still\s+haven't|still\s+havent))(?<!when\syou(?=\s(?:paid|ordered|bought|placed|"
                         r"called|rang|phoned|signed|booked)\b))|"
                         r"\bif\s+(?:we|i)\s+(?:were|did|had)\b")
STATE_NOW = re.compile(r"^be\s+(?:all\s+)?(?:set|done|good|fine|ready|sorted|it|the\s+one)\b")
# "i'm not sure what they'll say" (but not "how about this, i'll ring you…", "which ports, and i'll…")
EMBEDDED = re.compile(r"\b(?:what|how|why|whether|who|which|know|sure)\s+"
                      r"(?:(?!and\b|so\b|but\b|about\b)\S+\s+){0,2}$")
# "would" / "'d" before these is a wish, an opinion or a past ("you'd rung us before")
WOULD_NOT = re.compile(r"(?:(?:already|just|normally|usually|probably|personally|definitely|also|still|"
                       r"really|actually)\s+)*(?:rather|prefer|like|love|want|need|think|say|expect|recommend|"
                       r"suggest|advise|imagine|guess|hope|be\s+able|be\s+better|have\s+(?:to|been|had|got|gone)|"
                       r"end\s+up|been|had|got|gone|[a-z]+ed|rung|done|sent|try|go\s+for|avoid|wait|use|"
                       r"unplug|leave|explain|give\s+it)\b")
PAST_MODAL = re.compile(r"(?:have|of)\s+(?:been|had|got|gone|done|told|sent|given|known|[a-z]+ed)\b")
VERBS = ("verb", "verb2", "verb3", "verb4", "verb5", "verb6")
# "what i'll do is email you a summary today": the promise is what comes after "is"
CLEFT = re.compile(r"^do\s+(?:then\s+|now\s+)?is\b")
# a condition on an event ("if it's lost", "if it turns out we did take it twice"), not on the caller
EVENT_IF = re.compile(r"(?<!see\s)(?<!check\s)(?<!know\s)(?<!sure\s)(?<!ask\s)(?<!wonder\s)"
                      r"\b(?:if|in\s+case)\s+(?!you\b|you'd\b|youd\b|you're\b|youre\b|it\s+were\b|"
                      r"i\s+(?:could|were|was|remember|recall)\b|possible\b|not\b|so\b|"
                      r"that's\s+(?:ok|okay|alright|fine)\b|it's\s+(?:ok|okay|alright|fine)\b|"
                      r"that\s+doesn't|that\s+doesnt|it\s+happens\s+again)")
NOW = re.compile(r"\b(?:now|right\s+now|right\s+away|straight\s+away|immediately|while\s+you're|"
                 r"while\s+youre|whilst)\b")
BOOKED = re.compile(r"\b(?:booked|rebooked|arranged|scheduled|set\s+up|organised|organized|"
                    r"(?:moved|changed)\s+(?:it\s+)?to)\b")


def _promises(turn: Turn) -> list[tuple[int, int]]:
    """Where the agent promises something for after the call (each separate promise: "they'll go
    out today and should reach you Friday" is two), and where the clause saying it starts."""
    out, pos = [], 0
    while (m := FUTURE.search(turn.sh, pos)) is not None:
        found = _promise_at(turn, m)
        if found is not None:
            out.append(found)
            pos = m.end()
        elif m.group("subj") in QUESTION_WORDS or _question(turn, m.start()) or re.match(
                r"(?:i|you|we|it|they|he|she)\b", m.group("verb") or ""):
            pos = m.end()  # "okay will it arrive on friday", "and will they ship tomorrow": no
            # promise in a question's words
        else:  # the words after a verb that is no promise may hold one ("if the line drops | my
            # colleague will ring you back")
            group = next(g for g in VERBS if m.group(g))
            pos = m.start(group) + len(m.group(group).split()[0])
    return out


def _promise_at(turn: Turn, m: re.Match) -> tuple[int, int] | None:
    """A FUTURE match as a promise (where it is and where its clause starts), or None."""
    group = next(g for g in VERBS if m.group(g))
    verb = m.group(group)
    subj = m.group("subj")
    if subj in QUESTION_WORDS or (subj and subj in ("what", "that") and verb.startswith("be all")):
        return None
    first_person = subj == "i" or m.group("verb2") is not None and \
        turn.sh[m.start():m.start() + 3] == "ill" or m.group("verb3") is not None and \
        turn.sh[m.start()] == "i"
    if (m.group("verb6") is None and NOT_PROMISE.match(verb)) or (first_person and (
            IMMEDIATE_VERB.match(verb) or re.match(r"be\s+with\s+you\b", verb))):
        return None
    a, b = turn.sentence_at(m.start())
    before = turn.sh[a:m.start()]
    # what happens if something happens ("if it's lost, we send a new one straight away", "if
    # the courier can't find it, that's on them. you'd still get the full $649 back")
    prev = [s for s in turn.sentences if s[1] <= a][-1:]
    event = EVENT_IF.search(before)
    modal = (m.group("modal") or "").strip()
    if modal in ("'d", "would") and (subj == "i" or WOULD_NOT.match(verb) or not (
            event or (prev and EVENT_IF.search(turn.sh[prev[0][0]:prev[0][1]])))):
        return None  # "i'd try a reset" (advice), "whichever you'd rather", "you'd rung us
        # before": no promise, nor one without the event it waits on
    if PAST_MODAL.match(verb) and modal not in ("'ll", "will", "shall"):
        return None  # "we should have told you", "that should have been refunded": what went wrong
    later = times(turn.sh[m.end():b])
    # "now" said after the verb's first word ("it should be there now"; not "it's now coming on…")
    after = m.start(group) + len(verb.split()[0]) if group != "verb6" else m.end()
    now = NOW.search(turn.sh[after:b])
    # someone else's "straight away" is for after the call ("then they'll refund the $89
    # straight away"); the agent's own, or a "now", is done on it
    theirs = now is not None and now.group(0) != "now" and re.match(
        r"(?:they|theyll|hell|shell|he|she)\b", turn.sh[m.start():]) is not None
    if now and not later and not event and not theirs:
        return None  # "i'm going to refund the charge now", "you should be all set now"
    if STATE_NOW.match(verb) and not later:
        return None  # "that'll be it", "you'll be all set": how things are, not a promise
    if m.group("verb6") is not None and (not (times(turn.sh[m.start():b]) or any(
            a <= c.start and c.end <= m.start() for c in conditions(turn.utt.text, turn.sh))) or re.search(
            r"\b(?:if|once|when|unless|soon\s+as)\s+(?:\S+\s+){0,3}$", before)):
        return None  # "it goes back on your card" with no time or "once…": how things work; "if the
        # price drops within 14 days": the condition, not what is promised
    # "what i'll do is…" (not "what you'll do is…", an instruction)
    cleft = CLEFT.match(verb) and re.match(r"(?:i|we)\b", turn.sh[m.start():])
    if cleft and not later:
        return None  # "what i'm going to do is open a trace": said and done on the call
    if CONDITIONAL.search(before) or _question(turn, m.start()) or (
            EMBEDDED.search(before) and not cleft):
        return None
    lead = re.search(r"\b(?:what|all)\s+$", before) if cleft else None
    if lead:  # the clause starts at "what" ("all i'll do is…")
        return m.start(), a + lead.start()
    return m.start(), _subject_start(turn, m)


PRONOUN = {"i", "we", "you", "it", "they", "he", "she", "this", "that", "someone", "somebody",
           "everything", "ill", "youll", "itll", "theyll", "thatll"}
CONJUNCTION = {"and", "but", "so", "then", "which", "also"}


def _subject_start(turn: Turn, m: re.Match) -> int:
    """Where the clause of a promise begins: at its pronoun ("you'll get…"), a few words before
    for a noun ("the new router will…", "the refund should…"), at the sentence start when the
    subject is left out ("…has been processed and will show…"); a few words before a present-tense
    schedule too ("the refund goes out…", "your card is credited…")."""
    sa, _ = turn.sentence_at(m.start())
    subj = m.group("subj")
    own = m.group("verb6") is None or re.match(r"(?:it's|its|they're|theyre)\b", m.group("verb6"))
    if subj in PRONOUN or (subj is None and m.group("verb4") is None and m.group("verb5") is None
                           and own):
        return m.start()
    if subj in CONJUNCTION:
        return sa
    if subj and turn.utt.text[m.start():m.start() + 1].isupper() and \
            turn.utt.text[m.start() - 1:m.start()] == " " and turn.sh[sa:m.start()].strip():
        return m.start()  # a name ("…cut off, Dana will ring you back")
    words = list(re.finditer(r"[^\s|]+", turn.sh[sa:m.start()]))
    start = m.start()
    for w in reversed(words[-3:]):
        if w.group() in CONJUNCTION or w.group() in ("to", "for", "on", "with"):
            break
        start = sa + w.start()
        if w.group() in PRONOUN or w.group() in ("the", "your", "a", "an", "our", "my"):
            break
    # not in the middle of an amount ("two hundred and | fifty pounds goes back…", "the twenty |
    # five ninety nine goes back…")
    first = start
    k = next((i for i, w in enumerate(words) if sa + w.start() == start), None)
    while k and all(NUMBER_WORD.fullmatch(w.group()) or w.group() == "and" for w in words[k - 1:k + 1]):
        k -= 1
        start = sa + words[k].start()
    money = next((x for x in amounts(turn.utt.text, turn.sh) if x.start < start < x.end), None)
    start = money.start if money is not None else start
    det = re.search(r"\b(?:the|your|a|an|our|my)\s+$", turn.sh[sa:start]) if start < first else None
    return sa + det.start() if det else start


def _pick(spans: list[Span], turn: Turn, at: int, same_sentence: bool = False) -> Span | None:
    """The time or amount that goes with a promise at `at`: the first after it in its sentence,
    else the first after it (not for an amount: the next sentence's money is another matter),
    else the last before it in its sentence."""
    a, b = turn.sentence_at(at)
    after = [s for s in spans if s.start >= at]
    same = [s for s in after if s.start <= b]
    if same:
        return same[0]
    if after and not same_sentence:
        return after[0]
    before = [s for s in spans if a <= s.start < at]
    return before[-1] if before else None


def commitments(turns: Sequence[Turn], caller: str) -> list[Fact]:
    out = []
    last_caller: Turn | None = None
    for t in turns:
        if t.utt.speaker == caller:
            last_caller = t
            continue
        found = _promises(t)
        tms = times(t.utt.text, t.sh)
        if not found and tms and last_caller is not None and WHEN_QUESTION.search(last_caller.sh) \
                and re.search(r"\b(?:you|your)\b", t.sh) and not CONDITIONAL.search(t.sh):
            found = [(tms[0].start, t.sentence_at(tms[0].start)[0])]  # "when will it come?" answered
        m = BOOKED.search(t.sh) if tms else None
        # "i've booked an engineer for thursday": a date agreed, also beside a promise after it
        # ("booked for saturday the 5th, and the team will text you the evening before")
        if m and not any(abs(at - m.start()) < 30 for at, _ in found):
            booked = [s for s in tms if s.start > m.start()
                      and t.sentence_at(s.start) == t.sentence_at(m.start())]
            if booked and not any(m.start() < at <= booked[0].start for at, _ in found):
                found = sorted(found + [(m.start(), max(t.sentence_at(m.start())[0],
                                                        _word_start(t.sh, m.start(), 2)))])
        money = amounts(t.utt.text, t.sh)
        events = conditions(t.utt.text, t.sh)
        for n, (at, begin) in enumerate(found):
            # each promise's time and money lie between the promises before and after it
            low = found[n - 1][0] + 1 if n else 0
            upto = found[n + 1][0] if n + 1 < len(found) else len(t.sh)
            a, b = t.sentence_at(at)
            when = _pick([s for s in tms if low <= s.start < upto], t, at)
            # an event used as its time ("as soon as i hear from them", "once it reaches our
            # warehouse, we refund it…"): the first of two times said is the promise's
            lead = next((s for s in reversed(events) if max(low, a) <= s.start < begin
                         and _subject_only(t.sh[s.end:begin])), None)
            after = next((s for s in events if at <= s.start <= b and low <= s.start < upto), None)
            if lead is not None:
                if lead.end > begin:  # "once we've got the laptop back we | refund it…"
                    said = re.sub(r"(?:\s+(?:we|i|you|they))?[\s,;:-]*$", "", t.utt.text[lead.start:begin])
                    lead = Span(lead.start, lead.start + len(said), said)
                when = lead
            elif after is not None and (when is None or when.start > after.start or when.start < at
                                        or t.sentence_at(when.start) != (a, b)):
                when = after
            amount = _pick([s for s in money if low <= s.start < upto], t, at, same_sentence=True)
            end = max([at + 1] + [s.end for s in (when, amount) if s is not None and s.start >= at])
            out.append(Fact(t.clause(lead.start if lead is not None else begin, end), (t.id,),
                            _when(when, t), amount.text if amount else None))
    return out


def _subject_only(words: str) -> bool:
    """Whether what lies between an event and a promise is at most its subject ("once it reaches
    our warehouse, | the new one | goes out"), so that the event is the promise's own time."""
    w = words.replace("|", " | ").split()
    return len(w) <= 5 and not any(x == "|" or x in CONJUNCTION or x in ("then", "it's", "its") for x in w)


def _when(span: Span | None, turn: Turn) -> str | None:
    """The time words of a promise: a bare leading "in" dropped ("in three to five working days"
    is "three to five working days"), "noon" or "midday" after a clock time kept ("before 12
    noon")."""
    if span is None:
        return None
    text = span.text
    after = re.match(r"\s+(?:noon|midday|o'clock|or\s+so|at\s+the\s+(?:very\s+)?(?:latest|most))\b",
                     turn.utt.text[span.end:], flags=re.I)
    if after:
        text += turn.utt.text[span.end:span.end + after.end()]
    # kept: "by", "within", "on", "until", "before", "up to" change the meaning; a bare "in" and
    # other prepositions ("booked for thursday the 10th") do not
    return re.sub(r"^(?:in|for|to)\s+(?=\S)", "", text, flags=re.I)


# ---- resolved? -------------------------------------------------------------------------------

POSITIVE = re.compile(
    r"\b(?:thank you|thanks|thank|cheers|ta|that works|works now|working now|it works|sorted|"
    r"that helps|appreciate it|appreciated|perfect|brilliant|great|lovely|wonderful|excellent|"
    r"fantastic|happy with that|fine|good|helpful|amazing|awesome|thats all|thats everything|"
    r"thats it|nothing else|that is all|that is everything)\b")
NEGATIVE = re.compile(
    r"\b(?:not happy|unhappy|unacceptable|ridiculous|disappointing|disappointed|useless|"
    r"complaint|complain|rubbish|waste of (?:my )?time|not good enough|not great|not ideal|"
    r"i suppose|whatever|still (?:not|doesnt|hasnt|wont|isnt|dont)|terrible|awful|a joke|"
    r"fed up|sick of|pathetic|not acceptable|no help|not helpful|ill wait|i will wait|"
    r"i guess|hopeless|not sorted|not resolved|doesnt help|dont understand|still confused)\b")
# an answer someone still has to give or the agent still has to find ("I'll email you the moment
# they reply", "I'll ask our product team and email you the answer"): open work, and of it the
# kind that leaves a call open (PENDING)
STILL_TO_COME = (
    # ... not a notice of where a parcel or repair is ("the courier will text you when it's ready
    # to collect", "we'll call you as soon as it's on its way back", "... when they're ten minutes
    # away"; but "I'll email you the moment the courier comes back to us" is an answer)
    r"(?:email|text|call|ring|let) you (?:know )?(?:as soon as|once|when|the moment)"
    r"(?! (?:it|its|theyre|they|hes|shes|the driver|the parcel|the courier|your \w+)(?: is| are)?"
    r" (?:\w+ ){0,3}?(?:ready|on its way|on the way|away|nearby|out for delivery|dispatched|"
    r"arrives|arrived|delivered)\b)|"
    r"the moment (?:they|i|we) hear|as soon as (?:they|i|we) hear|"
    r"(?:email|e mail|text|call|ring|phone|get back to) you (?:with )?(?:the|an) answer|"
    r"(?:find out|check) and (?:email|call|ring|text|get back)|ask (?:our|the) \w+ (?:\w+ )?team and")
OPEN_WORK = re.compile(
    r"\b(?:call you back|ring you back|get back to you|come back to you|investigat\w*|"
    r"raised a ticket|raise a ticket|opened a ticket|open a ticket|escalat\w*|look into it|"
    r"looking into it|chase|chasing|follow up with|pass (?:it|this) (?:on )?to|passed (?:it|this) "
    r"(?:on )?to|refer (?:it|this)|referred|"
    # an answer that someone else still has to give: a trace, a query, a review
    r"(?:opened|raised|started|logged|put in) (?:a |an )?(?:trace|query|dispute|request with)|"
    r"(?:raised|logged) (?:it|this|that) with|come back to us|get back to us|"
    + STILL_TO_COME + r")\b")
# of that work, an answer or outcome someone still has to give: the label rules make such a call
# open however it ends ("I've opened a trace, they've three working days to come back to us",
# "I'll ask our product team and email you the answer"); "come back to us" said to the caller
# ("just come back to us if it happens again") is not
PENDING = re.compile(
    r"\b(?:investigat(?:e|es|ing|ion)|(?:opened|raised|started|logged|put in) (?:a |an )?"
    r"(?:trace|query|investigation|dispute)|get back to you|" + STILL_TO_COME + r"|"
    r"raised (?:it|this|that) with|pass(?:ed)? (?:it|this) (?:on )?to|raised a ticket|"
    # a question sent on for someone else to answer ("i've sent them your question", "they'll
    # get back to me and i'll email you")
    r"(?:sent|passed) (?:them |it |on )?(?:the|your|his|her) question|"
    # someone named coming back with it ("they'll come back to us", "the depot will get back to
    # me", "they've three days to come back to us"; not a parcel's "two days to get back to us");
    # plain text has no apostrophes, so "they'll" is "theyll"
    r"(?:(?:theyll|hell|shell|itll|ill|well|will|should|they|team|she|he|depot|warehouse|courier)"
    r" (?:get|come)|to come) back to (?:us|you|me))\b")
# ... but not an answer the agent brings back on the call ("let me find out and get back to you
# in a moment")
ON_THE_CALL = re.compile(r"^\W*(?:\w+\W+){0,3}?(?:in (?:just )?a (?:moment|minute|sec\w*|tick|jiffy)|"
                         r"shortly|right back|in two ticks|after the hold)\b")
# how a caller ends a call that is not settled: still waiting, undecided, giving up ("fingers
# crossed" is not one: it ends as many settled calls as open ones, 4 and 4 of the labelled sets)
WAITING = re.compile(
    r"\b(?:ill be waiting|wait for (?:the|your|their|a|an) (?:call|email|text|reply|answer)|"
    r"keep an eye out|sit by the phone|hoping|"
    r"ill (?:ring|call) (?:them|you|back)|try again later|forget it|thanks anyway|just get it sorted|"
    r"make sure (?:they|someone|somebody)|well see|i might have to)\b")
CANNOT = re.compile(r"\b(?:i cant|i cannot|im unable to|i am unable to|im not able to|"
                    r"i am not able to|nothing (?:more |else )?i can do|theres nothing|"
                    r"not something we can|we cant|we cannot|we dont)\b")
TRANSFER = re.compile(r"\b(?:transferring|transfer|putting|put|passing|pass|connecting|connect|"
                      r"handing|hand)\s+you\s+(?:through|over|to|across|now)\b|\btransfer(?:ring)?"
                      r"\s+you\b|\btransfer\s+the\s+call\b")


def _tone(text: str) -> tuple[int, int]:
    """(positive, negative) words of a caller utterance; after "but", only what follows counts."""
    plain = plain_text(text)
    parts = re.split(r"\bbut\b", plain)
    tail = parts[-1] if len(parts) > 1 and len(parts[-1].split()) >= 1 else plain
    neg = len(NEGATIVE.findall(tail))
    pos = len(POSITIVE.findall(re.sub(NEGATIVE, " ", tail)))
    return pos, neg


@dataclass(frozen=True)
class Resolution:
    resolved: bool
    why: str
    utterances: tuple[int, ...]


@dataclass(frozen=True)
class Signals:
    """What the words of a call's end say about whether it was settled (see `resolution`)."""
    transfer: tuple[Turn, str] | None  # the agent putting the caller through, in its last 3 turns
    open_work: tuple[Turn, str] | None  # the last agent turn with work still to do
    open_work_late: bool  # ... and it is among the agent's last three turns
    pending: tuple[Turn, str] | None  # the last agent turn with an answer still to come (PENDING)
    cannot: tuple[Turn, str] | None  # the agent's "I can't" in its last two turns
    waiting: tuple[Turn, str] | None  # the caller ringing off still waiting or giving up
    closing: tuple[tuple[Turn, int, int], ...]  # the caller's last two turns, their (positive, negative) words


def signals(turns: Sequence[Turn], caller: str) -> Signals:
    agent = [t for t in turns if t.utt.speaker != caller]
    transfer = None
    for t in reversed(agent[-3:]):
        m = TRANSFER.search(plain_text(t.utt.text))
        if m and not _question(t, 0):
            transfer = (t, m.group())
            break
    closing = [t for t in turns if t.utt.speaker == caller][-2:]

    def last(pattern: re.Pattern, among: Sequence[Turn], unless: re.Pattern | None = None):
        """The first of `among` that says `pattern` (not followed by `unless`), with its words."""
        return next(((t, m.group()) for t in among for plain in [plain_text(t.utt.text)]
                     for m in pattern.finditer(plain)
                     if unless is None or not unless.match(plain[m.end():])), None)

    work = last(OPEN_WORK, agent[::-1])
    return Signals(transfer, work, work is not None and work[0] in agent[-3:],
                   last(PENDING, agent[::-1], ON_THE_CALL),
                   last(CANNOT, agent[-2:]),
                   last(WAITING, closing[::-1]), tuple((t, *_tone(t.utt.text)) for t in closing))


def resolution(turns: Sequence[Turn], caller: str, promised: Sequence[Fact],
               end_mood: str | None = None, end_mood_id: int | None = None,
               checked: int | None = None, said: Signals | None = None) -> Resolution:
    """Whether the caller's issue was settled, by the hand-written rules (the wrap-up's learned
    scorer reads the same signals: wrapup_model.resolved). A transfer is not. Otherwise the
    evidence is weighed: work still to be done (a callback, an investigation, a claim) and the
    agent saying they cannot help count against; how the caller ended the call (the last two
    caller utterances, the last counting double) for or against; the mood at the end and the
    agent's check that it is resolved a little. Nothing said either way: resolved."""
    said = said if said is not None else signals(turns, caller)
    if said.transfer is not None:
        return Resolution(False, f"transferred (“{said.transfer[1]}”)", (said.transfer[0].id,))
    score, against, ids, why = 0.0, False, [], []
    # what counts against: work still to do (the last said), the agent's "I can't" at the end,
    # the caller ringing off still waiting or giving up
    for hit, weight, say in ((said.open_work, 3, "still to do: “{}”"),
                             (said.cannot, 1, "the agent said “{}”"),
                             (said.waiting, 2, "the caller left it open: “{}”")):
        if hit is not None:
            score, against = score - weight, True
            ids.append(hit[0].id)
            why.append(say.format(hit[1]))
    last = None
    for weight, (t, pos, neg) in zip((1, 2)[-len(said.closing):], said.closing):
        if pos or neg:
            score += weight * (min(pos, 1) - min(neg, 1) * 1.5)
            against = against or neg > 0
            ids.append(t.id)
            last = ("the caller ended unhappy" if neg >= pos else "the caller ended content") \
                + f": “{_short(t.utt.text)}”"
    if last:
        why.append(last)
    if end_mood is not None and end_mood in NEGATIVE_LABELS:
        score, against = score - 1, True
        why.append(f"mood at the end: {end_mood}")
        ids += [end_mood_id] if end_mood_id else []
    if checked is not None:
        score += 0.5
        ids.append(checked)
        why.append("the agent checked it was resolved")
    resolved = score > 0 or (score == 0 and not against)
    text = "; ".join(why[-2:]) if why else "nothing was left open"
    return Resolution(resolved, text, tuple(dict.fromkeys(i for i in ids if i)))


def _short(text: str, n: int = 12) -> str:
    w = text.split()
    return " ".join(w[:n]) + (" …" if len(w) > n else "")
