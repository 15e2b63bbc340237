"""Times and money amounts in what was said, as the exact words of the text.

Written ("by Friday.", "£25.99", "$40", "within 24 hours", "on the 14th") and recognised
("by friday", "twenty five pounds", "forty nine ninety nine", "tomorrow before twelve",
"three to five working days") text both work: the patterns run over a *shadow* of the text that
has the same length (lower case, punctuation blanked, sentence ends kept as ``|``), so a match's
offsets cut the original words out unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_KEEP = set("abcdefghijklmnopqrstuvwxyz0123456789'£$€%")


def shadow(text: str) -> str:
    """`text` with the same length: lower case, sentence ends as '|', other punctuation blanked
    (a '.', ',' or ':' between digits and a '-' between digits are kept: 25.99, 10:30, 3-5)."""
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        low = ch.lower()
        c = low if len(low) == 1 else ch
        if c == "\u2019":
            c = "'"
        if c in _KEEP:
            out.append(c)
            continue
        between_digits = 0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        if c in ".,:-" and between_digits:
            out.append(c)
        elif c == "-" and 0 < i < n - 1 and text[i - 1].isalpha() and text[i + 1].isalpha():
            out.append("-")  # "two-hour window" is one word, not a duration
        elif c == "." and 0 < i < n - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
            out.append(" ")  # inside a word ("example.com", "mary.jones"): not a sentence end
        elif c in ".?!;":
            out.append("|")
        else:
            out.append(" ")
    return "".join(out)


# ---- number words -------------------------------------------------------------------------------
_U = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_TEEN = r"(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)"
_TENS = r"(?:twenty|thirty|forty|fourty|fifty|sixty|seventy|eighty|ninety)"
_LT100 = rf"(?:{_TENS}(?:[\s-]+{_U})?|{_TEEN}|{_U})"
WORD_NUMBER = (rf"(?:(?:(?:a|{_U})\s+hundred|(?:a|{_LT100})\s+thousand)(?:\s+(?:and\s+)?{_LT100})?"
               rf"|{_LT100})")
# one word of a number said in words ("forty", "hundred"), as callfacts walks back over an amount
NUMBER_WORD = re.compile(rf"{_U}|{_TEEN}|{_TENS}|zero|hundred|thousand")
_DIGITS = r"\d+(?:[.,]\d+)?"
NUMBER = rf"(?:{_DIGITS}|{WORD_NUMBER})"

# ---- times -------------------------------------------------------------------------------------
_WD = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
WEEKDAY = _WD  # a weekday's name, for other readings of the words (callfacts)
_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|"
          r"december)")
_PART = r"(?:morning|afternoon|evening|night|lunch\s*time)"
_ORDW = (r"(?:(?:twenty|thirty)\s+)?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
         r"|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|"
         r"eighteenth|nineteenth|twentieth|thirtieth")
_ORD = rf"(?:\d{{1,2}}(?:st|nd|rd|th)|{_ORDW})"
_DAY = (rf"(?:the\s+day\s+after\s+tomorrow|(?:first\s+thing\s+)?(?:tomorrow|{_WD})"
        rf"(?:\s+the\s+{_ORD}(?:\s+of\s+{_MONTH})?|\s+{_ORD}|\s+{_MONTH}\s+(?:the\s+)?{_ORD})?"
        rf"(?:\s+{_PART})?"
        rf"|today|tonight|later\s+(?:today|on\s+today|this\s+{_PART})"
        # before a dated event ("a text the evening before"); "the next working day"
        rf"|the\s+(?:evening|night|day|morning|afternoon)\s+before"
        rf"|the\s+(?:same|next|following)\s+(?:working\s+|business\s+)?day"
        rf"|(?:this|next|later\s+this)\s+(?:{_PART}|week|month|{_WD})"
        rf"|(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:day|play|business|today|tomorrow|week|month)"
        rf"|close\s+of\s+business)")
_DATE = (rf"(?:(?:the\s+)?{_ORD}\s+of\s+{_MONTH}|{_MONTH}\s+(?:the\s+)?{_ORD}|{_MONTH}\s+\d{{1,2}}\b"
         rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)")
_BARE_DATE = rf"(?:the\s+{_ORD})"  # "the 14th", "the first": only after on / by / before ...
_HOUR_W = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_AMPM = r"(?:am|pm|a\s+m|p\s+m|o'clock|oclock)"
_CLOCK_EXACT = (rf"(?:\d{{1,2}}(?:[:.]\d{{2}})?\s*{_AMPM}|\d{{1,2}}[:.]\d{{2}}"
                rf"|{_HOUR_W}\s+(?:thirty|fifteen|forty\s+five|{_AMPM})|noon|midday|midnight"
                rf"|(?:half|quarter)\s+(?:past|to)\s+(?:{_HOUR_W}|\d{{1,2}})"
                rf"|lunch\s*time)")
_CLOCK = rf"(?:{_CLOCK_EXACT}|{_HOUR_W}|\d{{1,2}})"  # "before twelve"; but "at one point" is no time
_CLOCK_PHRASE = (rf"(?:(?:at|around)\s+{_CLOCK_EXACT}"
                 rf"|(?:before|by|after|from|until|till|no\s+later\s+than)\s+{_CLOCK}"
                 rf"|between\s+{_CLOCK}\s+and\s+{_CLOCK}"
                 rf"|\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:am|pm))"
                 rf"(?:\s+(?:in\s+the\s+{_PART}|tonight))?")
_PREP = r"(?:by|before|on|until|till|no\s+later\s+than|from|for|after|at)"
_UNIT = r"(?:(?:working|business|calendar)\s+)?(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?)"
_QTY = rf"(?:{NUMBER}(?:\s*(?:-|to|or)\s*{NUMBER})?|(?:a\s+)?(?:few|couple\s+of|several))"
_WITHIN = r"(?:within|in|inside|under|up\s+to|no\s+more\s+than|less\s+than)"
# the words that end a clause said without punctuation ("… of it reaching us and then …")
_STOP = (r"(?:and|but|so|then|or|because|which|if|not|just|plus|usually|normally|please|hopefully|"
         r"probably|maybe|"
         r"we'll|you'll|i'll|it'll|they'll|he'll|she'll|that'll|"
         # a new clause's subject and verb ("… getting back to us | you won't pay …")
         r"(?:you|we|i|they|he|she)\s+(?:won't|wont|will|would|can|can't|cant|don't|dont|should|"
         r"need|have|get|are|were|may|might|must))\b")
_NEXT_WORD = rf" (?!{_STOP})[^\s|]+"  # one more word of the clause: a comma or a '|' ends it
# what a duration counts from: "of it reaching our warehouse", "after that", "after we receive
# the earbuds", "of getting your photos", "after the refund email"
_ANCHOR = (rf"(?:of|after)\s+(?:that|this|then"
           rf"|(?:it|them|us|we|they|you|i|he|she|getting|reaching|receiving|arriving|"
           rf"the|your|our|its|his|her|their)(?:{_NEXT_WORD}){{1,5}})")
_DURATION = (rf"(?:(?:{_WITHIN}\s+)?(?:the\s+(?:next|coming)\s+)?{_QTY}\s+{_UNIT}"
             rf"|{_WITHIN}\s+(?:the\s+(?:next\s+)?|an?\s+)(?:hour|day|week|month)"
             rf"|{_WITHIN}\s+the\s+next\s+(?:hour|day|week|month)"
             # "a minute or two", "within a day or so"
             rf"|(?:{_WITHIN}\s+)?(?:the\s+next\s+)?(?:a|an|one)\s+(?:second|minute|hour|day|week)"
             rf"\s+or\s+(?:two|so|three))"
             rf"(?:\s+{_ANCHOR})?")

TIME_PATTERNS = [re.compile(p) for p in (
    # a day or date, then maybe a clock time: "tomorrow before twelve", "by friday", "on the 14th"
    # (after a day a bare hour is a time: "friday at ten")
    rf"\b(?:{_PREP}\s+)?(?:{_DAY}|{_DATE})(?:\s+(?:{_CLOCK_PHRASE}|(?:at|around)\s+{_CLOCK}(?!\s+(?:point|stage|of|or|past|to|percent|per|hundred|thousand|"
    rf"pounds?|dollars?|quid|bucks|euros?|cents?|p)\b)))?(?![\w'])",
    rf"\b{_PREP}\s+{_BARE_DATE}(?:\s+of\s+{_MONTH})?(?:\s+{_CLOCK_PHRASE})?(?![\w'])",
    # a clock time, then maybe a day: "by 6pm on thursday"
    rf"\b{_CLOCK_PHRASE}(?:\s+(?:on\s+)?(?:{_DAY}|{_DATE}|{_BARE_DATE}))?(?![\w'])",
    rf"\b(?:{_DURATION})(?![\w'])",
)]

# ---- money -------------------------------------------------------------------------------------
_CUR_WORD = r"(?:pounds?|quid|dollars?|bucks|euros?|pence|p|cents?)"
_SPOKEN_PRICE = rf"(?:{_LT100}\s+(?:{_TENS}(?:\s+{_U})?|{_TEEN}|o\s+{_U}|oh\s+{_U}))"
_MONEY_CONTEXT = (r"(?:refund(?:ed)?|credit(?:ed)?|charge[ds]?|cost[s]?|price|pay|paid|payment|fee|"
                  r"discount|compensation|goodwill|total|back|of|for|be|is|was|get|see|receive)")
AMOUNT_PATTERNS = [re.compile(p) for p in (
    r"[£$€]\s?\d+(?:,\d{3})*(?:\.\d{1,2})?(?:\s?(?:k|m|bn)\b)?",
    rf"\b\d+(?:,\d{{3}})*(?:\.\d{{1,2}})?\s?(?:{_CUR_WORD}|%|percent|per\s+cent)(?![\w'])",
    rf"\b{NUMBER}\s+(?:{_CUR_WORD})(?:\s+(?:and\s+)?{_LT100}(?:\s+(?:pence|p|cents?))?)?(?![\w'])",
    rf"\b{WORD_NUMBER}\s+(?:percent|per\s+cent)(?![\w'])",
    # "a refund of forty nine ninety nine": a price said as two numbers, after a money word
    rf"\b{_MONEY_CONTEXT}\s+(?P<v>{_SPOKEN_PRICE})(?![\w'])",
    rf"\b(?:refund|credit|charge|pay|paid|cost|knock|take)\w*\s+(?:you\s+)?(?:the|a|an|your)\s+"
    rf"(?:full\s+)?(?P<v>{_SPOKEN_PRICE})(?![\w'])",
    rf"\b{_MONEY_CONTEXT}\s+(?P<v>\d+\.\d{{2}})(?![\w'])",
    rf"\b(?P<v>{_SPOKEN_PRICE})\s+(?:back|refunded|credited|off|a\s+month|per\s+month)\b",
)]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _spans(text: str, patterns, shadowed: str | None = None) -> list[Span]:
    """Non-overlapping matches of any of `patterns`, longest first where they overlap, in order."""
    sh = shadowed if shadowed is not None else shadow(text)
    found = []
    for pat in patterns:
        for m in pat.finditer(sh):
            a, b = m.span("v") if "v" in pat.groupindex else m.span()
            while b > a and sh[b - 1] in " |":
                b -= 1
            if b > a:
                found.append((a, b))
    found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[Span] = []
    for a, b in sorted(found, key=lambda s: -(s[1] - s[0])):
        if all(b <= s.start or a >= s.end for s in out):
            out.append(Span(a, b, text[a:b]))
    return sorted(out, key=lambda s: s.start)


# an event used as a time: "once it reaches our warehouse", "as soon as i hear from them", "when
# the new one ships", "on the same visit". Not on what the caller does ("once you've sent it":
# an instruction or an offer).
_YOU = r"(?:you|you're|youre|you've|youve|you'd|youd|you'll|youll)\b"
# after its first word, an event's clause ends where another clause starts: its subject ("once
# we've got it back we refund it", "once the account's closed you won't…") or the next thing said
_NOT_EVENT = (rf"(?:{_STOP}|anything\s+else\b|(?:we|you|i|they|he|she|there|thank|thanks|okay|ok|alright|"
              r"great|perfect|lovely|cheers|bye)\b)")
CONDITION_PATTERNS = [re.compile(p) for p in (
    rf"\b(?:once|as\s+soon\s+as|the\s+moment|when|whenever)\s+(?!{_YOU}|{_STOP})[^\s|]+"
    rf"(?: (?!{_NOT_EVENT})[^\s|]+){{0,6}}",
    r"\b(?:on|at|during)\s+the\s+same\s+(?:visit|trip|time|delivery|drop)\b",
    r"\bwhile\s+(?:they're|theyre|they\s+are|he's|hes|she's|shes|we're|were)\s+(?:there|here|out)\b",
)]
_DANGLING = re.compile(r"(?:\s+(?:the|a|an|our|your|my|to|at|of|on|with|for|from|by|is|are|it's|"
                       r"its|and|we|i|you|they))+$")
# a new subject with its verb ends an event said without punctuation: "once it reaches the repair
# centre | the repair takes…", "once it's back at our warehouse | the forty nine ninety nine goes…"
_NEW_SUBJECT = re.compile(
    rf" (?:the|your|our|my|his|her|their)(?: (?!the\b|your\b|our\b|a\b|{_STOP}|it's\b)[^\s|]+){{0,4}}"
    r" (?:[^\s|]+'s|is|are|goes|go|gets|get|will|should|can|could|takes|take|comes|come|ships|ship|"
    r"arrives|arrive|has|have|won't|wont|isn't|isnt)\b")


def conditions(text: str, shadowed: str | None = None) -> list[Span]:
    """Events used as times in a promise ("once it's back at our warehouse"), the words said."""
    sh = shadowed if shadowed is not None else shadow(text)
    out = []
    for s in _spans(text, CONDITION_PATTERNS, sh):
        end = s.end
        first = re.match(r"(?:as soon as|the moment|\S+)\s+\S+", sh[s.start:end])  # its subject
        new = _NEW_SUBJECT.search(sh, s.start + first.end(), s.end + 80) if first else None
        if new and new.start() < end:
            end = new.start()
        cut = _DANGLING.search(sh[s.start:end])
        end = s.start + cut.start() if cut else end
        if len(sh[s.start:end].split()) >= 2 + sh[s.start:end].startswith("as soon as") * 2:
            out.append(Span(s.start, end, text[s.start:end]))
    return out


def times(text: str, shadowed: str | None = None) -> list[Span]:
    """When things will happen: "by friday", "within 24 hours", "tomorrow before twelve"."""
    return [s for s in _spans(text, TIME_PATTERNS, shadowed) if _is_time(s.text)]


_ADJECTIVE = re.compile(rf"^(?:{NUMBER}(?:\s*(?:-|to|or)\s*{NUMBER})?)\s+(?:working\s+|business\s+)?"
                        r"(?:minute|min|hour|hr|day|week|month)$")
_ONE = re.compile(r"^(?:one|a|an|1)\s")


def _is_time(words: str) -> bool:
    """Drop a bare number ("at 5" is a time, "5" is not) and a duration used as an adjective: a
    number above one with a singular unit ("a two hour window", "24 hour delivery")."""
    w = shadow(words).replace("|", " ").split()
    if not w or (len(w) == 1 and w[0].isdigit()):
        return False
    plain = " ".join(w)
    return not (_ADJECTIVE.match(plain) and not _ONE.match(plain))


def amounts(text: str, shadowed: str | None = None) -> list[Span]:
    """Money (and percentages): "£25.99", "$40", "twenty five pounds", "forty nine ninety nine"."""
    return _spans(text, AMOUNT_PATTERNS, shadowed)
