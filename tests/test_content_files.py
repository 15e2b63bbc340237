"""The phrase file and knowledge articles are read safely and checked strictly (issue 13, item 2):
a YAML alias bomb ("billion laughs") is refused at once, in a fraction of a second and without
memory growth, with one line naming the file; `!!python` tags are refused, never run; wrong
types are one line naming the file, the phrase or header field, and what was found."""
import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from callassist.assist.knowledge import KnowledgeBase, parse_article
from callassist.assist.phrases import PhraseLibrary
from callassist.errors import ConfigError
from tests.conftest import ROOT, run_cli

GOOD = "neutral:\n  - text: Thanks for waiting, I'm checking that now.\n"
BOMB = ('lol0: &l0 "lol"\n'
        + "".join(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10)))
BOMB_IN_SECTION = ("angry:\n  - text: &t0 lol\n"
                   + "".join(f"  - text: &t{i} [" + ", ".join([f"*t{i - 1}"] * 9) + "]\n"
                             for i in range(1, 10)))
ARTICLE = "---\ntitle: Returns\nproduct: All products\ntags: [returns, refund]\n---\nReturn it within 30 days.\n"
LIMIT = 1 << 30  # address space of the process that reads the bomb


def _bounded(code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run `code` in a Python process limited to 1 GB of address space and `timeout` seconds:
    a file that expands in memory fails here instead of eating the machine."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit, cwd=str(ROOT),
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("bomb", [BOMB + GOOD, BOMB_IN_SECTION + GOOD], ids=["top", "in-section"])
def test_billion_laughs_phrase_file_is_refused_at_once(tmp_path, bomb):
    f = tmp_path / "bomb.yaml"
    f.write_text(bomb)
    r = _bounded(f"""
        import time
        from callassist.assist.phrases import PhraseLibrary
        from callassist.errors import ConfigError
        t0 = time.perf_counter()
        try:
            PhraseLibrary.load({str(f)!r})
        except ConfigError as exc:
            print(f"{{time.perf_counter() - t0:.3f}}", exc)
        """)
    assert r.returncode == 0, r.stderr
    seconds, message = r.stdout.split(" ", 1)
    assert float(seconds) < 1.0
    assert message.startswith(f"{f} line ") and "alias" in message and "remove" in message
    assert len(message.strip().splitlines()) == 1


def test_billion_laughs_article_is_skipped_at_once_and_the_rest_loads(tmp_path):
    bomb = tmp_path / "bomb.md"
    bomb.write_text("---\n" + BOMB + "title: Lol\ntags: *l9\n---\nText.\n")
    r = _bounded(f"""
        import time
        from pathlib import Path
        from callassist.assist.knowledge import parse_article
        from callassist.errors import ConfigError
        t0 = time.perf_counter()
        try:
            parse_article(Path({str(bomb)!r}))
        except ConfigError as exc:
            print(f"{{time.perf_counter() - t0:.3f}}", exc)
        """)
    assert r.returncode == 0, r.stderr
    seconds, message = r.stdout.split(" ", 1)
    assert float(seconds) < 1.0
    assert message.startswith(f"{bomb} line 2: YAML anchors are not allowed")


@pytest.mark.slow  # two real `callassist analyze` runs (models load in each)
def test_cli_refuses_a_bomb_and_a_python_tag_in_one_line(tmp_path):
    call = tmp_path / "call.wav"
    sf.write(str(call), np.zeros(16000, np.float32), 16000)
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + GOOD)
    t0 = time.perf_counter()
    r = run_cli("analyze", str(call), "--quiet", "--phrases", str(bomb), timeout=60)
    assert time.perf_counter() - t0 < 30
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"callassist: error: {bomb} line 1: YAML")
    assert "alias" in lines[0]

    pwned = tmp_path / "PWNED"
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text(GOOD + f"angry:\n  - text: !!python/object/apply:os.system ['touch {pwned}']\n")
    r = run_cli("analyze", str(call), "--quiet", "--phrases", str(tagged), timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == [f"callassist: error: {tagged} line 4: the YAML tag "
                     f"!!python/object/apply:os.system is not allowed: remove it (plain text, "
                     f"numbers, lists and mappings only)"]
    assert not pwned.exists()


@pytest.mark.slow  # a real `callassist analyze` run
def test_cli_skips_a_bomb_article_with_one_warning_and_uses_the_rest(tmp_path, espeak):
    call = tmp_path / "call.wav"
    sf.write(str(call), espeak("I would like to return my order and get a refund.", "en-us"), 16000)
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text(ARTICLE)
    (kb / "bomb.md").write_text("---\n" + BOMB + "title: Lol\n---\nText.\n")
    r = run_cli("analyze", str(call), "--knowledge", str(kb), timeout=120)
    assert r.returncode == 0, r.stderr
    warnings = [l for l in r.stdout.splitlines() if l.startswith("warning:")]
    assert warnings == [f"warning: {kb / 'bomb.md'} line 2: YAML anchors are not allowed (found "
                        f"&l0): remove the anchors (&) and aliases (*); skipped"]
    assert "knowledge: Returns" in r.stdout  # the good article still answers


def test_python_tags_are_refused_not_run(tmp_path):
    pwned = tmp_path / "PWNED"
    for i, tag in enumerate([f"!!python/object/apply:os.system ['touch {pwned}']",
                             "!!python/name:os.system", "!!python/object:builtins.dict {}",
                             "!custom x", "!!binary aGk="]):
        f = tmp_path / f"p{i}.yaml"
        f.write_text(f"angry:\n  - text: {tag}\n" + GOOD)
        with pytest.raises(ConfigError) as e:
            PhraseLibrary.load(f)
        assert str(e.value).startswith(f"{f} line 2: the YAML tag !")
        art = tmp_path / f"a{i}.md"
        art.write_text(f"---\ntitle: {tag}\n---\nText.\n")
        with pytest.raises(ConfigError, match="YAML tag .* is not allowed"):
            parse_article(art)
    assert not pwned.exists()


@pytest.mark.parametrize("item, problem", [
    ("text: Hi\n    cues: 5", "angry phrase 2: cues: input should be a valid list (got 5); skipped"),
    ("text: Hi\n    cues: [sadness]", "angry phrase 2: cues[0]: input should be 'anger', "
                                      "'confusion', 'worry' or 'gratitude' (got 'sadness'); skipped"),
    ("5", "angry phrase 2: a phrase must be text or a mapping with 'text' (got 5); skipped"),
    ("text: 5", "angry phrase 2: text: input should be a valid string (got 5): quote it if it "
                "is meant as text; skipped"),
    ("text: Hi\n    colour: blue", "angry phrase 2: unknown field 'colour' (known: text, cues, "
                                   "after); skipped"),
    ("cues: [anger]", "phrase has no text (angry phrase 2: add 'text: ...'); skipped"),
    ("text: Hi\n    after: [no]", "angry phrase 2: after[0]: input should be a valid string "
                                  "(got False): quote it if it is meant as text; skipped"),
    ("text: Hi\n    after: {a: 1}", "angry phrase 2: after: input should be a valid list "
                                    "(got {'a': 1}); skipped"),
])
def test_phrase_schema_errors_name_file_phrase_and_field(tmp_path, item, problem):
    f = tmp_path / "phrases.yaml"
    f.write_text(f"angry:\n  - text: Fine one\n  - {item}\n" + GOOD)
    lib = PhraseLibrary.load(f)
    assert lib.problems == [f"{f} line 3: {problem}"]
    assert [p.text for p in lib.phrases["angry"]] == ["Fine one"]  # the rest loads
    assert lib.phrases["neutral"]


def test_lenient_forms_still_load(tmp_path):
    f = tmp_path / "phrases.yaml"
    f.write_text("angry:\n  - Just a string\n  - text: Single cue\n    cues: anger\n"
                 "    after: third time\n  - text: Numbers are words\n    after: [911, 2.5]\n"
                 "  - text: Empty lists\n    cues:\n    after: []\n")
    lib = PhraseLibrary.load(f)
    assert lib.problems == []
    p = lib.phrases["angry"]
    assert [x.text for x in p] == ["Just a string", "Single cue", "Numbers are words", "Empty lists"]
    assert p[1].cues == ("anger",) and p[1].after == ("third time",)
    assert p[2].after == ("911", "2 5")
    assert PhraseLibrary.load().problems == []  # the shipped file passes the schema


def test_phrase_file_over_a_megabyte_is_refused(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(GOOD + "# " + "x" * 1_100_000 + "\n")
    with pytest.raises(ConfigError, match=r"big.yaml is 1.1 MB, too big for a phrase file"):
        PhraseLibrary.load(f)


def test_all_phrases_bad_is_one_line_naming_them(tmp_path):
    f = tmp_path / "phrases.yaml"
    f.write_text("angry:\n  - cues: 5\n  - 7\n")
    with pytest.raises(ConfigError) as e:
        PhraseLibrary.load(f)
    assert str(e.value).startswith(f"{f} has no usable phrases: {f} line 2: phrase has no text")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("header, problem", [
    ("title: 5", "header: title: input should be a valid string (got 5): quote it if it is "
                 "meant as text"),
    ("title: Hi\ntags: 5", "header: tags: input should be a valid list (got 5)"),
    ("title: Hi\ntags: [[a]]", "header: tags[0]: input should be a valid string (got ['a']): "
                               "quote it if it is meant as text"),
    ("title: Hi\nproduct: [x]", "header: product: input should be a valid string (got ['x']): "
                                "quote it if it is meant as text"),
    ("title: Hi\nauthor: me", "header: unknown field 'author' (known: title, product, tags)"),
    ("product: X", "line 2: the header has no title"),
    ("- a list", "line 2: the header must be lines like 'title: ...', not ['a list']"),
    ("title: 2024-13-45", "line 2: a value cannot be read (month must be in 1..12): quote it if "
                          "it is meant as text"),
])
def test_article_header_schema_errors_skip_the_article(tmp_path, header, problem):
    (tmp_path / "good.md").write_text(ARTICLE)
    (tmp_path / "bad.md").write_text(f"---\n{header}\n---\nBody.\n")
    kb = KnowledgeBase(tmp_path, embedder=_FakeEmbedder(), cache=False)
    assert kb.problems == [f"{tmp_path / 'bad.md'} {problem}; skipped"]
    assert list(kb.articles) == ["good"]


def test_article_header_lenient_forms(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: Hi\ntags: returns, refund , 30\nproduct:\n---\nT.\n")
    (tmp_path / "b.md").write_text("---\ntitle: Hi\ntags: [returns, 30, 2.5]\n---\nT.\n")
    a, b = parse_article(tmp_path / "a.md"), parse_article(tmp_path / "b.md")
    assert a.tags == ["returns", "refund", "30"] and a.product == ""
    assert b.tags == ["returns", "30", "2.5"]


def test_special_and_huge_files_in_the_knowledge_folder_are_skipped(tmp_path):
    (tmp_path / "good.md").write_text(ARTICLE)
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "zero.md").symlink_to("/dev/zero")  # reading it would never end
    (tmp_path / "huge.md").write_text("---\ntitle: Huge\n---\n" + "word " * 250_000)
    kb = KnowledgeBase(tmp_path, embedder=_FakeEmbedder(), cache=False)
    assert sorted(kb.problems) == sorted([
        f"{tmp_path / 'folder.md'}: not a regular file; skipped",
        f"{tmp_path / 'zero.md'}: not a regular file; skipped",
        f"{tmp_path / 'huge.md'}: 1.3 MB is too big for an article (at most 1 MB): split it; "
        f"skipped"])
    assert list(kb.articles) == ["good"]


class _FakeEmbedder:
    """Unit vectors from a hash: enough to index articles without loading the encoder."""

    def encode(self, texts):
        out = np.zeros((len(texts), 8), np.float32)
        for i, t in enumerate(texts):
            out[i, hash(t) % 8] = 1.0
        return out
