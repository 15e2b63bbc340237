"""Digit runs (spoken or written), the context words around them and the ids they belong to."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ._tokens import (_AHEAD, _AMOUNT_WORDS, _BLOCKERS, _COMMON_CAPS, _FILLERS, _HOMOPHONES,
                      _KEYWORDS, _KEY_LEN, _NEUTRALISERS, _NOT_PERSONAL_BEFORE, _SENTENCE_END,
                      _SEPARATORS, _SOFT_FILLERS, _STRICT, _TEENS, _TENS, _Tok, _UNITS, _UNIT_AFTER,
                      _WINDOW, _is_letter)

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
    """A digit element follows, maybe after separators (Whisper's decimals too: "5.5, 2.34")."""
    while k < len(toks) and (toks[k].text in _SEPARATORS or toks[k].low in _FILLERS):
        k += 1
    return k < len(toks) and (toks[k].kind in ("num", "amount") or toks[k].low in _STRICT)


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
            while k < len(toks) and k not in used and (toks[k].text in _SEPARATORS or toks[k].low in _FILLERS
                                                       or toks[k].text == "." and k == j):
                k += 1  # a recogniser may end a "sentence" inside a read-out number: "41. 11 11"
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
