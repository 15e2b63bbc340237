"""The phrase library (the shipped YAML and broken ones) and how suggestions are chosen."""
import pytest

from callassist.errors import ConfigError
from callassist.assist.phrases import SITUATIONS, PhraseLibrary, PhraseSuggester


@pytest.fixture(scope="module")
def library():
    return PhraseLibrary.load()


def test_shipped_library_covers_every_situation(library):
    assert library.problems == []
    for s in SITUATIONS:
        assert len(library.phrases[s]) >= 5, s
    banned = ("calm down", "you have to", "i can't", "that's not our policy")
    for items in library.phrases.values():
        for p in items:
            assert not any(b in p.text.lower() for b in banned), p.text


def test_rotation_never_shows_the_same_line_all_call(library):
    sug = PhraseSuggester(library, count=2)
    shown = [tuple(p.text for p in sug.suggest("angry", ["anger"], "this is ridiculous")) for _ in range(6)]
    assert len({t for pair in shown for t in pair}) >= 6
    assert all(a != b for a, b in zip(shown, shown[1:]))


def test_caller_words_pick_the_fitting_phrase(library):
    sug = PhraseSuggester(library, count=1)
    fitting = [p for p in library.phrases["angry"] if "third time" in p.after]
    assert fitting, "the library should have a phrase for callers who call again"
    chosen = sug.suggest("angry", ["anger"], "This is the third time I am calling about it.")
    assert chosen[0].text in [p.text for p in fitting]


def test_never_suggests_what_the_agent_already_said(library):
    sug = PhraseSuggester(library, count=3)
    first = sug.suggest("confused", [], "i don't understand")
    sug.agent_said(first[0].text.upper() + " okay?")  # said in other words' case, with extras
    for _ in range(8):
        assert first[0].text not in [p.text for p in sug.suggest("confused", [], "what")]


def test_cue_only_phrases_wait_for_their_cue(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("angry:\n  - text: Only when angry cue\n    cues: [anger]\n  - text: Always fine\n")
    lib = PhraseLibrary.load(f)
    sug = PhraseSuggester(lib, count=2)
    assert [p.text for p in sug.suggest("angry", [], "")] == ["Always fine"]
    assert "Only when angry cue" in [p.text for p in sug.suggest("angry", ["anger"], "")]


def test_malformed_file_reports_file_and_line_and_loads_the_rest(tmp_path):
    f = tmp_path / "phrases.yaml"
    f.write_text(
        "angry:\n"
        "  - text: I understand, and I'll sort this out.\n"
        "  - cues: [anger]\n"                       # line 3: no text
        "confused:\n"
        "  - text: Let's take it one step at a time.\n"
        "  - text: [unclosed\n"                     # line 6: broken YAML in this section
        "worried:\n"
        "  - text: I'll make sure this is handled today.\n"
        "  - text: Bad cue\n"
        "    cues: [sadness]\n"                     # line 9-10: unknown cue
        "grumpy:\n"                                 # line 11: unknown situation
        "  - text: Hmm.\n"
        "closing: just a string\n")                 # line 13: not a list
    lib = PhraseLibrary.load(f)
    text = "\n".join(lib.problems)
    assert f"{f} line 3: phrase has no text" in text
    assert f"{f} line 6" in text and "not valid YAML" in text
    assert f"{f} line 9" in text and "sadness" in text
    assert f"{f} line 11: unknown situation 'grumpy'" in text
    assert f"{f} line 13" in text and "must be a list" in text
    assert [p.text for p in lib.phrases["angry"]] == ["I understand, and I'll sort this out."]
    assert [p.text for p in lib.phrases["worried"]] == ["I'll make sure this is handled today."]
    assert "confused" not in lib.phrases or lib.phrases["confused"] == []


def test_unusable_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="phrase file not found"):
        PhraseLibrary.load(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("angry: [unclosed\n")
    with pytest.raises(ConfigError, match="no usable phrases.*line 1"):
        PhraseLibrary.load(bad)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot be read"):
        PhraseLibrary.load(binary)
