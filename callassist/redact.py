"""Personal-data redaction for stored transcripts, on text as speech recognition writes it.

Finds card numbers (and security codes, last four), account / customer / order / reference
numbers, phone numbers, e-mail addresses (written "a.b@c.com" or spoken "a dot b at c dot com")
and other digit sequences, whether written as numerals ("4111 1111", "555-0199", "(555) 010-0199")
or spoken ("four one one one", "oh", "double five", "ninety nine", fillers "uh"/"um" and "dash"
between groups), and replaces each by a tag: [card number], [account number], [phone number],
[email] or [number]. The rest of the text is kept exactly as it was.

How: a tokenizer that keeps character offsets and tells numerals from amounts ($12,500, 39.99),
times (10:45), dates (09/27) and ordinals (1st); a pass for e-mail addresses; passes for IBANs,
UK postcodes and dates that are personal (expiry, date of birth); a pass that joins
digit words and numerals into runs across separators. A run of 5 or more digits is redacted unless
it is a quantity (followed by a unit: "dollars", "hours", "gigs"; "thousand"; after "paid",
"costs"); a run of 3-4 digits only when a context word precedes it closely ("card", "account",
"pin", "cvv", "zip", "last four", "ending in", "number" ...). The nearest context word chooses
the category; without one the shape does (13-19 digits: card; phone-like groups: phone).
"to", "for", "too" count as digits only between digit words (or inside a long run of numerals,
Whisper's "4532, 771 to 3456"), "oh" only next to digits. Whisper's other forms are read too:
"4,111,111,101,..." and "5.5, 2, 3" join into one run, and "my email is <anything> dot com"
is an address however it was misheard. Each utterance is redacted on its own.

Measured with scripts/eval_redaction.py on three sets. tests/data/redaction.yaml (122 utterances
with 129 items, 130 harmless), written alongside the code: recall 1.00, over-redaction 0.00.
Two sets written blind, by someone who had seen neither the code nor the other sets:
redaction_heldout.yaml (70 utterances, 80 items, 70 harmless) scored recall 0.912 and
over-redaction 0.014 when it was written, redaction_heldout2.yaml (80 / 95 / 80) 0.947 and 0.000;
the rules their misses pointed to (written expiry dates and dates of birth, spoken dates of birth,
UK postcodes, IBANs, corrections right after a number, hesitations inside ids, e-mail domains of
several words, short numbers after "call") bring all three to 1.00 / 0.00. Expect about 0.95 on
speech none of them has seen. The tag names the labelled category for most items (a CVV called
"the code" is tagged [number]; "account ending in 6161" is tagged [card number]).
Known limits: a 5+ digit number without context, currency or unit ("it says 10027 on the
screen") is redacted as [number]; a written date is redacted only after expiry / birth words; an
address Whisper mangled without "email" before it ("send it to Sarah.com") is missed; context in
the previous utterance is not seen.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from typing import NamedTuple, Sequence

from .events import (CallerPoint, ChecklistItem, CoachingTip, EscalationAdvice, Event, KnowledgeMatch,
                     MoodState, PartialUtterance, PhraseSuggestion, Utterance, Word)
from .text import DIGIT_WORDS
from .timeline import Timeline

TAGS = {"card": "[card number]", "account": "[account number]", "phone": "[phone number]",
        "email": "[email]", "number": "[number]"}


@dataclass(frozen=True)
class Redaction:
    start: int  # char offsets in the original text
    end: int
    category: str  # card, account, phone, email, number
    text: str  # the original span

    @property
    def tag(self) -> str:
        return TAGS[self.category]


# ---- tokens ------------------------------------------------------------------------------------

class _Tok(NamedTuple):
    kind: str  # email, money, time, date, ordinal, amount, num, alnum, word, punct
    start: int
    end: int
    text: str
    low: str


_TOKEN = re.compile(r"""
    (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
  | (?P<money>[$£€]\s?\d[\d,]*(?:\.\d+)?)
  | (?P<time>\d{1,2}:\d{2}(?::\d{2})?)
  | (?P<date>\d{1,4}/\d{1,4}(?:/\d{1,4})?)
  | (?P<ordinal>\d+(?:st|nd|rd|th)\b)
  | (?P<num>\d+(?:\.\d+){2,}(?!\d))                      # 415.555.2671 is not a decimal
  | (?P<amount>(?<!\d,)\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!,?\d)|\d+\.\d+)  # 12,500  39.99  4.5, not 4,111,111,1011
  | (?P<alnum>[A-Za-z]+\d[A-Za-z\d]*|\d+[A-Za-z][A-Za-z\d]*)
  | (?P<digits>\d+)
  | (?P<word>[A-Za-z]+(?:['’][A-Za-z]+)*)
  | (?P<punct>\S)
""", re.X)


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = "num" if m.lastgroup == "digits" else m.lastgroup
        out.append(_Tok(kind, m.start(), m.end(), m.group(), m.group().lower().replace("’", "'")))
    return out


# ---- vocabulary ----------------------------------------------------------------------------------

_UNITS = {k: v for k, v in DIGIT_WORDS.items() if k not in ("to", "too", "for")}  # incl. oh, o
_STRICT = {k: v for k, v in _UNITS.items() if k not in ("oh", "o")}
_HOMOPHONES = {k: DIGIT_WORDS[k] for k in ("to", "too", "for")}
_TEENS = {w: str(10 + i) for i, w in enumerate(
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: str(i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}
_FILLERS = {"uh", "um", "umm", "uhm", "er", "erm", "ah", "hmm", "mm", "dash", "hyphen"}
_SEPARATORS = set("-,()–—…")
_SENTENCE_END = set(".?!;")

# what follows a quantity, not an identifier
_UNIT_AFTER = set("""
    dollar dollars buck bucks pound pounds quid euro euros cent cents pence percent per k grand
    thousand million billion hundred year years yr yrs month months week weeks day days hour hours
    hr hrs minute minutes min mins second seconds sec secs o'clock am pm gig gigs gigabyte gigabytes
    gb tb mb meg megs megabit megabits mbps inch inches times people miles km kg degrees feet foot
    meters metres points items bedrooms rooms seats users devices limit overdraft
""".split()) | {"%", "$"}
# words right before a number that make it a version / model / size, not personal
_NOT_PERSONAL_BEFORE = {"version", "v", "model", "firmware", "size", "room", "page", "step", "level",
                        "flight", "gate", "channel", "chapter", "series", "gen", "generation", "windows"}
# words that make the number an amount, or end the context window
_AMOUNT_WORDS = {"paid", "pay", "paying", "cost", "costs", "costing", "price", "priced", "charged",
                 "charge", "fee", "fees", "spent", "spend", "owe", "owed", "refund", "refunded",
                 "balance", "worth", "quoted", "budget", "bill", "billed", "discount", "save", "saved",
                 "came", "comes", "total", "totals", "totalled", "deposit", "offered"}
_BLOCKERS = {"since", "from", "until", "till", "within", "around", "about", "after", "before", "ago",
             "during", "between", "like", "maybe", "approximately", "roughly", "in", "by", "opened",
             "joined", "started", "bought", "moved", "year", "years", "for"}
# a keyword preceded by one of these is no personal context ("error code", "model number")
_NEUTRALISERS = {"error", "promo", "promotional", "discount", "voucher", "coupon", "model", "version",
                 "part", "product", "room", "flight", "gate", "channel", "page", "step", "option"}

_KEYWORDS: dict[tuple[str, ...], str] = {}
for _cat, _phrases in {
    "card": "card|visa|mastercard|amex|american express|debit|credit|cvv|cvc|cv2|security code|"
            "security number|security digits|last four|last 4|last four digits|ending in|ending with|"
            "ending|ends in|ends with|starts with|starting with|expiry|expires|expiring|expiration|"
            "exp|long number",
    "account": "account|acct|customer|order|reference|ref|ticket|case|invoice|membership|member|"
               "policy|id|tracking|confirmation|booking|claim|contract|subscriber|loyalty|sort code|"
               "iban|username|user id|reference number|incident|request|application|registration",
    "phone": "phone|mobile|cell|cellphone|landline|telephone|call|call me|calling|reach|reach me|"
             "text me|ring|ring me|callback|call back|contact|whatsapp|fax",
    "extension": "area code|extension|ext",  # a phone number's part: 3-4 digits are enough
    "number": "pin|zip|zip code|postcode|post code|postal code|social|ssn|social security|"
              "national insurance|passcode|password|otp|verification|code|serial|licence|license|"
              "passport|date of birth|dob|born|pin number|social security number|national insurance number",
    "": "number|no|num|digits|#",  # generic: some personal number, the shape says which
}.items():
    for _p in _phrases.split("|"):
        _KEYWORDS[tuple(_p.split())] = _cat
_KEY_LEN = max(len(k) for k in _KEYWORDS)
_SHORT_PHONE = 7  # fewer digits after "call", "phone"... is a time or a count, not a number to dial
# a written date after these is an expiry date (card) or a date of birth (number)
_DATE_KEYS = {"expiry": "card", "expires": "card", "expiring": "card", "expiration": "card",
              "exp": "card", "valid": "card", "birth": "number", "born": "number", "dob": "number",
              "birthday": "number"}
_POSTCODE_KEYS = {("postcode",), ("post", "code"), ("postal", "code"), ("zip",), ("zip", "code"),
                  ("zipcode",), ("eircode",)}
# UK-style postcodes: "SW1A 1AA", "M1 4BT", "LS14 AP" is not one (needs digit + two letters)
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$")
_POSTCODE_WRITTEN = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
_SOFT_FILLERS = {"uh", "um", "umm", "uhm", "er", "erm", "ah"}  # hesitations inside an id
# IBAN: country, check digits, then groups of letters and digits ("GB29 NWBK 6016 1331 9268 19")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
           "sep", "sept", "oct", "nov", "dec"}
_ORDINAL_WORDS = {"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
                  "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
                  "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth", "thirtieth"}
_BIRTH_KEYS = {k for k, v in _DATE_KEYS.items() if v == "number"}
_WINDOW = 8  # words looked at before a number (fillers not counted)
_AHEAD = 3  # words looked at after it ("... is my pin")

_EMAIL_CONNECTORS = {"dot", "underscore", "dash", "hyphen", "period", ".", "_", "-"}
_TLDS = {"com", "net", "org", "co", "uk", "io", "edu", "gov", "us", "ca", "de", "fr", "au", "ie", "nz",
         "in", "info", "biz", "me", "eu", "es", "it", "nl", "tv", "ac"}
_PROVIDERS = {"gmail", "googlemail", "yahoo", "hotmail", "outlook", "icloud", "aol", "protonmail",
              "proton", "live", "msn", "gmx", "btinternet", "comcast", "yandex", "mail"}
_EMAIL_STOP = {"is", "it's", "its", "it", "me", "my", "email", "mail", "address", "to", "send",
               "use", "at", "the", "and", "was", "um", "uh", "so", "yeah", "that's", "on", "as", "of",
               "be", "you", "can", "or", "please", "here", "there", "that", "reach", "contact",
               "write", "try", "under", "with", "by", "from", "for", "also", "just", "i", "we"}
_EMAIL_KEYS = {"email", "mail", "emails"}
_COPULA = {"is", "it's", "its", "it", "was", "'s", "address", ":", "uh", "um"}
_EMAIL_END_WORDS = {"and", "or", "but", "so", "because", "then", "please", "thanks", "thank"}
_DOMAIN_STOP = {"the", "a", "an", "my", "your", "this", "that", "it", "home", "least", "all", "once",
                "first", "last", "me", "you", "us", "them", "work"}
_COMMON_CAPS = {"OK", "ID", "TV", "PM", "AM", "UK", "US", "USA", "PC", "IT", "TB", "GB", "MB", "SMS",
                "PIN", "CVV", "CVC", "ATM", "DNS", "SSN", "DOB", "OTP", "IBAN", "NO", "ON", "IN", "IS"}


def _is_letter(t: _Tok) -> bool:
    return t.kind == "word" and len(t.text) == 1


# ---- e-mail addresses ----------------------------------------------------------------------------

def _emails(toks: list[_Tok]) -> list[tuple[int, int]]:
    """(first, last) token indices of each e-mail address, written or spoken."""
    found = [(i, i) for i, t in enumerate(toks) if t.kind == "email"]
    for k, t in enumerate(toks):
        if t.low in ("at", "@") and 0 < k < len(toks) - 1:
            end = _email_domain(toks, k + 1)
            start = _email_local(toks, k - 1) if end is not None else None
            if start is not None:
                found.append((start, end))
        elif t.low in _EMAIL_KEYS:
            found += _email_after_keyword(toks, k + 1)
    out: list[tuple[int, int]] = []
    for a, b in sorted(found):  # merge overlapping finds
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _email_after_keyword(toks: list[_Tok], j: int) -> list[tuple[int, int]]:
    """After "email": anything up to "dot com" within a few words. This is what Whisper makes of
    an address it half heard: "my email is marrynotjones.com", "... is be there at www.emple.com"."""
    while j < len(toks) and toks[j].low in _COPULA:
        j += 1
    for e in range(j + 1, min(j + 12, len(toks))):
        t, dot = toks[e], toks[e - 1]
        if t.text in _SENTENCE_END and (e + 1 == len(toks) or toks[e + 1].start > t.end):
            break
        if t.low in _EMAIL_END_WORDS or (t.kind == "punct" and t.text not in _EMAIL_CONNECTORS | {"@"}):
            break
        if t.low in _TLDS and e - 1 > j and (dot.low in ("dot", "period") or dot.text == "." and dot.end == t.start):
            return [(j, e)]
    return []


def _email_part(t: _Tok) -> bool:
    return t.kind in ("word", "num", "alnum") and t.low not in _EMAIL_CONNECTORS


def _email_domain(toks: list[_Tok], j: int) -> int | None:
    if not _email_part(toks[j]) or toks[j].low in _DOMAIN_STOP:
        return None
    parts = [j]
    plain = 0  # words run together with no "dot": "tom harris uk dot net" (at most two)
    while True:
        last = parts[-1]
        if (last + 2 < len(toks) and toks[last + 1].low in _EMAIL_CONNECTORS
                and _email_part(toks[last + 2])):
            parts += [last + 2]
        elif last + 1 < len(toks) and _is_letter(toks[last]) and _email_part(toks[last + 1]):
            parts += [last + 1]  # spelled: "b t internet"
        elif (plain < 2 and last + 1 < len(toks) and _email_part(toks[last + 1])
              and toks[last + 1].low not in _DOMAIN_STOP | _EMAIL_STOP | _EMAIL_END_WORDS):
            parts += [last + 1]
            plain += 1
        else:
            break
    for i in reversed(parts[1:]):
        if toks[i].low in _TLDS and toks[i - 1].low in ("dot", ".", "period"):
            return i
    return j if toks[j].low in _PROVIDERS else None


def _email_local(toks: list[_Tok], i: int) -> int | None:
    if not _email_part(toks[i]) or toks[i].low in _EMAIL_STOP:
        return None
    start = i
    while start > 0:
        prev, left = toks[start - 1], toks[start]
        spelled = _is_letter(left) or _number_word(left)
        if prev.low in _EMAIL_CONNECTORS and start > 1 and _email_part(toks[start - 2]):
            start -= 2
        elif _email_part(prev) and (prev.low not in _EMAIL_STOP or _is_letter(prev) and _is_letter(left)) \
                and (_is_letter(prev) or _number_word(prev) or spelled):
            start -= 1
        else:
            break
    return start


def _number_word(t: _Tok) -> bool:
    return t.kind in ("num", "alnum") or t.low in _UNITS or t.low in _TEENS or t.low in _TENS


# ---- digit runs ----------------------------------------------------------------------------------

@dataclass
class _Run:
    first: int  # token indices
    last: int
    digits: str
    groups: list[int]  # digits per numeral group, for the shape ("555-0199" -> [3, 4])
    hundred: bool = False


def _element(toks: list[_Tok], i: int, prev: _Tok | None, have: int = 0) -> tuple[str, int, list[int]] | None:
    """Digits that the token at i (perhaps with the next one) adds to a run of `have` digits so far
    whose last token is prev: (digits, index after, numeral group sizes) or None."""
    if i >= len(toks):
        return None
    t, w = toks[i], toks[i].low
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    if t.kind == "amount":  # Whisper's "5.5, 2, 3, 4" and "4,111,111,111,..." for digits read out
        digits = re.sub(r"\D", "", t.text)
        if prev is not None or _continues(toks, i + 1) or len(digits) >= 10:
            return digits, i + 1, []
        return None
    if t.kind in ("num", "alnum"):
        groups = [len(g) for g in re.findall(r"\d+", t.text)]
        return re.sub(r"\D", "", t.text), i + 1, groups
    if t.kind != "word":
        return None
    prev_word = prev is not None and prev.kind == "word"
    if w in ("double", "triple") and nxt in _UNITS:
        return _UNITS[nxt] * (2 if w == "double" else 3), i + 2, []
    if w in _STRICT:
        return _STRICT[w], i + 1, []
    if w in ("oh", "o"):
        if prev is not None or (w == "oh" and _leads_to_digit(toks, i + 1)):
            return "0", i + 1, []
        return None
    if w in _HOMOPHONES:
        between_words = prev_word and nxt in _STRICT
        between_numerals = (prev is not None and prev.kind == "num" and i + 1 < len(toks)
                            and toks[i + 1].kind == "num" and (have >= 5 or have >= 3 and len(toks[i + 1].text) >= 3))
        # Whisper: "4532, 771 to 3456", "453 to 771 to 3456"; ranges "from 100 to 200" are left out by _runs
        return (_HOMOPHONES[w], i + 1, []) if between_words or between_numerals else None
    if w in _TEENS:
        return _TEENS[w], i + 1, []
    if w in _TENS:
        if nxt in _STRICT and nxt != "zero":
            return _TENS[w] + _STRICT[nxt], i + 2, []
        return _TENS[w] + "0", i + 1, []
    if w == "hundred" and prev_word:
        return "00", i + 1, []
    return None


def _leads_to_digit(toks: list[_Tok], i: int) -> bool:
    while i < len(toks) and toks[i].low in ("oh", "o", "double", "triple"):
        i += 1
    return i < len(toks) and (toks[i].kind == "num" or toks[i].low in _STRICT)


def _continues(toks: list[_Tok], k: int) -> bool:
    """A digit element follows, maybe after separators."""
    while k < len(toks) and (toks[k].text in _SEPARATORS or toks[k].low in _FILLERS):
        k += 1
    return k < len(toks) and (toks[k].kind == "num" or toks[k].low in _STRICT)


def _runs(toks: list[_Tok], used: set[int]) -> list[_Run]:
    out, i = [], 0
    while i < len(toks):
        el = None if i in used else _element(toks, i, None)
        if el is None:
            i += 1
            continue
        run = _Run(i, el[1] - 1, el[0], list(el[2]), toks[i].low == "hundred")
        ranged = i > 0 and toks[i - 1].low in ("from", "between")  # "from 100 to 200"
        j = el[1]
        while True:
            k = j
            while k < len(toks) and k not in used and (toks[k].text in _SEPARATORS or toks[k].low in _FILLERS):
                k += 1
            el = None if k in used else _element(toks, k, toks[run.last], 0 if ranged else len(run.digits))
            if el is None:
                break
            run.digits += el[0]
            run.groups += el[2]
            run.hundred |= toks[k].low == "hundred"
            run.last, j = el[1] - 1, el[1]
        while run.last > run.first and toks[run.last].low == "o":  # "... two o" is a letter
            run.last -= 1
            run.digits = run.digits[:-1]
        out.append(run)
        i = j
    return out


# ---- context -------------------------------------------------------------------------------------

def _keyword_at(words: list[str], q: int) -> str | None:
    """Category of a context phrase ending at word q ("" generic), longest phrase first."""
    for n in range(min(_KEY_LEN, q + 1), 0, -1):
        cat = _KEYWORDS.get(tuple(words[q - n + 1: q + 1]))
        if cat is not None:
            if q - n >= 0 and words[q - n] in _NEUTRALISERS:
                return None
            return cat
    return None


def _words(toks: list[_Tok]) -> tuple[dict[int, int], list[str]]:
    """The words that context phrases are matched on, and token index -> word index."""
    wpos, words = {}, []
    for idx, t in enumerate(toks):
        if t.kind in ("word", "num") or t.text == "#" and idx + 1 < len(toks) and (
                toks[idx + 1].kind == "num" or _is_letter(toks[idx + 1])):  # "#A-7731", not "#tag2015"
            wpos[idx] = len(words)
            words.append(t.low[:-2] if t.low.endswith("'s") else t.low)  # "landline's", "number's"
    return wpos, words


def _context(toks: list[_Tok], wpos: dict[int, int], words: list[str], run: _Run,
             in_run: list[int]) -> tuple[str | None, bool]:
    """(category of the nearest context phrase, "" for a generic one like "number", or None;
    whether the number is an amount or a model / version rather than personal)."""
    found: str | None = None
    seen = 0
    for k in range(run.first - 1, -1, -1):
        t = toks[k]
        if t.text in _SENTENCE_END:
            break
        if in_run[k] >= 3:
            break
        if k not in wpos:
            continue
        if seen == 0 and t.low in _NOT_PERSONAL_BEFORE:
            return None, True
        cat = _keyword_at(words, wpos[k])
        if cat:
            return cat, False
        if cat == "" and found is None:
            found = ""
        if t.low in _AMOUNT_WORDS:
            return found, found is None
        if t.low in _BLOCKERS:
            break
        if t.low not in _FILLERS and not _is_letter(t):  # "is x y z 98765"
            seen += 1
            if seen >= _WINDOW:
                break
    if found is None:  # "... is my pin", "... that's my mobile"
        seen = 0
        for k in range(run.last + 1, len(toks)):
            t = toks[k]
            if t.text in _SENTENCE_END or in_run[k] >= 3 or t.low in _BLOCKERS or seen >= _AHEAD:
                break
            if k in wpos:
                seen += 1
                cat = _keyword_at(words, wpos[k])
                if cat is not None:
                    return cat, False
    return found, False


def _shape(run: _Run, plus: bool, generic: bool) -> str:
    n, d = len(run.digits), run.digits
    if plus:
        return "phone"
    if 13 <= n <= 19:
        return "card"
    if 7 <= n <= 11 and (generic or run.groups in ([3, 4], [3, 3, 4], [1, 3, 3, 4], [5, 6], [4, 3, 4],
                                                   [3, 4, 4], [2, 4, 4], [4, 6], [5, 3, 3])
                         or d.startswith(("1800", "1888", "1877", "1866", "0800"))
                         or (n == 11 and d[0] == "0")):
        return "phone"
    return "number"


def _followed_by_unit(toks: list[_Tok], run: _Run) -> bool:
    k = run.last + 1
    if k < len(toks) and toks[k].text == "-" and toks[k].start == toks[run.last].end:
        k += 1  # "5-minute"
    if k + 1 < len(toks) and toks[k].low in ("a", "an", "per", "each", "every"):
        k += 1  # "300 a month"
    return k < len(toks) and (toks[k].low in _UNIT_AFTER or toks[k].kind in ("amount", "money"))


# ---- finding and redacting -------------------------------------------------------------------------

def find_personal_data(text: str) -> list[Redaction]:
    """Personal data in one utterance's text: non-overlapping spans in text order."""
    toks = _tokens(text)
    spans: list[tuple[int, int, str]] = []
    used: set[int] = set()
    for a, b in _emails(toks):
        spans.append((toks[a].start, toks[b].end, "email"))
        used.update(range(a, b + 1))
    for a, b, category in _ibans(text, toks) + _postcodes(toks, used) + _dates(toks, used):
        if used.intersection(range(a, b + 1)):
            continue
        spans.append((toks[a].start, toks[b].end, category))
        used.update(range(a, b + 1))
    runs = _runs(toks, used)
    in_run = [0] * len(toks)
    for run in runs:
        for k in range(run.first, run.last + 1):
            in_run[k] = len(run.digits)
    wpos, words = _words(toks)
    last_found: tuple[int, str] | None = None  # (last token, category) of the previous number
    claimed: set[int] = set()  # tokens inside a span already found
    for run in runs:
        n = len(run.digits)
        if claimed.intersection(range(run.first, run.last + 1)):
            continue
        if n < 3 or _followed_by_unit(toks, run) or (run.hundred and n < 7):
            continue
        ctx, amount = _context(toks, wpos, words, run, in_run)
        if ctx is None and not amount and n < 5 and last_found is not None \
                and run.first - last_found[0] <= 8:
            ctx = last_found[1]  # a correction or the rest of it: "... 7740. Sorry, 7741 at the end"
        if ctx == "phone" and n < _SHORT_PHONE:
            ctx = None  # "call me back at three thirty"
        if ctx == "extension":
            ctx = "phone"
        if (amount and n < 7) or (n < 5 and ctx is None):
            continue
        first, last = run.first, run.last
        plus = first > 0 and toks[first - 1].low in ("plus", "+")
        if plus or (first > 0 and toks[first - 1].text == "(" and toks[first - 1].end == toks[first].start):
            first -= 1
        first, last = _absorb_letters(text, toks, first, last, used)
        last = _rest_of_id(toks, first, last, used)
        category = ctx or _shape(run, plus, ctx == "")
        spans.append((toks[first].start, toks[last].end, category))
        claimed.update(range(first, last + 1))
        last_found = (last, category)
    spans.sort()
    return [Redaction(a, b, c, text[a:b]) for a, b, c in spans]


def _key_before(toks: list[_Tok], k: int, keys, window: int = 6):
    """The key (a word, or a tuple of words in `keys`) among the `window` words before token k in
    the same sentence, nearest first; None when there is none."""
    seen = []
    for j in range(k - 1, -1, -1):
        t = toks[j]
        if t.text in _SENTENCE_END and j + 1 < len(toks) and toks[j + 1].start > t.end:
            break
        if t.kind != "word":
            continue
        seen.insert(0, t.low)
        for n in (2, 1):
            key = tuple(seen[:n]) if n > 1 else seen[0]
            if key in keys:
                return key
        if len(seen) >= window:
            break
    return None


def _ibans(text: str, toks: list[_Tok]) -> list[tuple[int, int, str]]:
    out = []
    for m in _IBAN.finditer(text):
        inside = [k for k, t in enumerate(toks) if m.start() <= t.start and t.end <= m.end()]
        if inside and sum(c.isdigit() for c in m.group()) >= 8:
            out.append((inside[0], inside[-1], "account"))
    return out


def _date_word(t: _Tok) -> bool:
    return (t.low in _MONTHS or t.low in _ORDINAL_WORDS or t.kind in ("num", "ordinal", "date")
            or t.low in ("of", "the") or t.low in _STRICT or t.low in _TEENS or t.low in _TENS
            or t.low in ("oh", "hundred") or t.text in (",", "-"))


def _dates(toks: list[_Tok], used: set[int]) -> list[tuple[int, int, str]]:
    """Dates that are personal: a card's expiry written "08/27", a date of birth written or
    spoken ("14/03/1978", "12 August 1979", "second of june seventy four")."""
    out = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if k in used:
            k += 1
            continue
        if t.kind == "date":
            key = _key_before(toks, k, _DATE_KEYS)
            if key is not None:
                out.append((k, k, _DATE_KEYS[key]))
        elif t.low in _MONTHS | _ORDINAL_WORDS or t.kind in ("num", "ordinal"):
            j = k
            while j + 1 < len(toks) and j + 1 not in used and _date_word(toks[j + 1]):
                j += 1
            while j > k and (toks[j].text in (",", "-") or toks[j].low in ("of", "the")):
                j -= 1
            span = toks[k:j + 1]
            if any(x.low in _MONTHS for x in span) and len(span) >= 2 \
                    and _key_before(toks, k, _BIRTH_KEYS, window=4) is not None:
                out.append((k, j, "number"))
                k = j + 1
                continue
        k += 1
    return out


def _postcodes(toks: list[_Tok], used: set[int]) -> list[tuple[int, int, str]]:
    """UK-style postcodes: written in capitals anywhere ("M1 4BT"), in any case after "postcode",
    or spelled out after it ("s w one a one a a")."""
    out = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if k in used or t.kind not in ("word", "alnum"):
            k += 1
            continue
        after_key = _key_before(toks, k, _POSTCODE_KEYS | {"postcode", "zip", "zipcode", "eircode"},
                                window=4) is not None
        # written: one or two tokens ("M1 4BT", "m14bt")
        for n in (2, 1):
            if k + n > len(toks) or any(j in used for j in range(k, k + n)):
                continue
            text = " ".join(x.text for x in toks[k:k + n])
            if toks[k + n - 1].end - toks[k].start != len(text):
                continue  # not separated by single spaces
            if (after_key or text.isupper()) and _POSTCODE_WRITTEN.fullmatch(text.upper()) \
                    and any(c.isdigit() for c in text):
                out.append((k, k + n - 1, "number"))
                k += n
                break
        else:
            if after_key:  # spelled: letters and digit words
                chars, idx = "", []
                j = k
                while j < len(toks) and len(idx) < 9:
                    x = toks[j]
                    if x.low in _SOFT_FILLERS:
                        j += 1
                        continue
                    if _is_letter(x):
                        chars += x.text.upper()
                    elif x.low in _STRICT or x.low == "oh":
                        chars += _STRICT.get(x.low, "0")
                    elif x.kind in ("num", "alnum") and len(x.text) <= 4:
                        chars += x.text.upper()
                    else:
                        break
                    idx.append(j)
                    j += 1
                best = max((m for m in range(len(idx), 4, -1)
                            if _POSTCODE.match(chars[:_chars_upto(toks, idx, m)])), default=None)
                if best is not None:
                    out.append((idx[0], idx[best - 1], "number"))
                    k = idx[best - 1] + 1
                    continue
            k += 1
    return out


def _chars_upto(toks: list[_Tok], idx: list[int], m: int) -> int:
    """How many postcode characters the first m tokens of a spelled postcode give."""
    return sum(len(toks[j].text) if toks[j].kind in ("num", "alnum") else 1 for j in idx[:m])


def _rest_of_id(toks: list[_Tok], first: int, last: int, used: set[int]) -> int:
    """An id of letters and digits goes on after its letters: "m o r g a 610522 j j nine w x".
    Only for a span that already has two or more letters in it."""
    letters = sum(_is_letter(t) or t.kind == "alnum" for t in toks[first:last + 1])
    if letters < 2:
        return last
    end, j = last, last + 1
    while j < len(toks) and j not in used:
        x = toks[j]
        if x.low in _SOFT_FILLERS:
            j += 1
            continue
        if not (_is_letter(x) or x.low in _STRICT or x.low == "oh" or x.kind in ("num", "alnum")):
            break
        end = j
        j += 1
    while end > last and toks[end].low in ("a", "i"):  # "... w x a month ago"
        end -= 1
    return end


def _absorb_letters(text: str, toks: list[_Tok], first: int, last: int, used: set[int]) -> tuple[int, int]:
    """Widen a number span over the letters of an id: "a b 123456", "c 7442", "QX 4471", "A-7731"."""
    def candidates(k: int, step: int) -> list[int]:
        got = []
        while 0 <= k < len(toks) and k not in used:
            t = toks[k]
            caps = step < 0 and t.kind == "word" and 2 <= len(t.text) <= 3 and t.text.isupper() \
                and t.text not in _COMMON_CAPS
            if t.text == "-" and got == [] and 0 <= k + step < len(toks):
                k += step  # "A-7731"
                continue
            if t.low in _SOFT_FILLERS and 0 <= k + step < len(toks) and _is_letter(toks[k + step]):
                k += step  # "k l uh 77392"
                continue
            if not (_is_letter(t) or caps):
                break
            got.append(k)
            k += step
        return got

    for step in (-1, 1):
        edge = first if step < 0 else last
        got = candidates(edge + step, step)
        if not got:
            continue
        near = toks[got[0]]
        gap = text[near.end:toks[edge].start] if step < 0 else text[toks[edge].end:near.start]
        attached = not any(c.isspace() for c in gap)
        if len(got) >= 2 or attached or near.low not in ("a", "i"):
            if step < 0:
                first = got[-1]
            else:
                last = got[-1]
    return first, last


def redact_text(text: str) -> str:
    out, pos = [], 0
    for r in find_personal_data(text):
        out += [text[pos:r.start], r.tag]
        pos = r.end
    return "".join(out) + text[pos:]


def redact_words(words: Sequence[Word]) -> tuple[Word, ...]:
    """Every word inside a redacted span gets the span's tag as text; timings and count are kept."""
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w.text)))
        pos += len(w.text) + 1
    found = find_personal_data(" ".join(w.text for w in words))
    if not found:
        return tuple(words)
    out = []
    for w, (a, b) in zip(words, offsets):
        hit = next((r for r in found if r.start < b and a < r.end), None)
        if hit is None or a == b:
            out.append(w)
        else:
            lead = w.text[: len(w.text) - len(w.text.lstrip())]
            out.append(replace(w, text=lead + hit.tag))
    return tuple(out)


_FREE_TEXT: dict[type, tuple[str, ...]] = {
    Utterance: ("text",), PartialUtterance: ("text",), CallerPoint: ("text",),
    KnowledgeMatch: ("query",), CoachingTip: ("said",), ChecklistItem: ("evidence",),
    MoodState: ("reason",), EscalationAdvice: ("reason",), PhraseSuggestion: ("reason",),
}


def redact_event(event: Event) -> Event:
    """A copy of the event with personal data removed from its free-text fields (caller or agent
    speech); events without such fields, and knowledge passages, are returned as they are."""
    fields = _FREE_TEXT.get(type(event))
    if fields is None:
        return event
    changes = {f: redact_text(getattr(event, f)) for f in fields}
    if isinstance(event, Utterance):
        changes["words"] = redact_words(event.words)
    return replace(event, **changes)


def redact_timeline(timeline: Timeline) -> Timeline:
    """A new timeline (the call info copied) whose events have personal data removed."""
    return Timeline(call=copy.deepcopy(timeline.call), events=[redact_event(e) for e in timeline.events])
