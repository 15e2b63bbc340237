"""Small text helpers shared by the assist stages: ASR-style normalisation, spoken numbers."""
from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^a-z0-9' ]+")
_SPACE = re.compile(r"\s+")

DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2",
               "three": "3", "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7",
               "eight": "8", "nine": "9"}
_STRICT_DIGITS = {k: v for k, v in DIGIT_WORDS.items() if k not in ("to", "too", "for", "o", "oh")}


def normalize(text: str) -> str:
    """Lower case, punctuation removed (apostrophes kept), single spaces: how ASR writes."""
    t = text.lower().replace("’", "'").replace("-", " ")
    return _SPACE.sub(" ", _NON_WORD.sub(" ", t)).strip()


def words(text: str) -> list[str]:
    return normalize(text).split()


def spoken_numbers(text: str, min_digits: int = 4) -> list[tuple[str, str]]:
    """Digit sequences in text, written ("47129") or spoken ("four seven one two nine").

    Returns (digits, as it appeared). Homophones ("to", "for", "oh") count only between real
    digit words, so "four seven one two nine" and "one oh five two" are read, "go to four" is not.
    """
    out: list[tuple[str, str]] = []
    toks = re.findall(r"[a-z]+|\d+", text.lower())
    i = 0
    while i < len(toks):
        tok = toks[i]
        starts_double = tok in ("double", "triple") and i + 1 < len(toks) and toks[i + 1] in _STRICT_DIGITS
        if tok.isdigit() or tok in _STRICT_DIGITS or starts_double:
            j, digits, seen = i, "", []
            while j < len(toks):
                t = toks[j]
                if t.isdigit():
                    digits += t
                elif t in _STRICT_DIGITS or (t in DIGIT_WORDS and j + 1 < len(toks)
                                             and (toks[j + 1] in _STRICT_DIGITS or toks[j + 1].isdigit())):
                    digits += DIGIT_WORDS[t]
                elif t in ("double", "triple") and j + 1 < len(toks) and toks[j + 1] in _STRICT_DIGITS:
                    digits += DIGIT_WORDS[toks[j + 1]] * (2 if t == "double" else 3)
                    seen.append(t)
                    j += 1
                else:
                    break
                seen.append(t)
                j += 1
            if len(digits) >= min_digits:
                out.append((digits, " ".join(seen)))
            i = max(j, i + 1)
        else:
            i += 1
    return out
