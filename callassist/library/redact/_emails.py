"""E-mail addresses, written ("a.b@c.com") or spoken ("a dot b at c dot com")."""
from __future__ import annotations


from ._tokens import (_COPULA, _DOMAIN_STOP, _EMAIL_CONNECTORS, _EMAIL_END_WORDS, _EMAIL_KEYS,
                      _EMAIL_STOP, _PROVIDERS, _SENTENCE_END, _TLDS, _Tok, _is_letter, _number_word)

# ---- e-mail addresses ----------------------------------------------------------------------------

_MISHEARD_AT = {"at", "that", "@"}  # how recognisers write the "at" of an address after a full stop


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
            if e + 1 < len(toks) and toks[e + 1].low in _MISHEARD_AT:
                continue  # "my email is marry.jone. That example.com": "at" heard as a new sentence
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
