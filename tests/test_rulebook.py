"""The centre's rules and QA scorecards: a rule of each kind on the demo calls (as `analyze`
wrote them), a broken rules file, scorecards answered with evidence, rule flags."""
import json
import textwrap

import pytest
from PySide6.QtCore import Qt

from callassist.assist.rulebook import (REPLACED_RULES as REPLACED, Rulebook, RuleRunner,
                                       evaluate, phrase_pattern)
from callassist.assist.scorecard import NA, NO, YES, Scorecard, answer_card, check_answer
from callassist.core.events import (CallMetrics, MoodState, RuleMatch, Utterance,
                                    event_from_dict)
from callassist.core.rules import plain_text
from callassist.core.timeline import Timeline
from callassist.errors import ConfigError


def book(tmp_path, text: str) -> Rulebook:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return Rulebook.load(path)


def events_of(analysis: dict):
    return [event_from_dict(e) for e in analysis["events"]], analysis["call"]["duration"]


def fired(matches, rule_id):
    return [m for m in matches if m.rule == rule_id]


# ---- the file --------------------------------------------------------------------------------------

def test_the_shipped_rules_and_scorecard_load_cleanly():
    rules = Rulebook.for_centre()
    assert rules.problems == [] and len(rules.active) >= 12
    card = Scorecard.load(rules=rules)
    assert {q.rule for q in card.questions if q.rule} <= {r.id for r in rules.rules}


def test_cues_escalation_checklist_and_flags_are_built_in_rules_of_the_one_engine():
    """Every built-in detector is switched on by a built-in rule (nothing runs beside the
    engine), the centre's shipped rules repeat none of them, and each built-in rule says what
    follows: a cue, advice to transfer, a checklist tick or graded flags."""
    from callassist.assist import detectors
    builtin = Rulebook.builtin()
    assert builtin.problems == [] and all(r.builtin for r in builtin.rules)
    assert sorted(r.item.detector for r in builtin.rules if r.item.detector) == sorted(
        detectors.known())
    assert not {r.id for r in builtin.rules} & {r.id for r in Rulebook.load().rules}
    for r in builtin.rules:
        t = r.item.then
        assert t.cue or t.escalate or t.checklist or t.flag == "graded", r.id
    assert [i for i, _ in builtin.checklist()] == ["resolved", "recap", "anything_else",
                                                   "checklist_thanks"]
    assert set(builtin.moment_kinds()) == set(detectors.MOMENT_DETECTORS)


def test_a_centre_file_saved_before_the_built_in_rules_keeps_them(tmp_path):
    """A centre's copy of the shipped rules from before (manager and cancel phrases, "anything
    else") does not switch off the built-ins of the same id; a changed one does, and a rule that
    drops what the built-in did is said in a line."""
    old = (tmp_path / "old.yaml")
    old.write_text(REPLACED.read_text())
    book = Rulebook.for_centre(old)
    assert book.problems == [] and [i for i, _ in book.checklist()] == [
        "resolved", "recap", "anything_else", "checklist_thanks"]
    assert book.get("asks_manager").item.then.escalate == "requested"
    changed = tmp_path / "changed.yaml"
    changed.write_text("rules:\n  - {id: anything_else, name: Asks, speaker: agent, "
                       "said: [anything else]}\n")
    book = Rulebook.for_centre(changed)
    assert [i for i, _ in book.checklist()] == ["resolved", "recap", "checklist_thanks"]
    assert len(book.problems) == 1 and "without its checklist" in book.problems[0]
    assert "line 2" in book.problems[0]


def test_a_broken_rule_is_named_by_file_and_line_and_the_rest_still_load(tmp_path):
    b = book(tmp_path, """\
        rules:
          - id: good_one
            name: Says sorry
            said: sorry
          - id: Bad Id
            name: an id with spaces
            said: hello
          - id: no_words
            name: nothing to look for
          - id: typo
            name: a field that does not exist
            sayd: hello
          - id: window
            name: two windows at once
            said: hi
            within: {first: 10, last: 10}
          - id: good_one
            name: the same id again
            said: hello
        """)
    assert [r.id for r in b.rules] == ["good_one"]
    where = str(tmp_path / "rules.yaml")
    assert len(b.problems) == 5
    assert b.problems[0].startswith(f"{where} line 5: rule Bad Id: id: must be one lower-case")
    assert "line 8" in b.problems[1] and "say what to look for" in b.problems[1]
    assert "line 12" in b.problems[2] and "unknown field 'sayd'" in b.problems[2]
    assert "line 16" in b.problems[3] and "one of {first: S}" in b.problems[3]
    assert "line 17" in b.problems[4] and "used twice" in b.problems[4]


@pytest.mark.parametrize("text, fault", [
    ("rules: [\n  {id: a, name: b, said: c\n", "not valid YAML"),
    ("- id: a\n  name: b\n", "'rules:' followed by a list"),
    ("rules: &x [1]\nmore: *x\n", "anchors are not allowed"),
])
def test_a_file_that_is_not_a_rules_file_is_one_line(tmp_path, text, fault):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        Rulebook.load(path)
    assert fault in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_wildcards_and_plain_words():
    import re
    pat = re.compile(phrase_pattern("thanks for calling *"))
    assert pat.search("thanks for calling brightwave electronics")
    assert not re.fullmatch(phrase_pattern("thanks for calling *"), "thanks for calling")
    assert re.fullmatch(phrase_pattern("refund*"), "refunded")
    assert phrase_pattern("That's   NOT ok!") == "thats not ok"
    either = phrase_pattern("(does|did) (that|it) (fix|sort) *")
    assert re.fullmatch(either, "did it sort the problem") and re.fullmatch(either, "does that fix it")
    assert not re.search(either, "does this fix it")


def test_unless_and_detector_rules_and_what_a_built_in_rule_may_be_given(tmp_path):
    b = book(tmp_path, """\
        rules:
          - id: thanks_end
            name: Thanks at the end
            speaker: agent
            said: ["thank you for calling"]
            unless: ["how can i help"]
          - id: fed_up_alert
            name: Fed up caller
            speaker: customer
            detector: fed_up
            then: {alert: Acknowledge it, cue: anger}
          - id: wrong_cue
            name: a cue the detector does not give
            detector: fed_up
            then: {cue: gratitude}
          - id: moment_with_words
            name: a moment detector given words
            detector: silence
            speaker: agent
            then: {flag: graded}
          - id: graded_phrase
            name: graded is for moment detectors
            said: hello
            then: {flag: graded}
          - id: unknown
            name: no such detector
            detector: mind_reading
          - id: agent_cue
            name: a cue from the agent's words
            speaker: agent
            said: hello
            then: {cue: worry}
        """)
    assert [r.id for r in b.rules] == ["thanks_end", "fed_up_alert"]
    assert len(b.problems) == 5
    assert b.problems[0].endswith("line 12: rule wrong_cue: the fed_up detector's cue is "
                                  "anger, not gratitude")
    assert "only then: {flag: graded}" in b.problems[1] and "graded is for" in b.problems[2]
    assert "line 27: rule unknown: detector: 'mind_reading' is not a built-in" in b.problems[3]
    assert "give speaker: customer" in b.problems[4]
    runner = RuleRunner(b)
    said = lambda n, who, text: [m.rule for m in runner.on_utterance(  # noqa: E731
        Utterance(n, who, text, n, n + 1)) if isinstance(m, RuleMatch)]
    assert said(1, "agent", "Thank you for calling, how can I help?") == []
    assert said(2, "customer", "This is ridiculous, I'm fed up.") == ["fed_up_alert"]
    assert said(3, "agent", "Thank you for calling, goodbye.") == ["thanks_end"]
    cues = b.cue_detector()("honestly this is ridiculous", ())
    assert [(c.kind, c.reason) for c in cues] == [("anger", "sounds fed up")]
    more = book(tmp_path, """\
        rules:
          - {id: polite, name: Thanks, speaker: customer, detector: thanks,
             unless: ["thanks for nothing at all"], then: {cue: gratitude}}
          - {id: esc_missing, name: x, speaker: agent, said: [sorry], not_said: true,
             then: {escalate: rude}}
          - {id: tick_on_silence, name: x, silence_over: 10, then: {checklist: Wait}}
          - {id: state_agent, name: x, speaker: agent, detector: furious_run}
        """)
    assert [r.id for r in more.rules] == ["polite"] and len(more.problems) == 3
    assert all("follow something said" in p for p in more.problems[:2])
    assert "reads the caller" in more.problems[2]
    detect = more.cue_detector()
    assert [c.kind for c in detect("thank you so much", ())] == ["gratitude"]
    assert detect("thanks for nothing at all, thank you very much", ()) == []


# ---- each kind of rule on the demo calls -------------------------------------------------------------

@pytest.mark.slow  # the demo calls through `analyze`, the real encoder for meaning
def test_a_rule_of_each_kind_on_the_demo_calls(tmp_path, demo_analyses, models):
    b = book(tmp_path, """\
        rules:
          - id: said_exact
            name: the agent asks for the order number
            speaker: agent
            said: "order number"
          - id: said_wildcard
            name: the company is named in the greeting
            speaker: agent
            said: "thank you for calling *"
            within: {first: 20}
          - id: by_meaning
            name: the caller says the order is long overdue
            speaker: customer
            means: "my order is weeks late and still has not come"
            threshold: 0.55
          - id: wrong_speaker
            name: the caller never says "order number" first
            speaker: customer
            said: "can i have your order number"
          - id: not_said_greeting
            name: no apology in the first 10 s
            speaker: agent
            said: ["sorry", "apologise"]
            not_said: true
            within: {first: 10}
          - id: said_late
            name: the agent thanks the caller in the last minute
            speaker: agent
            said: "thank you for calling"
            within: {last: 60}
          - id: from_to
            name: anything else asked between 60 and 120 s
            speaker: agent
            said: "anything else"
            negation: false
            within: {from: 60, to: 120}
          - id: angry_words
            name: the caller mentions a manager while angry
            speaker: customer
            said: "manager"
            mood_below: -0.3
            intensity: angry
          - id: mood_only
            name: the caller turns positive
            speaker: customer
            mood_above: 0.3
          - id: talk_ratio
            name: the agent talks more than the caller
            talk_ratio_above: 1.0
          - id: silence
            name: a silence over a second
            silence_over: 1.0
        """)
    assert b.problems == []
    embedder = models.knowledge.embedder
    angry, _ = events_of(demo_analyses["angry_calmed"])
    m = evaluate(b, angry, demo_analyses["angry_calmed"]["call"]["duration"], embedder)
    [order] = fired(m, "said_exact")
    assert order.speaker == "agent" and order.evidence == "order number"
    [greet] = fired(m, "said_wildcard")
    assert greet.evidence.startswith("thank you for calling ") and greet.time <= 20
    [waited] = fired(m, "by_meaning")
    # "I ordered a laptop three weeks ago and it still does not arrive", in none of those words
    assert waited.speaker == "customer" and "three weeks ago" in waited.evidence
    assert fired(m, "wrong_speaker") == []
    [no_sorry] = fired(m, "not_said_greeting")
    assert no_sorry.utterance_id is None and no_sorry.evidence == "not said in the first 10 s"
    [late] = fired(m, "said_late")
    assert late.time >= demo_analyses["angry_calmed"]["call"]["duration"] - 60
    [mid] = fired(m, "from_to")
    assert 60 <= mid.time <= 125
    [manager] = fired(m, "angry_words")
    assert manager.speaker == "customer" and manager.evidence == "manager"
    [better] = fired(m, "mood_only")
    utts = {e.id: e for e in angry if isinstance(e, Utterance)}
    moods = {e.utterance_id: e for e in angry if isinstance(e, MoodState)}
    assert moods[better.utterance_id].score >= 0.3
    assert utts[better.utterance_id].speaker == "customer"
    metrics = next(e for e in angry if isinstance(e, CallMetrics))
    assert bool(fired(m, "talk_ratio")) == (metrics.talk_listen_ratio > 1.0)
    assert bool(fired(m, "silence")) == any(b - a > 1.0 for a, b in metrics.long_silences)
    # the same rules on a calm call: no anger, no manager
    calm, dur = events_of(demo_analyses["satisfied_caller"])
    m2 = evaluate(b, calm, dur, embedder)
    assert fired(m2, "angry_words") == [] and fired(m2, "by_meaning") == []
    # "said" and "not said" never both: an apology in the first 10 s clears not_said_greeting
    billing, dur = events_of(demo_analyses["billing_escalation"])
    first_agent = [u for u in billing if isinstance(u, Utterance) and u.speaker == "agent"
                   and u.start <= 10]
    said_sorry = any("sorry" in u.text.lower() or "apolog" in u.text.lower() for u in first_agent)
    assert bool(fired(evaluate(b, billing, dur, embedder), "not_said_greeting")) != said_sorry


def test_live_runner_fires_as_the_call_goes_and_once_per_rule(tmp_path):
    b = book(tmp_path, """\
        rules:
          - id: cancel
            name: cancel threat
            speaker: customer
            said: "cancel my account"
            then: {alert: "Churn risk", severity: high, category: Churn, flag: 2}
          - id: every_sorry
            name: each apology
            speaker: agent
            said: sorry
            every: true
          - id: greeted
            name: no greeting in 5 s
            speaker: agent
            said: hello
            not_said: true
            within: {first: 5}
        """)
    r = RuleRunner(b)
    u = lambda i, sp, text, t: Utterance(i, sp, text, t, t + 1.0)  # noqa: E731
    assert r.on_utterance(u(1, "agent", "Good morning, sorry for the wait", 0.5))[0].rule == \
        "every_sorry"
    out = r.on_utterance(u(2, "customer", "I want to cancel my account today", 6.0))
    assert [m.rule for m in out] == ["greeted", "cancel"]  # the 5 s window closed first
    assert out[1].alert == "Churn risk" and out[1].severity == "high" and out[1].flag == 2
    assert r.on_utterance(u(3, "customer", "I will cancel my account!", 8.0)) == []  # once
    assert r.on_utterance(u(4, "customer", "I don't want to cancel my account", 9.0)) == []
    assert [m.rule for m in r.on_utterance(u(5, "agent", "sorry again", 10.0))] == ["every_sorry"]
    assert r.finish(12.0) == []


@pytest.mark.slow  # the real `analyze` with the shipped rules
def test_analyze_shows_and_stores_rule_matches(demo_analyses):
    angry = demo_analyses["angry_calmed"]
    rules = [e for e in angry["events"] if e["type"] == "rule"]
    assert {"greeting", "offers_help", "asks_manager", "cancel_threat"} <= {r["rule"] for r in rules}
    assert "rule cancel_threat: Churn risk" in angry["stdout"]
    calm = demo_analyses["satisfied_caller"]
    assert "cancel_threat" not in {e["rule"] for e in calm["events"] if e["type"] == "rule"}


# ---- scorecards ------------------------------------------------------------------------------------

@pytest.mark.slow  # the demo calls through `analyze`
@pytest.mark.parametrize("name", ["angry_calmed", "billing_escalation", "confused_caller",
                                  "satisfied_caller"])
def test_a_scorecard_is_answered_on_each_demo_call_with_evidence(demo_analyses, name):
    events, _ = events_of(demo_analyses[name])
    matches = [e for e in events if isinstance(e, RuleMatch)]
    utts = [e for e in events if isinstance(e, Utterance)]
    card = Scorecard.load(rules=Rulebook.for_centre())
    result = answer_card(card, matches, utts)
    by_id = {a.question.id: a for a in result.answers}
    assert set(by_id) == {q.id for q in card.questions}
    texts = {u.id: u.text for u in utts}
    for a in result.answers:
        if a.question.type == "scale":
            assert a.auto is None  # for a reviewer
            continue
        assert a.auto in (YES, NO, NA)
        if a.auto == YES and a.question.yes_if == "matched":
            # each "yes" shows the line it comes from, its speaker and time
            assert a.evidence and all(e["utterance_id"] in texts and e["time"] is not None
                                      for e in a.evidence), (a.question.id, a.evidence)
            assert a.evidence[0]["text"] == texts[a.evidence[0]["utterance_id"]]
        if a.auto == NO and a.question.yes_if == "matched":
            assert a.evidence[0]["text"].startswith("not found in the call")
    assert by_id["greeting"].auto == YES  # every demo agent greets
    # the agent of billing_escalation says "calm down" and "that is not our problem" (when the
    # recogniser hears it so): "did not blame" is then no, with the words as evidence
    agent = " ".join(plain_text(u.text) for u in utts if u.speaker == "agent")
    blamed = [p for p in ("calm down", "not our problem", "you should have") if p in agent]
    assert (by_id["no_blame"].auto == NO) == bool(blamed)
    if blamed:
        assert by_id["no_blame"].evidence[0]["matched"] in blamed
    upset = any(e.score <= -0.2 for e in events if isinstance(e, MoodState))
    assert (by_id["empathy"].auto == NA) == (not upset)  # applies only to an upset caller
    assert result.score is not None and 0 <= result.score <= 100


def test_reviewer_answers_win_and_scores_follow():
    card = Scorecard.load(rules=Rulebook.for_centre())
    blame = RuleMatch(10.0, "blames_caller", "blames", "agent", 3, "calm down")
    result = answer_card(card, [blame])
    assert result.get("no_blame").auto == NO and result.get("greeting").auto == NO
    before = result.score
    reviewed = answer_card(card, [blame], reviews={
        "no_blame": {"answer": YES, "reviewer": "Ana", "why": "said kindly, in context"},
        "courtesy": {"answer": 5, "reviewer": "Ana", "why": ""}})
    assert reviewed.get("no_blame").answer == YES and reviewed.get("no_blame").auto == NO
    assert reviewed.score > before
    assert check_answer(card.questions[-1], "4") == 4
    with pytest.raises(ConfigError):
        check_answer(card.questions[-1], 7)
    with pytest.raises(ConfigError):
        check_answer(card.questions[0], "maybe")


def test_a_scorecard_naming_a_missing_rule_is_refused(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("name: QA\nsections:\n  - name: A\n    questions:\n"
                    "      - {id: q1, text: Greets, rule: no_such_rule}\n")
    with pytest.raises(ConfigError, match="names the rule no_such_rule"):
        Scorecard.load(path, rules=Rulebook.for_centre())
    path.write_text("name: QA\nsections:\n  - name: A\n    questions:\n"
                    "      - {id: q1, text: Greets, weight: -1}\n")
    with pytest.raises(ConfigError, match="line 5"):
        Scorecard.load(path)


def test_rule_flags_are_flagged_moments_named_by_the_rule():
    from callassist.library.flags import compute_flags
    tl = Timeline(call={"id": "x", "duration": 20.0})
    tl(Utterance(1, "agent", "Hi there", 0.5, 1.5))
    tl(Utterance(2, "customer", "I will close my account", 2.0, 4.0))
    tl(RuleMatch(4.0, "churn", "Talks of leaving", "customer", 2, "close my account",
                 alert="Churn risk", severity="high", category="Churn", flag=3))
    tl(RuleMatch(4.0, "note", "Just a category", "customer", 2, "close", category="Other"))
    [flag] = [f for f in compute_flags(tl) if f.kind == "rule"]
    assert (flag.title, flag.severity, flag.time, flag.utterance_id) == \
        ("Talks of leaving", 3, 2.0, 2)
    assert json.loads(json.dumps(flag.to_dict()))["label"] == "Talks of leaving"


@pytest.mark.slow  # a real library of the demo calls' timelines
def test_a_reviewer_override_is_kept_and_counted_in_agreement(target, demo_analyses, tmp_path):
    from callassist.library.service import Library
    with Library(target) as lib:
        ids = {}
        for name in ("billing_escalation", "satisfied_caller"):
            a = demo_analyses[name]
            tl = Timeline(call=dict(a["call"]), events=[event_from_dict(e) for e in a["events"]])
            ids[name] = lib.save_timeline(tl, title=name)
        card = lib.scorecard(ids["satisfied_caller"])
        assert card.get("greeting").auto == YES and card.get("greeting").review is None
        # Ana disagrees once (greeting) and agrees once (offers_help), and rates courtesy
        lib.review(ids["satisfied_caller"], "greeting", "no", "Ana", "name said too fast")
        lib.review(ids["satisfied_caller"], "offers_help", card.get("offers_help").auto, "Ana")
        lib.review(ids["satisfied_caller"], "courtesy", 4, "Ana")
        with pytest.raises(ConfigError):
            lib.review(ids["satisfied_caller"], "courtesy", 9, "Ana")
        with pytest.raises(Exception, match="who reviews"):
            lib.review(ids["satisfied_caller"], "greeting", "yes", "  ")
    with Library(target) as lib:  # kept across sessions
        again = lib.scorecard(ids["satisfied_caller"])
        g = again.get("greeting")
        assert (g.auto, g.answer, g.review["reviewer"], g.review["why"]) == \
            (YES, NO, "Ana", "name said too fast")
        assert again.get("courtesy").answer == 4
        assert again.score != card.score
        agreement = lib.review_agreement(again.card.name)
        assert agreement["greeting"] == (0, 1) and agreement["offers_help"] == (1, 1)
        assert "courtesy" not in agreement  # no automatic answer to agree with
        # the report shows the scorecard, the reviewer's answer and the evidence lines
        from callassist.library.report import ReportData, html_report
        html = html_report(ReportData.from_store(lib, ids["satisfied_caller"]))
        assert "QA scorecard: Customer care QA" in html
        assert "no (reviewer Ana: name said too fast; automatic: yes)" in html
        import re
        assert re.search(r"\d:\d\d (Agent|agent): “Thank you for calling", html)
        # stored with each call: its automatic answers, the same as the card worked out now
        for name, cid in ids.items():
            stored = lib.get_call(cid).scorecard
            assert stored["card"] == again.card.name
            assert stored["auto"] == {a.question.id: a.auto for a in lib.scorecard(cid).answers}
        # the CSV: each call's score and answers, the reviewer's where there is one
        import csv as csv_module
        out = tmp_path / "calls.csv"
        lib.write_csv(lib.list_calls(), out)
        rows = {r["title"]: r for r in csv_module.DictReader(out.open(encoding="utf-8"))}
        sat = rows["satisfied_caller"]
        assert float(sat["qa_score"]) == again.score and sat["qa_greeting"] == NO
        assert sat["qa_courtesy"] == "4" and rows["billing_escalation"]["qa_courtesy"] == ""
        assert float(rows["billing_escalation"]["qa_score"]) == \
            lib.scorecard(ids["billing_escalation"]).score
        # averages per agent and per question over the calls, reviews counted
        lib.update_call(ids["satisfied_caller"], agent="Sam")
        card, agents, questions = lib.qa_averages()
        by_agent = {a.agent: a for a in agents}
        assert by_agent["Sam"].calls == 1 and by_agent["Sam"].score == again.score
        assert by_agent["(no agent)"].score == lib.scorecard(ids["billing_escalation"]).score
        greeting = next(q for q in questions if q.question.id == "greeting")
        assert (greeting.reviewed, greeting.agreed) == (1, 0) and greeting.answered == 2
        expected = 100.0 * [lib.scorecard(i).get("greeting").answer for i in ids.values()
                            ].count(YES) / 2
        assert greeting.value == expected
        courtesy = next(q for q in questions if q.question.id == "courtesy")
        assert (courtesy.answered, courtesy.value) == (1, 4.0)
        # the other call is untouched; deleting a call removes its reviews
        assert lib.scorecard(ids["billing_escalation"]).get("greeting").review is None
        lib.delete_call(ids["satisfied_caller"])
        assert lib.review_agreement(again.card.name) == {}


@pytest.mark.slow  # a real library, a real Qt window (offscreen)
def test_the_replay_view_shows_the_scorecard_and_takes_a_reviewers_answer(qtbot, tmp_path,
                                                                          demo_analyses):
    from callassist.gui.replay import ReplayWindow
    from callassist.library.service import Library
    a = demo_analyses["angry_calmed"]
    with Library(tmp_path / "calls.sqlite3") as lib:
        tl = Timeline(call=dict(a["call"]), events=[event_from_dict(e) for e in a["events"]])
        cid = lib.save_timeline(tl, title="angry")
        win = ReplayWindow(lib, cid, author="Ana")
        qtbot.addWidget(win)
        card = win.scorecard
        assert win.card_list.count() == len(card.answers)
        assert "QA SCORECARD — CUSTOMER CARE QA:" in win.card_caption.text()
        row = next(i for i, x in enumerate(card.answers) if x.question.id == "greeting")
        assert "✓ Greeted the caller" in win.card_list.item(row).text()
        assert "“Thank you for calling" in win.card_list.item(row).text()
        win.card_list.setCurrentRow(row)
        win._card_clicked(win.card_list.item(row))
        assert [win.card_answer.itemText(i) for i in range(3)] == ["yes", "no", "n/a"]
        win.card_answer.setCurrentText("no")
        win.card_why.setText("company name not said")
        win.review_selected()
        assert "✗ Greeted the caller" in win.card_list.item(row).text()
        assert "· Ana" in win.card_list.item(row).text()
        review = lib.scorecard(cid).get("greeting").review
        assert (review["answer"], review["reviewer"], review["why"]) == \
            ("no", "Ana", "company name not said")
        win.close()


@pytest.mark.slow  # a real library of the demo calls, a real Qt window (offscreen)
def test_the_rules_editor_tests_a_rule_on_the_library_before_saving_it(qtbot, tmp_path,
                                                                      demo_analyses):
    from callassist.config import Config, config_path
    from callassist.gui.library_view import LibraryWindow
    from callassist.library.service import Library
    with Library(tmp_path / "calls.sqlite3") as lib:
        for name, a in demo_analyses.items():
            tl = Timeline(call=dict(a["call"]), events=[event_from_dict(e) for e in a["events"]])
            lib.save_timeline(tl, title=name)
        win = LibraryWindow(lib, config=Config())
        qtbot.addWidget(win)
        ed = win.edit_rules()
        assert ed.list.count() == len(Rulebook.for_centre().rules) and ed.problems == []
        # a new rule: the agent says "supervisor" (the billing call's agent does)
        ed.add_rule()
        ed.edit.setPlainText("id: agent_mentions_supervisor\nname: The agent mentions a "
                             "supervisor\nspeaker: agent\nsaid: supervisor\nnegation: false\n")
        ed.test_rule()
        qtbot.waitUntil(lambda: ed.test_button.isEnabled(), timeout=60000)
        found_calls = {title for _, title, _, _ in ed.found}
        agent_said = {name for name, a in demo_analyses.items()
                      if any(e["type"] == "utterance" and e["speaker"] == "agent"
                             and "supervisor" in e["text"].lower() for e in a["events"])}
        assert found_calls == agent_said and agent_said  # exactly the calls where it is said
        assert ed.results.count() == len(ed.found)
        assert "moments in" in ed.results_label.text()
        # double-clicking a moment opens that call at that moment
        opened = []
        ed.open_call.connect(lambda cid, t: opened.append((cid, t)))
        ed._open_result(ed.results.item(0))
        assert opened and opened[0][1] == ed.found[0][2]
        # a broken rule is refused with the reason, nothing changes
        ed.edit.setPlainText("id: agent_mentions_supervisor\nname: x\nsaid: [a\n")
        assert not ed.apply() and "not valid YAML" in ed.error.text()
        ed.edit.setPlainText("id: agent_mentions_supervisor\nname: x\nspeaker: boss\nsaid: a\n")
        assert not ed.apply() and "speaker" in ed.error.text()
        ed.edit.setPlainText("id: agent_mentions_supervisor\nname: The agent mentions a "
                             "supervisor\nspeaker: agent\nsaid: supervisor\nnegation: false\n")
        assert ed.apply()
        # a built-in rule with a moment detector is tested as the flags are computed
        ids = [r["id"] for r in ed.rules]
        ed.list.setCurrentRow(ids.index("flag_silence"))
        assert "built-in" in ed.list.currentItem().text()
        ed.test_rule()
        qtbot.waitUntil(lambda: ed.test_button.isEnabled(), timeout=60000)
        assert "moments in" in ed.results_label.text()
        assert all("silence" in e or "hold" in e for _, _, _, e in ed.found)
        # a built-in rule is not deleted (switched off instead)
        ed.delete_rule()
        assert len(ed.rules) == len(ids) and "untick it" in ed.error.text()
        # disable a built-in rule, save: the user's own copy is written and used; it holds the
        # centre's rules and the changed built-in only, and the other built-ins still run
        ed.list.item(0).setCheckState(Qt.Unchecked)
        assert "changed" in ed.list.item(0).text()
        assert ed.save(), ed.error.text()
        saved = config_path().parent / "rules.yaml"
        assert Config.load().rules == str(saved)
        book = Rulebook.load(saved)
        assert book.problems == [] and "agent_mentions_supervisor" in {r.id for r in book.rules}
        assert [r.id for r in book.rules if r.id in ed.builtin] == [ids[0]]
        assert book.rules[0].item.enabled is False
        centre = Rulebook.for_centre(saved)
        assert {r.id for r in centre.rules} >= set(ed.builtin) and not centre.get(ids[0]).item.enabled
        assert (saved.stat().st_mode & 0o777) == 0o600
        ed.close()
        win.close()
