"""Flagged moments from hand-made timelines: each kind, its time, severity and thresholds."""
import pytest

from callassist.config import Config
from callassist.errors import ConfigError
from callassist.core.events import (CallerPoint, ChecklistItem, CoachingTip, EscalationAdvice,
                               MoodState, Utterance, Word)
from callassist.library.flags import Flag, FlagSettings, compute_flags, flag_counts, worst_moment
from callassist.core.timeline import Timeline


def utt(i, speaker, start, end, text):
    ws = text.split()
    step = (end - start) / max(1, len(ws))
    words = tuple(Word(w, start + k * step, start + (k + 1) * step - 0.05, 0.9)
                  for k, w in enumerate(ws))
    return Utterance(id=i, speaker=speaker, text=text, start=start, end=end, words=words)


def mood(uid, t, score, cues=()):
    return MoodState(time=t, speaker="customer", score=score, label="x", confidence=0.8,
                     trend="steady", change=0.0, utterance_id=uid, reason="r", cues=tuple(cues))


def timeline(events, duration=120.0):
    return Timeline(call={"id": "t", "duration": duration}, events=list(events))


def kinds(flags):
    return [f.kind for f in flags]


def test_sharp_mood_drop_is_flagged_at_the_utterance_that_caused_it():
    tl = timeline([utt(1, "customer", 2, 5, "hello there"), mood(1, 5, 0.3),
                   utt(2, "customer", 10, 14, "this is a disgrace"), mood(2, 14, -0.4)])
    flags = compute_flags(tl)
    drop = [f for f in flags if f.kind == "mood_drop"]
    assert len(drop) == 1 and drop[0].time == 10 and drop[0].utterance_id == 2
    assert drop[0].severity == 2 and "+0.30 → -0.40" in drop[0].reason
    assert "mood_drop" not in kinds(compute_flags(tl, FlagSettings(mood_drop=0.8)))


def test_sustained_negative_mood_needs_the_configured_duration():
    ev = [utt(1, "customer", 0, 4, "a"), mood(1, 4, -0.5), utt(2, "customer", 20, 24, "b"),
          mood(2, 24, -0.6), utt(3, "customer", 40, 44, "c"), mood(3, 44, 0.4)]
    flags = [f for f in compute_flags(timeline(ev)) if f.kind == "negative_mood"]
    assert not flags  # 24 s < 30 s
    flags = [f for f in compute_flags(timeline(ev), FlagSettings(negative_seconds=20))
             if f.kind == "negative_mood"]
    assert len(flags) == 1 and (flags[0].time, flags[0].end) == (0, 24) and flags[0].severity == 2


def test_negative_to_the_end_is_high_severity_and_unresolved():
    ev = [utt(1, "customer", 0, 4, "a"), mood(1, 4, -0.5), utt(2, "customer", 50, 54, "b"),
          mood(2, 54, -0.7)]
    flags = compute_flags(timeline(ev, duration=60))
    neg = next(f for f in flags if f.kind == "negative_mood")
    assert neg.severity == 3 and neg.end == 60 and "end of the call" in neg.reason
    unresolved = next(f for f in flags if f.kind == "unresolved")
    assert unresolved.severity == 3 and unresolved.time == 50


def test_anger_and_escalation_request_are_one_moment_each():
    cues = [{"kind": "anger", "trigger": "speak to your manager", "reason": "asks for a manager",
             "strength": 0.9},
            {"kind": "anger", "trigger": "ridiculous", "reason": "sounds fed up", "strength": 0.6}]
    ev = [utt(1, "customer", 3, 9, "this is ridiculous I want to speak to your manager"),
          mood(1, 9, -0.8, cues),
          EscalationAdvice(time=9, utterance_id=1, trigger="requested",
                           reason="the caller asked for a senior person"),
          utt(2, "customer", 12, 15, "whatever"), mood(2, 15, -0.8, cues[1:])]
    flags = compute_flags(timeline(ev, 20))
    esc = [f for f in flags if f.kind == "escalation"]
    anger = [f for f in flags if f.kind == "anger"]
    assert len(esc) == 1 and esc[0].time == 3 and esc[0].severity == 3
    assert [f.time for f in anger] == [3, 12]
    assert "manager" not in anger[0].reason and "ridiculous" in anger[0].reason
    assert not [f for f in compute_flags(timeline(ev, 20), FlagSettings(anger_strength=0.7))
                if f.kind == "anger"]


def test_a_flag_kind_or_the_request_for_a_manager_switched_off_in_the_rules(tmp_path):
    """Flags are rules: a centre that switches off the built-in silence flag gets none, and one
    that switches off the manager-request rule gets no escalation flag for a stored call's
    request either (the flags' own look for it, for calls stored before the advice)."""
    from callassist.assist.rulebook import Rulebook
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n"
                    "  - {id: flag_silence, name: Silence, enabled: false, detector: silence,\n"
                    "     then: {flag: graded}}\n"
                    "  - {id: asks_manager, name: Manager, enabled: false, speaker: customer,\n"
                    "     detector: asks_for_senior, then: {escalate: requested}}\n")
    ev = [utt(1, "customer", 3, 9, "I want to speak to your manager"),
          utt(2, "agent", 30, 33, "sorry about the wait")]
    assert {"silence", "escalation"} <= set(kinds(compute_flags(timeline(ev, 40))))
    off = kinds(compute_flags(timeline(ev, 40), rules=Rulebook.for_centre(path)))
    assert "silence" not in off and "escalation" not in off


def test_long_silence_and_hold():
    ev = [utt(1, "agent", 0, 3, "let me check that, one moment please"),
          utt(2, "agent", 25, 28, "thanks for holding"),
          utt(3, "customer", 29, 31, "ok"), utt(4, "agent", 40, 42, "right")]
    flags = [f for f in compute_flags(timeline(ev, 45)) if f.kind == "silence"]
    assert len(flags) == 2
    hold, pause = flags
    assert hold.time == pytest.approx(2.95, abs=0.1) and hold.end == 25 and "hold" in hold.reason
    assert hold.severity == 3 - 1  # 22 s: >= 2x the 8 s threshold
    assert pause.time == pytest.approx(31, abs=0.1) and "nobody" in pause.reason
    assert len([f for f in compute_flags(timeline(ev, 45), FlagSettings(silence_seconds=10))
                if f.kind == "silence"]) == 1


def test_interruption_by_the_agent():
    ev = [utt(1, "customer", 0, 8, "so what happened was the parcel never came and I waited"),
          utt(2, "agent", 5, 9, "yes yes I know that already")]
    flags = [f for f in compute_flags(timeline(ev, 10)) if f.kind == "interruption"]
    assert len(flags) == 1 and flags[0].time == 5 and flags[0].speaker == "agent"
    assert flags[0].severity == 2 and "talked over the caller" in flags[0].reason
    # a short backchannel ("mm") is not an interruption
    ev2 = [ev[0], utt(2, "agent", 5, 5.4, "mm")]
    assert not [f for f in compute_flags(timeline(ev2, 10)) if f.kind == "interruption"]


def test_agent_negative_language_comes_from_coaching_tips():
    ev = [utt(1, "agent", 4, 8, "calm down please"),
          CoachingTip(time=8, utterance_id=1, category="calm down", said="calm down",
                      suggestion="Acknowledge the feeling")]
    f = compute_flags(timeline(ev, 10))
    assert kinds(f) == ["agent_language"] and f[0].time == 4 and f[0].severity == 2


def test_unresolved_close_with_open_points_but_not_a_happy_ending():
    base = [utt(1, "customer", 0, 4, "my router keeps dropping"), mood(1, 4, -0.1),
            CallerPoint(id=1, time=4, utterance_id=1, category="issue", text="my router keeps dropping")]
    flags = compute_flags(timeline(base, 10))
    assert kinds(flags) == ["unresolved"] and flags[0].severity == 2
    happy = base + [utt(2, "customer", 5, 7, "thanks so much"), mood(2, 7, 0.6)]
    assert "unresolved" not in kinds(compute_flags(timeline(happy, 10)))
    handled = base + [
        CallerPoint(id=1, time=6, utterance_id=1, category="issue", text="my router keeps dropping",
                    addressed=True, addressed_by=2),
        ChecklistItem(time=6, utterance_id=2, item="resolved", label="Confirm", done=True)]
    assert "unresolved" not in kinds(compute_flags(timeline(handled, 10)))


def test_worst_moment_counts_and_round_trip():
    flags = [Flag("silence", 5, 20, 3, "hold"), Flag("escalation", 30, 35, 3, "manager"),
             Flag("anger", 2, 4, 2, "fed up")]
    assert worst_moment(flags).kind == "escalation"
    assert worst_moment([]) is None
    assert flag_counts(flags) == {"silence": 1, "escalation": 1, "anger": 1}
    assert Flag.from_dict(flags[0].to_dict()) == flags[0]


def test_kinds_can_be_switched_off_and_bad_settings_are_one_line_errors(tmp_path):
    ev = [utt(1, "agent", 4, 8, "calm down"),
          CoachingTip(time=8, utterance_id=1, category="calm down", said="calm down", suggestion="s")]
    assert not compute_flags(timeline(ev, 10), FlagSettings(kinds=("anger",)))
    with pytest.raises(ConfigError, match="unknown flag kind"):
        FlagSettings(kinds=("shouting",))
    with pytest.raises(ConfigError, match="positive number"):
        FlagSettings(silence_seconds=0)
    cfg = tmp_path / "config.toml"
    cfg.write_text("[flags]\nsilence_seconds = 12\n")
    assert Config.load(cfg).flag_settings().silence_seconds == 12
    cfg.write_text("[flags]\nsilense_seconds = 12\n")
    with pytest.raises(ConfigError, match="unknown flag setting.*silense_seconds"):
        Config.load(cfg)
