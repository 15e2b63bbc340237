"""Tokens with character offsets, the vocabulary of spoken numbers, and context look-ups."""
from __future__ import annotations

import re
from typing import NamedTuple

from ...core.text import DIGIT_WORDS

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


def _number_word(t: _Tok) -> bool:
    return t.kind in ("num", "alnum") or t.low in _UNITS or t.low in _TEENS or t.low in _TENS


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
