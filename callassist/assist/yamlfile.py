"""The one way the app reads YAML (the phrase library, knowledge-article headers): safe, bounded.

These files are edited by hand and may come from anyone, so the reader refuses, with one line
naming the file and the line, what a plain content file never needs and what a hostile one uses:

- aliases and anchors (`&a`, `*a`): nested aliases ("billion laughs") expand to gigabytes when
  the text is used; no alias is read at all, so such a file is refused at once;
- explicit tags (`!!python/object:...`, `!foo`, `!!int`): only plain text, numbers, lists and
  mappings are read;
- more than `max_nodes` values or nesting deeper than `max_depth` (checked on the parser's event
  stream, before anything is built, so a deep or huge file costs no memory and no recursion).

Syntax errors stay `yaml.YAMLError` (with `problem_mark`), so a caller can skip just the broken
part; everything refused here is a `YamlRefused` (a ConfigError), which callers let through.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import yaml
from pydantic import AfterValidator, BeforeValidator

from ..errors import ConfigError

# libyaml when available: fast, and no Python recursion while composing
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 100_000
MAX_DEPTH = 32
_ALLOWED_TAGS = {None, "!", "tag:yaml.org,2002:str"}  # `! text` and `!!str text` only mean "text"


class YamlRefused(ConfigError):
    """The file uses something a content file never needs (aliases, tags, absurd size)."""


@dataclass
class Budget:
    """Values left to read in one file (a file read in pieces shares one budget)."""
    nodes: int = MAX_NODES


def _tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _line(event) -> int:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else 1


def check(text: str, where: str, *, budget: Budget | None = None,
          max_depth: int = MAX_DEPTH) -> None:
    """Scan `text`'s YAML events; raise YamlRefused for aliases, anchors, tags, too many values
    or too deep nesting. Syntax errors raise yaml.YAMLError."""
    budget = budget if budget is not None else Budget()
    depth = 0
    for ev in yaml.parse(text, Loader=Loader):
        if isinstance(ev, yaml.AliasEvent):
            raise YamlRefused(f"{where} line {_line(ev)}: YAML aliases are not allowed (found "
                              f"*{str(ev.anchor)[:40]}): remove the anchors (&) and aliases (*), "
                              f"write the text out")
        if isinstance(ev, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if ev.anchor is not None:
                raise YamlRefused(f"{where} line {_line(ev)}: YAML anchors are not allowed "
                                  f"(found &{str(ev.anchor)[:40]}): remove the anchors (&) and "
                                  f"aliases (*)")
            if ev.tag not in _ALLOWED_TAGS:
                raise YamlRefused(f"{where} line {_line(ev)}: the YAML tag {_tag(ev.tag)[:60]} is "
                                  f"not allowed: remove it (plain text, numbers, lists and "
                                  f"mappings only)")
            budget.nodes -= 1
            if budget.nodes < 0:
                raise YamlRefused(f"{where} line {_line(ev)}: too many YAML values (more than "
                                  f"{MAX_NODES}): split or shorten the file")
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                raise YamlRefused(f"{where} line {_line(ev)}: YAML nested more than {max_depth} "
                                  f"levels deep: flatten it")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def compose(text: str, where: str, *, budget: Budget | None = None,
            max_depth: int = MAX_DEPTH) -> yaml.Node | None:
    """The node tree of one YAML document, after `check`. Syntax errors raise yaml.YAMLError."""
    check(text, where, budget=budget, max_depth=max_depth)
    return yaml.compose(text, Loader=Loader)


def compose_file(text: str, where: str) -> yaml.Node | None:
    """`compose` for a whole content file: a syntax error is one ConfigError line naming the
    line (the wrap-up codes, the rules, the scorecard: none of them loads half-read)."""
    try:
        return compose(text, where)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{where} line {mark.line + 1 if mark else 1}: not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})") from None


def construct(node: yaml.Node, where: str):
    """Plain Python values (str, int, float, bool, None, dates, lists, dicts) of a checked node."""
    loader = Loader("")
    try:
        return loader.construct_document(node)
    except Exception as exc:  # e.g. a date that does not exist (2024-13-45), a bad merge key
        line = node.start_mark.line + 1 if node.start_mark is not None else 1
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        detail = getattr(exc, "problem", None) or str(exc) or exc.__class__.__name__
        raise YamlRefused(f"{where} line {line}: a value cannot be read ({detail}): quote it "
                          f"if it is meant as text") from None
    finally:
        loader.dispose()


def load(text: str, where: str, *, budget: Budget | None = None, max_depth: int = MAX_DEPTH):
    """`text` as plain Python values (None for an empty document), read safely (see above)."""
    node = compose(text, where, budget=budget, max_depth=max_depth)
    return None if node is None else construct(node, where)


def short(value, limit: int = 60) -> str:
    """repr() of a value from a file, cut to `limit` characters for a one-line message."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def _stripped(v: str) -> str:
    if not v.strip():
        raise ValueError("is empty")
    return v.strip()


# A text field of a content file that must say something (a phrase, an article's title).
NonEmptyText = Annotated[str, AfterValidator(_stripped)]


def number_as_text(v):
    """A number where text is expected (`after: [911]`, `tags: [returns, 30]`) is that text;
    a yes/no (read by YAML as true/false) stays an error that says to quote it."""
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def as_list(v):
    """One text where a list is expected (`said: sorry`) is a list of that one text."""
    return [] if v is None else [v] if isinstance(v, str) else v


# A text field that may be written as a number (`tags: [returns, 30]`), and a list of them.
Text = Annotated[NonEmptyText, BeforeValidator(number_as_text)]
TextList = Annotated[list[Text], BeforeValidator(as_list)]


def lower_word(v: str, example: str) -> str:
    """An id written as one lower-case word (a rule's, a scorecard question's)."""
    v = v.strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
        raise ValueError(f"must be one lower-case word such as {example}")
    return v


def schema_problem(exc, fields) -> str:
    """The first problem of a pydantic ValidationError as one line: the field, what is wrong,
    what was found."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    field = loc[0] + "".join(f"[{p}]" for p in loc[1:]) if loc else "value"
    if err["type"] in ("extra_forbidden", "invalid_key"):
        name = err["input"] if err["type"] == "invalid_key" else loc[0]
        return f"unknown field {short(name, 40)} (known: {', '.join(fields)})"
    if err["type"] == "missing":
        return f"'{field}' is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    hint = ": quote it if it is meant as text" if err["type"] == "string_type" else ""
    if not loc:  # a check of the whole item: its message says what is wrong
        return msg
    return f"{field}: {msg} (got {short(err.get('input'))}){hint}"


def node_line(node) -> int:
    """The 1-based line of a YAML node (1 when unknown)."""
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else 1


def read_content_file(path, kind: str, max_bytes: int = 1_000_000) -> str:
    """The text of an editable content file (`kind`: "wrap-up code file", "rules file"...), or
    one ConfigError line saying what is wrong with it: missing, a folder, absurdly big, not
    UTF-8 text."""
    from pathlib import Path
    path = Path(path)
    try:
        if not path.exists():
            raise ConfigError(f"{kind} not found: {path} (give an existing .yaml file, or none "
                              f"for the shipped one)")
        if path.is_dir():
            raise ConfigError(f"{path} is a folder, not a {kind}: give a .yaml file")
        if path.stat().st_size > max_bytes:
            raise ConfigError(f"{path} is too big for a {kind} (at most "
                              f"{max_bytes // 1_000_000} MB): choose the right file")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc.__class__.__name__}): save it as UTF-8 "
                          f"text") from None


def field_line(node, exc) -> int:
    """The line of the field a pydantic ValidationError is about, inside a mapping node."""
    line = node_line(node)
    err = exc.errors()[0]
    loc = err["loc"]
    for k, v in getattr(node, "value", ()):
        if loc and isinstance(k, yaml.ScalarNode) and k.value == loc[0]:
            line = node_line(v) if err["type"] != "extra_forbidden" else node_line(k)
            if len(loc) > 1 and isinstance(v, yaml.SequenceNode) and isinstance(loc[1], int) \
                    and loc[1] < len(v.value):
                line = node_line(v.value[loc[1]])
    return line
