"""Word error rate with the normalisation speech evaluations use: case, punctuation,
contractions and numbers ("47129" = "four seven one two nine", "20" = "twenty")."""
from __future__ import annotations

import re

import jiwer
from num2words import num2words

CONTRACTIONS = {
    "it's": "it is", "that's": "that is", "i'm": "i am", "you're": "you are", "we're": "we are",
    "they're": "they are", "i've": "i have", "you've": "you have", "we've": "we have",
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "can't": "can not",
    "cannot": "can not", "won't": "will not", "isn't": "is not", "aren't": "are not",
    "wasn't": "was not", "hasn't": "has not", "haven't": "have not", "shouldn't": "should not",
    "i'll": "i will", "you'll": "you will", "we'll": "we will", "i'd": "i would",
    "let's": "let us", "there's": "there is", "what's": "what is", "okay": "ok",
}


def _number(m: re.Match) -> str:
    digits = m.group(0)
    if len(digits) >= 4:
        return " ".join(num2words(int(d)) for d in digits)
    return num2words(int(digits))


def normalize(text: str) -> str:
    t = text.lower().replace("-", " ")
    t = re.sub(r"\$(\d+)", r"\1 dollars", t)
    t = re.sub(r"(\d+)(st|nd|rd|th)\b", lambda m: num2words(int(m.group(1)), to="ordinal"), t)
    t = re.sub(r"\d+", _number, t)
    t = re.sub(r"[^a-z' ]+", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'")
        words += CONTRACTIONS.get(w, w).split()
    return " ".join(words)


def wer(reference: str | list[str], hypothesis: str | list[str]) -> float:
    ref = reference if isinstance(reference, str) else " ".join(reference)
    hyp = hypothesis if isinstance(hypothesis, str) else " ".join(hypothesis)
    return jiwer.wer(normalize(ref), normalize(hyp))
