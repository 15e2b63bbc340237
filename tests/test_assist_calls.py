"""The assist stages on real transcripts: the demo calls through `callassist analyze`."""
import pytest

pytestmark = pytest.mark.slow  # whole calls (analysed once per session, shared)


@pytest.fixture(scope="module")
def calls(demo_analyses):
    return demo_analyses


def ev(tl, kind):
    return [e for e in tl["events"] if e["type"] == kind]


def utt(tl, uid):
    return next(e for e in ev(tl, "utterance") if e["id"] == uid)


def test_phrases_fit_the_moment(calls):
    angry = calls["angry_calmed"]
    first = ev(angry, "phrases")[0]
    assert first["situation"] in ("angry", "frustrated")
    assert utt(angry, first["utterance_id"])["speaker"] == "customer"
    # the caller says this is the third time: a phrase for repeat callers comes first
    assert any(w in first["phrases"][0].lower() for w in ("more than once", "again", "repeat", "call back")), first
    situations = [p["situation"] for p in ev(angry, "phrases")]
    assert situations[-1] in ("thanks", "closing")
    shown = [t for p in ev(angry, "phrases") for t in p["phrases"]]
    assert len(set(shown)) >= len(shown) - 2  # rotated, hardly any repeats
    confused = [p["situation"] for p in ev(calls["confused_caller"], "phrases")]
    assert confused.count("confused") >= 2


def test_knowledge_cards_match_the_caller(calls):
    def articles(name):
        return [c["article"] for k in ev(calls[name], "knowledge") for c in k["cards"]]
    assert "router-setup" in articles("confused_caller")[:2]
    assert articles("billing_escalation")[0] == "double-charge"
    assert "exchanges" in articles("satisfied_caller")
    assert set(articles("angry_calmed")) & {"tracking-late-delivery", "address-change", "delivery-options"}
    card = ev(calls["confused_caller"], "knowledge")[0]["cards"][0]
    assert card["title"] and card["passage"] and "meaning" in card["why"]


def test_points_raised_and_addressed(calls):
    pts = ev(calls["confused_caller"], "point")
    questions = {p["id"]: p for p in pts if p["category"] == "question"}
    assert any("orange light" in p["text"].lower() for p in questions.values())
    answered = {p["id"] for p in pts if p["addressed"]}
    assert len(answered & set(questions)) >= 2
    for p in pts:
        if p["addressed"]:
            assert utt(calls["confused_caller"], p["addressed_by"])["speaker"] == "agent"
    numbers = [p for p in ev(calls["billing_escalation"], "point") if p["category"] == "number"]
    assert numbers and "55038" in numbers[0]["text"]


def test_coaching_on_the_rude_agent_only(calls):
    tips = ev(calls["billing_escalation"], "coaching")
    cats = {t["category"] for t in tips}
    assert {"you have to", "can't", "policy", "don't know"} <= cats, cats
    assert all(utt(calls["billing_escalation"], t["utterance_id"])["speaker"] == "agent" for t in tips)
    assert ev(calls["satisfied_caller"], "coaching") == []
    assert len(ev(calls["angry_calmed"], "coaching")) <= 1


def test_escalation(calls):
    esc = ev(calls["billing_escalation"], "escalation")
    assert [e["trigger"] for e in esc][:1] == ["requested"]
    assert "supervisor" in esc[0]["reason"]
    assert ev(calls["satisfied_caller"], "escalation") == []
    assert all(e["trigger"] != "sustained_negative" for e in ev(calls["angry_calmed"], "escalation"))


def test_close_the_call_checklist(calls):
    def items(name):
        return {c["item"] for c in ev(calls[name], "checklist")}
    assert {"anything_else", "checklist_thanks"} <= items("satisfied_caller")
    assert {"recap", "anything_else", "checklist_thanks"} <= items("angry_calmed")
    assert items("billing_escalation") <= {"recap"}  # the rude agent closes nothing


def test_call_metrics(calls):
    for name, tl in calls.items():
        (m,) = ev(tl, "metrics")
        assert set(m["talk_time"]) == {"agent", "customer"}
        assert 0.5 < m["talk_listen_ratio"] < 2.5
        assert all(120 < w < 260 for w in m["words_per_minute"].values()), m
        assert m["non_talk_time"] > 5 and m["overlaps"] == [] and m["long_silences"] == []
    assert "metrics: talk agent" in calls["angry_calmed"]["stdout"]
