"""Personal data with a shape of its own: IBANs, UK postcodes, expiry dates and dates of birth."""
from __future__ import annotations

from ._tokens import (_BIRTH_KEYS, _DATE_KEYS, _IBAN, _MONTHS, _ORDINAL_WORDS, _POSTCODE,
                      _POSTCODE_KEYS, _POSTCODE_WRITTEN, _SOFT_FILLERS, _STRICT, _TEENS, _TENS,
                      _Tok, _is_letter, _key_before)

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
