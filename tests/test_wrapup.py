"""Wrap-up at hang-up: the structured summary, the wrap-up code and the follow-ups, built from the
timeline by rules (assist.wrapup), every sentence traced to the utterances it comes from.

Hand-made timelines (recogniser-style text: lower case, no punctuation, numbers as words; and
written text: Whisper), the code file's checks, the event through JSON and the library's
redaction, the assistant's hang-up and mid-call catch-up; then the real thing: the tuning set
with the real sentence encoder and the four demo calls analysed by the real command line."""
import contextlib
import json
import re

import pytest

from callassist.assist.assistant import Assistant
from callassist.assist.timespans import amounts, conditions, times
from callassist.assist.wrapup import summarize
from callassist.assist.wrapup_codes import WrapUpCodes, default_codes
from callassist.core.events import MoodState, Utterance, WrapUp, event_from_dict
from callassist.errors import ConfigError
from tests.conftest import ROOT

DEV = ROOT / "tests" / "data" / "wrapup_dev.jsonl"
A, C = "agent", "customer"


def call(*turns):
    """Utterances numbered from 1, four seconds apart."""
    return [Utterance(i + 1, who, text, 4.0 * i, 4.0 * i + 3.5) for i, (who, text) in enumerate(turns)]


def ids(facts):
    return sorted({i for f in facts for i in f["utterances"]})


WHISPER = call(
    (A, "Thanks for calling Brightwave, this is Sam. How can I help?"),
    (C, "Hi Sam. I ordered a fridge two weeks ago and it still hasn't arrived."),
    (A, "I'm sorry about that. Let me check the order for you."),
    (A, "I've rebooked the delivery for tomorrow before twelve, and I'll refund the £25.99 "
        "delivery charge within 24 hours."),
    (C, "Okay, that's great. Thank you."),
    (A, "You're welcome. Is there anything else?"),
    (C, "No, that's all, thanks."))
VOSK = call(
    (A, "thanks for calling brightwave this is sam how can i help"),
    (C, "hi sam i ordered a fridge two weeks ago and it still hasn't arrived"),
    (A, "i'm sorry about that let me check the order for you"),
    (A, "i've rebooked the delivery for tomorrow before twelve and i'll refund the twenty five "
        "ninety nine delivery charge within twenty four hours"),
    (C, "okay that's great thank you"),
    (A, "you're welcome is there anything else"),
    (C, "no that's all thanks"))
UNRESOLVED = call(
    (A, "Brightwave billing, Laura speaking."),
    (C, "I've been charged twice for my phone contract this month."),
    (A, "I'm sorry. I can see both payments, but I can't refund the second one myself."),
    (A, "I've raised a case with our payments team and they'll call you back within 48 hours."),
    (C, "That's not good enough. I need that money now."),
    (A, "I understand, I'm sorry I can't do more today."),
    (C, "Fine. I'll wait for the call, but I'm not happy."))
TRANSFERRED = call(
    (A, "brightwave good afternoon chris speaking"),
    (C, "my washing machine has broken down again and nobody has called me back"),
    (A, "i'm sorry let me look at the notes on your account"),
    (C, "i want to speak to a manager right now"),
    (A, "i understand i'm transferring you to my supervisor now please hold"))


def assert_traceable(w: WrapUp, utterances) -> None:
    """Every fact and every line of the text names utterances of this call, and says something."""
    known = {u.id for u in utterances}
    for group in (w.reason, w.actions, w.commitments, w.followups, w.mood, w.topics, w.lines):
        for fact in group:
            assert fact["utterances"] and set(fact["utterances"]) <= known, fact
    for fact in (*w.reason, *w.actions, *w.commitments, *w.followups, *w.lines):
        assert fact["text"].strip(), fact
    assert set(w.code_utterances) <= known and set(w.resolved_utterances) <= known
    assert len(w.lines) == len(w.text.splitlines())


# ---- the facts, in both kinds of text -----------------------------------------------------------

@pytest.mark.parametrize("utts, when, amount", [
    (WHISPER, "within 24 hours", "£25.99"),
    (VOSK, "within twenty four hours", "twenty five ninety nine"),
], ids=["whisper", "vosk"])
def test_facts_of_a_call_in_written_and_recognised_text(utts, when, amount):
    w = summarize(utts, [], default_codes())
    assert ids(w.reason) == [2] and "fridge" in w.reason[0]["text"]
    assert "Sam" not in w.reason[0]["text"] and "sam" not in w.reason[0]["text"].split()
    assert ids(w.actions) == [4]  # "let me check the order" looks it up: nothing done yet
    # the delivery booked for a day is agreed too (labelled so since the third blind set)
    booked, promise = w.commitments
    assert booked["utterances"] == promise["utterances"] == [4]
    assert booked["when"].lower() == "tomorrow before twelve" and booked["amount"] is None
    assert promise["when"] == when and promise["amount"] == amount
    assert w.code == "DELIVERY" and "arrived" in w.code_why  # by its keywords: no encoder here
    assert w.resolved and w.final
    assert ids(w.followups) == [4] and w.followups[0]["kind"] == "commitment"
    assert w.text.startswith("Wrap-up: DELIVERY") and "Reason:" in w.text and "Agreed:" in w.text
    assert_traceable(w, utts)


@pytest.mark.parametrize("text, when, amount", [
    ("I'll refund £25.99 to your card by Friday.", "by Friday", "£25.99"),
    ("i'll refund twenty five pounds to your card by friday", "by friday", "twenty five pounds"),
    ("You'll get $40 back within 24 hours.", "within 24 hours", "$40"),
    ("you'll get forty nine ninety nine back in three to five working days",
     "three to five working days", "forty nine ninety nine"),  # a bare "in" is not kept
    ("An engineer will come out tomorrow before 12 noon.", "tomorrow before 12 noon", None),
    ("An engineer will come out tomorrow before twelve.", "tomorrow before twelve", None),
    ("the refund of thirty four pounds ninety nine will be back on your card on the 14th",
     "on the 14th", "thirty four pounds ninety nine"),
    ("They'll text you a two-hour window by 6pm on Thursday.", "by 6pm on Thursday", None),
    ("they'll text you a two hour window by six pm on thursday", "by six pm on thursday", None),
    ("Your new router will arrive on the 14th of March.", "on the 14th of March", None),
    ("we'll knock 10% off your next bill", None, "10%"),
    ("It should be with you within the hour.", "within the hour", None),
    ("Someone will be in touch by the end of the week.", "by the end of the week", None),
])
def test_when_and_amount_are_the_words_said(text, when, amount):
    utts = call((C, "my order has not arrived"), (A, text))
    (promise,) = summarize(utts, [], default_codes()).commitments
    assert (promise["when"], promise["amount"]) == (when, amount)


@pytest.mark.parametrize("text, whens", [
    # an event used as a time is the promise's time, said before or after it
    ("Once it reaches our warehouse, we refund the full $899 within 2 working days.",
     ["Once it reaches our warehouse"]),
    ("i'll email you as soon as i hear back from the courier", ["as soon as i hear back from the courier"]),
    ("you'll get a dispatch email when it goes anything else i can help with", ["when it goes"]),
    # in recognised text an event ends where the next clause's subject starts
    ("once it's back at our warehouse the forty nine ninety nine goes back on your card within two "
     "working days", ["once it's back at our warehouse"]),
    ("once we've got the laptop back we refund it within two working days",
     ["once we've got the laptop back"]),
    # the refund and its arrival are two promises; a duration keeps what it counts from
    ("Once it's back at our warehouse, the refund goes out, and your bank usually takes 3 to 5 "
     "working days after that.", ["Once it's back at our warehouse", "3 to 5 working days after that"]),
    ("the refund goes out within two working days of it reaching our warehouse",
     ["within two working days of it reaching our warehouse"]),
    # ... up to where the next clause's subject and verb start, in recognised text
    ("the full four hundred and forty nine dollars is refunded within two working days of it "
     "getting back to us you won't pay anything for the delivery either",
     ["within two working days of it getting back to us"]),
    # a booked day and the text before it; a preposition that adds nothing is dropped
    ("Okay, the TV is now booked for Saturday the 5th, and the team will text you the evening "
     "before with a two-hour window.", ["Saturday the 5th", "the evening before"]),
    ("i've moved it to thursday the fourth and you'll get a text the night before",
     ["thursday the fourth", "the night before"]),
    ("It should be with you in a minute or two.", ["a minute or two"]),
    ("Your bank will drop it by the 21st at the latest.", ["by the 21st at the latest"]),
    ("so you'll have it by friday and the courier will pick up the dead one at the same time",
     ["by friday", "at the same time"]),
])
def test_the_time_of_each_promise_is_the_first_said_for_it(text, whens):
    """The time the rules read for each promise (callfacts.commitments; which of them the scorer
    keeps is tested apart: a one-line "the refund goes out within…" is near its threshold)."""
    from callassist.assist import callfacts
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call((C, "my order has not arrived"), (A, text))]
    assert [f.when for f in callfacts.commitments(turns, C)] == whens


def test_an_offer_on_what_the_caller_does_is_no_event():
    assert conditions("once you've sent it back we'll refund you") == []
    assert [s.text for s in conditions("the moment they do")] == ["the moment they do"]


def test_times_and_amounts_read_both_ways():
    # a duration is kept with what it counts from
    assert [s.text for s in times("Usually three to five working days after we receive it.")] \
        == ["three to five working days after we receive it"]
    assert [s.text for s in times("i was on hold for twenty minutes at one point")] == ["twenty minutes"]
    assert [s.text for s in times("a 24 hour helpline")] == []  # an adjective, not a duration
    assert [s.text for s in amounts("I paid £549 and $12.50, then twenty dollars")] \
        == ["£549", "$12.50", "twenty dollars"]
    assert amounts("it is four seven one two nine") == []  # an order number is no money


@pytest.mark.parametrize("text", [
    "Please hold the line while I transfer you.", "Your refund has been processed.",
    "i've gone ahead and cancelled the subscription",
])
def test_agent_actions_are_not_promises(text):
    w = summarize(call((C, "I need to cancel my order please"), (A, text)), [], default_codes())
    assert ids(w.actions) == [2] and w.commitments == ()


@pytest.mark.parametrize("text", [
    "Can I take your postcode please?", "Have you tried switching it off and on again?",
    "If you order before eight tonight they'll arrive tomorrow.", "I'll be happy to help.",
    "You'll need to send it back in the original box.", "I'm afraid I can't do that.",
])
def test_questions_conditions_and_instructions_are_neither(text):
    w = summarize(call((C, "do you have the blue kettle in stock"), (A, text)), [], default_codes())
    assert w.actions == () and w.commitments == ()


def test_an_unresolved_call_keeps_the_issue_open():
    w = summarize(UNRESOLVED, [], default_codes())
    assert not w.resolved and w.code == "BILLING"
    assert ids(w.reason) == [2] and ids(w.actions) == [4]
    (promise,) = w.commitments
    assert promise["when"] == "within 48 hours" and promise["utterances"] == [4]
    kinds = {f["kind"]: f["utterances"] for f in w.followups}
    assert kinds == {"commitment": [4], "open_issue": [2]}
    assert "Follow up:" in w.text and "not resolved" in w.text.splitlines()[0]
    assert set(w.resolved_utterances) & {4, 5, 6, 7}
    assert_traceable(w, UNRESOLVED)


@pytest.mark.parametrize("agent, caller", [
    # an answer someone else still has to give, however politely the caller rings off
    ("I've opened a trace with the courier. They've got up to three working days to come back to us.",
     "Okay. No, that's it. Thanks, Leon."),
    ("i've raised it with the returns team and i'll email you as soon as they reply",
     "okay thank you bye"),
    # a caller who gives up or is left undecided
    ("I'm sorry, after thirty days I can only offer a repair.", "Right. Forget it. Thanks anyway."),
    ("The silver ones are sold out, so it's a refund or keeping the blue ones.",
     "okay well i might have to think about the grey then thanks"),
])
def test_a_call_left_waiting_or_undecided_is_not_resolved(agent, caller):
    w = summarize(call((C, "my headphones have not arrived"), (A, agent), (C, caller)), [], default_codes())
    assert not w.resolved, w.resolved_why


def test_fingers_crossed_is_no_sign_of_waiting():
    """It ends as many settled labelled calls as open ones: the other signals decide."""
    from callassist.assist import callfacts
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call((C, "the speaker keeps waking up when the tv's on"),
                                      (A, "I've set it to medium, that should keep it quiet."),
                                      (C, "okay well fingers crossed thanks nadia"))]
    assert callfacts.signals(turns, C).waiting is None
    turns = [Turn.of(u) for u in call((C, "my parcel hasn't come"), (A, "It's with the courier."),
                                      (C, "okay i'll wait for your email then"))]
    assert callfacts.signals(turns, C).waiting is not None


@pytest.mark.parametrize("agent, caller", [
    # a repair case opened and accepted is a remedy in place, not work left open
    ("I've opened a case for a warranty repair, and you'll get a prepaid box within 1 working day.",
     "Great, thanks so much."),
    ("You can have a think and order it online whenever you like, the price holds till Sunday.",
     "Okay, I'll think about it. Thanks, Maya."),
])
def test_a_remedy_in_place_or_a_question_answered_is_resolved(agent, caller):
    w = summarize(call((C, "my laptop fan is grinding"), (A, agent), (C, caller)), [], default_codes())
    assert w.resolved, w.resolved_why


def test_a_transfer_is_escalated_whatever_the_caller_wanted():
    w = summarize(TRANSFERRED, [], default_codes())
    assert w.code == "ESCALATED" and w.code_utterances == (5,) and not w.resolved
    assert ids(w.actions) == [5]  # the transfer is done; "let me look at the notes" is not
    # asking for a manager is not a transfer: a delivery call stays a delivery call
    asked = call((C, "my parcel still hasn't arrived"), (C, "i want to speak to your manager"),
                 (A, "i've rebooked it for tomorrow"), (C, "okay thanks"))
    assert summarize(asked, [], default_codes()).code == "DELIVERY"


def test_nothing_fits_so_the_fallback_code():
    w = summarize(call((C, "hello is that brightwave"), (A, "yes it is how can i help")), [],
                  default_codes())
    assert w.code == "ENQUIRY" and w.code_utterances


def test_mood_at_start_and_end_and_a_question_left_open():
    utts = call((C, "my laptop won't turn on"), (A, "let me check the warranty"),
                (C, "and can you send me a copy of the invoice too?"))
    moods = [MoodState(3.5, C, -0.5, "upset", 0.8, "steady", -0.5, 1, "upset"),
             MoodState(11.5, C, 0.1, "neutral", 0.8, "improving", 0.4, 3, "calmer")]
    assistant = Assistant(None, None)
    events = []
    for u, m in zip(utts, (moods[0], None, moods[1])):
        events += assistant.on_caller(u, m) if u.speaker == C else assistant.on_agent(u)
    w = assistant.catch_up(utts)  # what the assistant saw: the moods and its own events
    assert not w.final and w.text.startswith("So far:")
    assert [(m["at"], m["label"], m["utterances"]) for m in w.mood] == \
        [("start", "upset", [1]), ("end", "neutral", [3])]
    assert w.code == "TECH_SUPPORT"
    # the caller's last question, no agent reply after it: open for whoever takes the call over
    assert [f["utterances"] for f in w.followups if f["kind"] == "unanswered"] == [[3]]
    assert_traceable(w, utts)


# ---- follow-ups, escalation, promises (the label rules of tests/data/wrapup_blind.md) -------------

def _unanswered(w):
    return [f["utterances"][0] for f in w.followups if f["kind"] == "unanswered"]


def test_a_request_the_agent_never_takes_up_is_a_follow_up():
    utts = call((A, "brightwave this is marcus how can i help"),
                (C, "my parcel says delivered but there's nothing here"),
                (A, "i've opened an investigation with the courier"),
                (C, "oh and also can you change the phone number for the delivery texts"),
                (A, "i'll email you as soon as we hear anything back from the courier"),
                (C, "okay thanks bye"))
    assert _unanswered(summarize(utts, [], default_codes())) == [4]


@pytest.mark.parametrize("reply", [
    "yes I've changed it to the new number now",  # answered straight away
    "Of course. Done, the texts will go to the new one.",
    "I'm afraid I can't change that until the parcel is found.",  # turned down with a reason
])
def test_a_request_answered_or_turned_down_is_not_a_follow_up(reply):
    utts = call((C, "My parcel says delivered but there's nothing here."),
                (A, "I've opened an investigation with the courier."),
                (C, "Oh, and could you change the phone number for the delivery texts?"),
                (A, reply), (C, "Okay, thanks."))
    assert _unanswered(summarize(utts, [], default_codes())) == []


def test_a_question_answered_later_is_not_a_follow_up_but_half_of_two_is():
    later = call((C, "I ordered a kettle and it came without the lid."),
                 (C, "And do you do the matching toaster in white?"),
                 (A, "Sorry, one moment, I'm just bringing the order up."),
                 (A, "I've sent a new lid today. And the toaster does come in white, yes."))
    assert _unanswered(summarize(later, [], default_codes())) == []
    two = call((C, "I've got an old phone I want to trade in, how does it work?"),
               (A, "You get a quote online and we send you a free kit."),
               (C, "And my mum's got an old tablet, would you take that as well? "
                   "And do you recycle old laptop chargers?"),
               (A, "Chargers and cables we recycle for free, any brand."))
    (open_item,) = [f for f in summarize(two, [], default_codes()).followups if f["kind"] == "unanswered"]
    assert open_item["utterances"] == [3] and "tablet" in open_item["text"]


def test_questions_before_the_reason_and_checks_are_not_follow_ups():
    utts = call((C, "Hello, is this the right number for payments?"),
                (A, "Hello, this is Brightwave, Amy speaking."),
                (C, "I've been charged twice for my order."),
                (A, "I've refunded the second payment now."),
                (C, "Is that right? Can you hear me?"))
    assert _unanswered(summarize(utts, [], default_codes())) == []


def test_a_transfer_is_escalated_only_to_someone_senior():
    payment = call((C, "i want to pay for the order over the phone"),
                   (A, "i'm putting you through to the payment line now"))
    assert summarize(payment, [], default_codes()).code != "ESCALATED"
    callback = call((C, "the tv has the same fault for the third time"),
                    (A, "none of the team leaders can take a call right now so i've booked a "
                        "callback for you"))
    assert summarize(callback, [], default_codes()).code == "ESCALATED"
    maybe = call((C, "the tv has the same fault for the third time"),
                 (A, "if it happens again i'd need to look at it with my team leader"))
    assert summarize(maybe, [], default_codes()).code != "ESCALATED"


def test_who_a_transfer_or_callback_goes_to_is_read_from_the_turns_before():
    codes = default_codes()
    fault = (C, "the tv has the same fault for the third time")
    # the team leader named just before: a callback "with her", a transfer to her by name
    booked = call(fault, (A, "a third report has to go to my team leader, she has to approve a replacement"),
                  (C, "oh dear is she there"),
                  (A, "she's in a meeting so i've booked a callback with her, she'll ring you by four"),
                  (C, "lovely thank you bye"))
    w = summarize(booked, [], codes)
    # handed on to a senior rep (the code file's `left_open`): not resolved, however kind the goodbye
    assert w.code == "ESCALATED" and not w.resolved and w.resolved_why.startswith("handed on")
    named = call((C, "I want to speak to a manager."),
                 (A, "Alright. I'll get my team leader, Mr. Okafor. Can I put you on a short hold?"),
                 (C, "Fine."),
                 (A, "Thanks for holding. I'm putting you through to Mr. Okafor now."))
    assert summarize(named, [], codes).code == "ESCALATED"
    # the payment line named just before; a transfer refused; the agent's own call back
    payment = call((C, "I'd like to pay for the order now."),
                   (A, "For the payment I'll pop you over to our secure payment line."),
                   (C, "Okay."), (A, "Putting you through now."))
    assert summarize(payment, [], codes).code != "ESCALATED"
    refused = call((C, "Can you not just transfer me to my bank?"),
                   (A, "I can't put you through to them, I'm afraid, they're a separate company."))
    assert summarize(refused, [], codes).code != "ESCALATED"
    own = call((C, "my parcel is stuck at the depot"),
               (A, "i've asked the depot manager if you can collect it and i'll ring you as soon "
                   "as i hear from them"))
    assert summarize(own, [], codes).code != "ESCALATED"
    # a hand-on only if something happens
    only_if = call((C, "I need to cancel the laptop I ordered last night."),
                   (A, "I've asked the build team to pull it. If they've started already, I'll get a "
                       "team leader to ring you, because that shouldn't happen."))
    assert summarize(only_if, [], codes).code != "ESCALATED"

@pytest.mark.parametrize("text, promises", [
    # a condition on events is still a promise; one on the caller's choice is an offer
    ("If it's lost we'll send a replacement by Friday.", [("by Friday", None)]),
    ("As soon as the courier confirms it, the $179 will be refunded to your PayPal.",
     [("As soon as the courier confirms it", "$179")]),
    ("If you'd like, we'll send a replacement tomorrow.", []),
    # the present for a scheduled event, with its time; without one it says how things work
    ("forty dollars goes back on the card within two working days",
     [("within two working days", "forty dollars")]),
    ("The refund goes back to the card you paid with.", []),
    # two promises in one turn, each with its own time
    ("they'll go out within one working day and should reach you in three to five working days",
     [("within one working day", None), ("three to five working days", None)]),
    # how things are now, and a transfer under way, are no promises
    ("You should be all set now then.", []),
    ("they'll go through everything with you i'm transferring you now", []),
])
def test_promises_by_their_grammar(text, promises):
    w = summarize(call((C, "my order has not arrived"), (A, text)), [], default_codes())
    assert [(c["when"], c["amount"]) for c in w.commitments] == promises


@pytest.mark.parametrize("text, found", [
    # what happens once something happens, said in the present: the event is its time
    ("once the courier scans it back in the sixty four dollars goes back on your card",
     [("once the courier scans it back in", "sixty four dollars")]),
    ("As soon as the warehouse confirms, the grey one goes out to you by express.",
     [("As soon as the warehouse confirms", None)]),
    # what would happen if something went wrong; "straight away" after the event it waits on
    ("If the courier has lost it, that's for us to sort out. You'd still get the full $412 back.",
     [(None, "$412")]),
    ("if the line drops my colleague will ring you back straight away", [(None, None)]),
    # someone else's "straight away" is after the call; the agent's own is on it
    ("I've sent it to billing and they'll refund the $14.99 straight away.", [(None, "$14.99")]),
    ("i'll refund the fourteen ninety nine straight away", []),
    # "what I'll do is…" with a time for after the call; "…taken when you paid, so it'll be back…"
    ("What I'll do is ring the depot myself first thing Monday and text you what they say.",
     [("first thing Monday", None)]),
    ("it was taken when you paid so it should be back in your account in three to five working days",
     [("three to five working days", None)]),
    ("It's still due on Saturday.", [("on Saturday", None)]),
    ("how about this i'll call you tomorrow at four before you go to work",
     [("tomorrow at four", None)]),
    # no promise: a wish of the caller's, a choice, what is done on the call, an opinion
    ("Or a refund, whichever you'd rather.", []),
    ("What I'm going to do is open a trace with the courier.", []),
    ("If it keeps happening I would say it's the power supply.", []),
    ("If you order by eight tonight it ships tomorrow.", []),
    ("the refund goes back to the card once it's approved", []),
    ("What you'll do is log in tomorrow and reset it.", []),  # an instruction to the caller
    ("It's coming up on the system as delivered on Monday.", []),  # a status read out
    ("That leaves us with two options for Friday.", []),
    ("If that doesn't work, I'd try a factory reset.", []),  # advice
    ("Let me see if it's in stock. I'm going to refund the delivery charge now.", []),
    ("and will they ship tomorrow", []),  # a question, unpunctuated
    ("on Friday at ten to six we'll call", [("on Friday", None)]),
])
def test_promise_candidates_that_wait_on_an_event_or_come_in_a_roundabout_way(text, found):
    """callfacts.commitments offers these to the scorer (the when and amount as it reads them)."""
    from callassist.assist import callfacts
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call((C, "my order has a problem"), (A, text))]
    assert [(f.when, f.amount) for f in callfacts.commitments(turns, C)] == found


@pytest.mark.parametrize("text", [
    "Let me check that for you.", "I'm just pulling up your account now.",
    "I've had a look and it left the warehouse on Monday.", "we're expecting more next month",
])
def test_looking_things_up_is_no_action(text):
    w = summarize(call((C, "I need to cancel my order please"), (A, text)), [], default_codes())
    assert w.actions == ()


@pytest.mark.parametrize("text", [
    # the state the agent has just put things in, said instead of "I've …"
    "Okay, that's the Beacon Mesh cancelled. You'll get a confirmation e-mail within a few minutes.",
    "okay the return's started and the label's on its way to your email",
    "Okay, your warranty case is open. You'll get a prepaid label by email within 1 working day.",
    "that's gone to them now with both dates and amounts",
    "That's on your account now. It comes off your next order automatically.",
    "Done. It's with the billing team now, and they'll reply to you by e-mail within 2 working days.",
    "done the seven ninety nine and their link are on the order",
    "Sent. It should be there in a minute or two.",
    "Okay, that's gone to you now, have a look in your inbox in a minute.",
    "That's gone to the returns team with your photos attached.",
    "right the check is raised with the warehouse",
    "done it's moved to friday the fourth and the driver will text the evening before",
    "Done, so the texts go to your partner's phone from now on.",
    "okay that's noted on your account",
    "I've written it on the order so the driver sees it at the door.",
    "Right, he's been taken off, he can't change anything on the account any more.",
    "okay that's with them as a priority now they'll ring you",
    "It's on its way to your email now, give it a couple of minutes.",
    "Okay, it's off your account now, and the balance stays on the card.",
    "Right, that's the claim open, you'll have an email about it shortly.",
    "okay that's requested and they usually confirm within a day",
    "Okay, the new charger's on order and it goes out tomorrow.",
    "okay that query's gone to billing marked urgent",
])
def test_what_the_agent_has_just_done_said_as_a_state_is_an_action(text):
    w = summarize(call((C, "I need to cancel my order please"), (A, text)), [], default_codes())
    assert ids(w.actions) == [2]


@pytest.mark.parametrize("text", [
    # a recap, a condition, a status read out, a date that is free: nothing done on this turn
    "So, just to recap: the trace is open, and you'll hear from me the moment the courier replies.",
    "I wish I could, but while the trace is open the system won't let me send a second one.",
    "If you return it, the agreement's cancelled and nothing more is taken.",
    "tuesday the twenty fifth is open on your route yes",
    "that's the one if you open that and look for where it says smart home",
    # said as the agent starts: the turn that says it is done carries the action
    "You're right, you shouldn't have paid that. I'm refunding the delivery charge now.",
    "okay i'm setting up the swap now bear with me",
    "I'm putting you on a short hold while I check with the warehouse.",
    # the done state of a time to come, a wish, a condition, or someone else's doing
    "You'll get a tracking email when it's sent.",
    "Once a refund's been issued, it can only go back to the card that paid.",
    "glad it's sorted enjoy the rest of your day",
    "I can't release it until the warehouse has confirmed it's unlocked.",
    "That delivery charge should have been refunded with the rest, you're right.",
    "customer relations will tell you what's been done about it",
    "would it help if i emailed you a copy of both receipts",
    "I'm sorry, that's gone to the wrong address by the look of it.",
    # a detail typed in to check who is calling
    "Okay, I've typed that in, and a six-digit code has gone to that address. Can you read it to me?",
])
def test_a_state_not_just_put_in_place_or_work_only_started_is_no_action(text):
    w = summarize(call((C, "I need to cancel my order please"), (A, text)), [], default_codes())
    assert w.actions == ()


@pytest.mark.parametrize("text", [
    "I'm putting you through to my team leader now.",
    "thanks for holding i'm transferring you to the returns team now",
])
def test_a_transfer_under_way_is_an_action(text):
    w = summarize(call((C, "I want to speak to a manager"), (A, text)), [], default_codes())
    assert ids(w.actions) == [2]


class ScriptedEngine:
    """A fake recogniser: each block of audio "hears" the next utterance of a script."""
    name, description = "scripted", "scripted"

    def __init__(self, utterances):
        self.script = list(utterances)

    def stream(self, speaker, partials=True):
        from callassist.asr.base import SpeechStream
        engine = self

        class S(SpeechStream):
            def accept_audio(self, samples):
                return [engine.script.pop(0)] if engine.script else []

            def finish(self):
                return []
        return S(speaker, "scripted")


def test_the_pipeline_ends_every_call_with_a_wrap_up_and_catches_up_mid_call():
    import numpy as np

    from callassist.audio.sources import AudioBlock
    from callassist.core.pipeline import Pipeline
    pipe = Pipeline(ScriptedEngine(UNRESOLVED), None, assistant=Assistant(None, None))
    so_far = []

    def on_event(e):  # a senior rep takes the call over after the agent's second reply
        if isinstance(e, Utterance) and e.id == 4:
            so_far.append(pipe.catch_up())
    pipe.subscribe(on_event)
    blocks = [AudioBlock(u.speaker, u.start, np.zeros(160, np.float32)) for u in UNRESOLVED]
    timeline = pipe.run(blocks)
    assert timeline.events[-1].kind == "wrapup" and timeline.events[-1].final
    assert timeline.events[-1].code == "BILLING" and not timeline.events[-1].resolved
    (mid,) = so_far
    assert not mid.final and ids(mid.reason) == [2] and ids(mid.commitments) == [4]
    assert not any(e.kind == "wrapup" and not e.final for e in timeline.events)  # not stored


# ---- the event ---------------------------------------------------------------------------------

def test_the_event_goes_through_json_and_back():
    w = summarize(UNRESOLVED, [], default_codes())
    data = json.loads(json.dumps(w.to_dict()))
    assert data["type"] == "wrapup" and data["commitments"][0]["when"] == "within 48 hours"
    assert event_from_dict(data) == w and WrapUp.from_dict(data) == w
    assert WrapUp.from_dict(data).text == w.text


def test_the_assistant_wraps_up_every_call_at_hang_up():
    assistant = Assistant(None, None)
    for u in WHISPER:
        assistant.on_caller(u, None) if u.speaker == C else assistant.on_agent(u)
    metrics, wrap = assistant.finish(WHISPER, 28.0)
    assert metrics.kind == "metrics" and isinstance(wrap, WrapUp) and wrap.final
    assert wrap.code == "DELIVERY" and ids(wrap.commitments) == [4]
    # the same call gives the same wrap-up: analyze and the live panel store one timeline
    assert Assistant(None, None).finish(WHISPER, 28.0)[1] == wrap
    # an empty call still ends with a wrap-up, and nothing is invented
    (_, empty) = Assistant(None, None).finish([], 0.0)
    assert empty.reason == () and empty.actions == () and empty.code == "ENQUIRY"


def test_personal_data_is_redacted_from_the_wrap_up():
    from callassist.library.redact import redact_event
    utts = call((C, "I was charged twice on my card 4929 1234 5678 9012, I need a refund"),
                (A, "I'll refund it to the card ending 9012 within 24 hours."))
    w = summarize(utts, [], default_codes())
    assert "4929" in w.reason[0]["text"]
    shown = json.dumps(redact_event(w).to_dict())
    assert "4929" not in shown and "9012" not in shown and "within 24 hours" in shown


# ---- the code file -----------------------------------------------------------------------------

def test_the_shipped_codes():
    codes = WrapUpCodes.load()
    assert [c.code for c in codes.codes][:3] == ["DELIVERY", "DAMAGED", "RETURN"]
    assert codes.fallback == "ENQUIRY" and len(codes.codes) == 11
    assert all(c.label and c.description for c in codes.codes)


def test_an_own_code_list_is_used(tmp_path):
    path = tmp_path / "codes.yaml"
    path.write_text("fallback: OTHER\ncodes:\n"
                    "  - code: WARRANTY\n    label: Warranty claim\n"
                    "    description: a fault covered by the warranty\n    keywords: [warranty]\n"
                    "  - code: OTHER\n    label: Other\n    description: anything else\n")
    codes = WrapUpCodes.load(path)
    utts = call((C, "is my broken kettle still under warranty"), (A, "yes it is"))
    assert summarize(utts, [], codes).code == "WARRANTY"
    assert summarize(call((C, "hello there how are you")), [], codes).code == "OTHER"


GOOD_ITEM = "  - code: DELIVERY\n    label: Delivery\n    description: late parcels\n"


@pytest.mark.parametrize("text, line, says", [
    ("codes:\n" + GOOD_ITEM + "  - code: REFUND\n    label: Refund\n", 5, "'description' is missing"),
    ("codes:\n" + GOOD_ITEM + "    colour: red\n", 5, "unknown field 'colour'"),
    ("codes:\n  - code: delivery\n    label: Delivery\n    description: late\n", 2, "upper-case"),
    ("codes:\n" + GOOD_ITEM + "    examples: [yes]\n", 5, "quote it"),
    ("codes:\n" + GOOD_ITEM + "    label: [unclosed\n", 6, "not valid YAML"),
    ("codes:\n" + GOOD_ITEM + GOOD_ITEM, 5, "listed twice"),
    ("fallback: NOPE\ncodes:\n" + GOOD_ITEM, 1, "not one of the codes"),
    ("codes: &a\n" + GOOD_ITEM, 1, "anchors are not allowed"),
    ("codes: none\n", 1, "must be a list"),
    ("code:\n" + GOOD_ITEM, 1, "unknown field"),
    ("- just a list\n", 1, "expected 'codes:'"),
])
def test_a_broken_code_file_is_one_line_naming_file_and_line(tmp_path, text, line, says):
    path = tmp_path / "my codes.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        WrapUpCodes.load(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and f"line {line}:" in msg and says in msg, msg


def test_a_missing_code_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        WrapUpCodes.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="folder"):
        WrapUpCodes.load(tmp_path)


def test_the_tuning_set_is_documented():
    calls = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    assert 10 <= len(calls) <= 15
    assert "tuning set" in (DEV.with_suffix(".md")).read_text().lower()
    for c in calls:  # the benchmark's format
        assert {"id", "code", "resolved", "turns", "reason", "actions", "commitments",
                "followups"} <= set(c)
        assert all(set(t) == {"speaker", "start", "end", "text"} for t in c["turns"])


# ---- the real thing ----------------------------------------------------------------------------

def _dev_calls():
    out = []
    for line in DEV.read_text().splitlines():
        if line.strip():
            c = json.loads(line)
            out.append((c, [Utterance(i + 1, t["speaker"], t["text"], t["start"], t["end"])
                            for i, t in enumerate(c["turns"])]))
    return out


@pytest.mark.slow
def test_the_tuning_set_with_the_real_encoder():
    """The targets on the set the rules were tuned on (the blind set: scripts/bench_wrapup.py)."""
    from callassist.mood.embeddings import shared_embedder
    embedder, codes = shared_embedder(), WrapUpCodes.load()
    codes.prepare(embedder)
    right, hits = 0, {k: [0, 0, 0] for k in ("reason", "actions", "commitments", "followups")}
    for c, utts in _dev_calls():
        w = summarize(utts, [], codes, embedder)
        assert_traceable(w, utts)
        right += w.code == c["code"]
        gold = {"reason": set(c["reason"]), "actions": set(c["actions"]),
                "commitments": {x["turn"] for x in c["commitments"]}, "followups": set(c["followups"])}
        # the set predates the label rules (wrapup_blind.md): it counts looking the order up
        # ("let me check…") as an action, which the wrap-up no longer does
        gold["actions"] = {i for i in gold["actions"] if not re.match(
            r"^(?:\W*\w+\W+){0,5}let me (?:check|look|pull|have a look)\b", c["turns"][i]["text"], re.I)}
        for k, want in gold.items():
            got = {i - 1 for i in ids(getattr(w, k))}
            hits[k][0] += len(got & want)
            hits[k][1] += len(got)
            hits[k][2] += len(want)
    assert right / len(_dev_calls()) >= 0.85
    for k, (tp, n_got, n_want) in hits.items():
        assert tp / n_got >= 0.85 and tp / n_want >= 0.85, (k, tp, n_got, n_want)


@pytest.mark.slow
@pytest.mark.parametrize("said, code", [
    # a delivery mentioned is not a delivery problem: what the caller wants decides
    ("Hi. I bought the Pulse Studios ten days ago and now they're $50 cheaper on your website. "
     "Can I get the difference back?", "REFUND"),
    ("I'm thinking of buying one of your big TVs and I wanted to know how the delivery works.",
     "ENQUIRY"),
    ("i've had a text saying my tv's coming on wednesday and i won't be in that day can i move it",
     "DELIVERY"),
    ("Hi, I had my speaker delivered today and there's no power lead in the box.", "DAMAGED"),
    ("I just wanted to say how kind your two delivery men were on Saturday.", "COMPLIMENT"),
])
def test_the_code_is_what_the_caller_wants_not_the_words_about_a_parcel(said, code):
    from callassist.mood.embeddings import shared_embedder
    embedder, codes = shared_embedder(), WrapUpCodes.load()
    codes.prepare(embedder)
    utts = call((A, "Brightwave, you're speaking with Sam, how can I help?"), (C, said),
                (A, "Okay, let me pull up your account. Can I take your name?"))
    w = summarize(utts, [], codes, embedder)
    assert w.code == code, (w.code, w.code_why)


DEMO_CODES = {"angry_calmed": "DELIVERY",  # a late laptop: the caller's threat to cancel is not it
              "billing_escalation": "ESCALATED",  # a double charge, but transferred to a supervisor
              "confused_caller": "TECH_SUPPORT",  # setting up a router, step by step
              "satisfied_caller": "RETURN"}  # exchanging headphones for another colour


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DEMO_CODES))
def test_each_demo_call_ends_with_its_wrap_up(demo_analyses, name):
    tl = demo_analyses[name]
    (data,) = [e for e in tl["events"] if e["type"] == "wrapup"]  # stored in the timeline's JSON
    assert tl["events"][-1]["type"] == "wrapup"  # the last thing a call says
    w = WrapUp.from_dict(data)
    utts = {e["id"]: e for e in tl["events"] if e["type"] == "utterance"}
    assert w.final and w.code == DEMO_CODES[name], (w.code, w.code_why)
    assert w.reason and all(utts[i]["speaker"] == "customer" for i in ids(w.reason))
    assert all(utts[i]["speaker"] == "agent" for i in ids(w.actions) + ids(w.commitments))
    assert_traceable(w, [Utterance(u["id"], u["speaker"], u["text"], u["start"], u["end"])
                         for u in utts.values()])
    assert [m["at"] for m in w.mood] == ["start", "end"]  # from the real mood model
    assert "Wrap-up:" in tl["stdout"] and "Reason:" in tl["stdout"]  # printed for the agent


@pytest.mark.slow
def test_the_demo_calls_facts(demo_analyses):
    def wrap(name):
        (d,) = [e for e in demo_analyses[name]["events"] if e["type"] == "wrapup"]
        return WrapUp.from_dict(d)
    angry = wrap("angry_calmed")
    assert angry.resolved and angry.mood[0]["label"] != angry.mood[-1]["label"]
    assert any(c["when"] == "tomorrow before noon" for c in angry.commitments), angry.commitments
    assert any("address" in a["text"] for a in angry.actions)
    billing = wrap("billing_escalation")
    assert not billing.resolved and "charged twice" in billing.reason[0]["text"]
    assert any(f["kind"] == "open_issue" for f in billing.followups)
    assert wrap("confused_caller").resolved and "router" in wrap("confused_caller").reason[0]["text"]
    satisfied = wrap("satisfied_caller")
    assert satisfied.resolved and any(c["when"] == "today" for c in satisfied.commitments)


@contextlib.contextmanager
def counted_encoder(models, batches: list):
    """The real encoder, each batch it embeds appended to `batches`; the code list's prepared
    vectors (the same ones) are taken as made with it."""
    embedder = models.knowledge.embedder

    class Counting:
        def encode(self, texts):
            batches.append(list(texts))
            return embedder.encode(texts)
    prepared = models.wrapup._prepared
    counting = Counting()
    models.wrapup._prepared = (counting, *prepared[1:])
    try:
        yield counting
    finally:
        models.wrapup._prepared = prepared


@pytest.mark.slow
def test_the_codes_are_embedded_at_load_so_a_hang_up_embeds_only_what_was_said(models):
    """The hang-up's cost is a few small encoder batches of the call's own words, each text once
    (the codes' descriptions and examples were embedded at load; its time:
    scripts/bench_wrapup.py)."""
    assert models.wrapup is not None and models.wrapup._prepared is not None
    batches = []
    with counted_encoder(models, batches) as counting:
        w = summarize(WHISPER, [], models.wrapup, counting)
    texts = [t for b in batches for t in b]
    assert batches and all(len(b) <= 4 for b in batches) and len(texts) == len(set(texts))
    said = " ".join(u.text for u in WHISPER)
    assert all(t in said or all(w in said for w in t.split()) for t in texts)
    assert not {c.description for c in models.wrapup.codes} & set(texts)
    assert w.code == "DELIVERY" and "meaning" in w.code_why


def test_a_caller_who_sets_the_scene_first_gives_the_reason_after_the_agent_invites_it():
    """Callers often say what the call is about before the problem ("I bought the speaker on
    Saturday…"); when the agent only acknowledges or invites more, the problem said next is the
    reason, and the code follows it. A question back ("when did it arrive?") or a request for
    details keeps the first turn, which said the problem already."""
    scene = call((A, "brightwave tech support this is jonas"),
                 (C, "oh hi yes so the thing i bought on saturday the speaker the round one"),
                 (A, "okay what's happened"),
                 (C, "it was fine all weekend and now it just sits there with a blinking light "
                     "and won't answer me"),
                 (A, "let's try a reset then"))
    wrap = summarize(scene, [], default_codes())
    assert ids(wrap.reason) == [4] and wrap.code == "TECH_SUPPORT"
    stated = call((A, "Brightwave Electronics, you're speaking to Leon."),
                  (C, "Hi Leon. So I bought an Aurora 13 and it came with a dent in the lid."),
                  (A, "I'm sorry to hear that. When did it arrive?"),
                  (C, "Nine days ago, I've been away and I only opened it last night."))
    assert ids(summarize(stated, [], default_codes()).reason) == [2]
    details = call((A, "Brightwave, this is Ana."),
                   (C, "Hi, I ordered the Halo speaker last week."),
                   (A, "Can I take the order number?"),
                   (C, "It's 4 4 1 9 0 2, and I still haven't had it."))
    assert ids(summarize(details, [], default_codes()).reason) == [2]


# ---- the learned scorers (assist.wrapup_model) ----------------------------------------------------

def test_the_shipped_weights_name_every_feature_and_were_trained_on_spent_sets_only():
    from callassist.assist import wrapup_model as wm
    data = json.loads(wm.WEIGHTS.read_text())
    assert set(data["reason"]) == set(wm.REASON_FEATURES) and set(data["code"]) == set(wm.CODE_FEATURES)
    assert set(data["promise"]) == set(wm.PROMISE_FEATURES)
    assert set(data["followup"]) == set(wm.FOLLOWUP_FEATURES)
    spent = ("wrapup_dev", "wrapup_blind", "wrapup_blind2", "wrapup_blind3", "wrapup_blind4",
             "wrapup_blind5a", "wrapup_blind5b", "wrapup_blind6a", "wrapup_blind6b", "wrapup_blind7a",
             "wrapup_blind7b", "wrapup_blind8a", "wrapup_blind8b", "wrapup_blind9a", "wrapup_blind9b",
             "wrapup_blind10a", "wrapup_blind10b", "wrapup_blind11a", "wrapup_blind11b",
             "wrapup_blind12a", "wrapup_blind12b", "wrapup_blind13a", "wrapup_blind13b",
             "wrapup_blind14a", "wrapup_blind14b", "wrapup_blind15a", "wrapup_blind15b",
             "wrapup_blind16a", "wrapup_blind16b", "wrapup_blind17a", "wrapup_blind17b",
             "wrapup_blind18a", "wrapup_blind18b")
    assert all(s in spent for s in data["trained_on"])  # a blind set is measured once, never trained on
    w = wm.Weights.load()
    assert w.reason.shape == (len(wm.REASON_FEATURES),) and 0 < w.also < 1 and 0 < w.keep < 1
    assert w.followup.shape == (len(wm.FOLLOWUP_FEATURES),) and 0 < w.raise_at < 1
    assert set(data["resolved"]) == set(wm.RESOLVED_FEATURES)
    assert w.resolved.shape == (len(wm.RESOLVED_FEATURES),) and w.settled_direction.shape == (384,)
    # what the labelled calls taught about each code the caller's words can give
    codes = WrapUpCodes.load()
    assert set(w.taught) == {c.code for c, m in zip(codes.codes, wm.caller_only(codes)) if m}
    assert all(v.ndim == 2 and v.shape[1] == 384 and len(v) >= 10 for v in w.taught.values())


def test_weights_written_before_the_follow_up_scorer_still_load(tmp_path):
    """A centre's own weights file from before: its follow-ups are found by the rules."""
    from callassist.assist import wrapup_model as wm
    data = json.loads(wm.WEIGHTS.read_text())
    del data["followup"], data["raise_at"]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data))
    w = wm.Weights.load(path)
    assert w.followup is None and w.promise.shape == (len(wm.PROMISE_FEATURES),)


def test_a_broken_weights_file_names_what_is_missing(tmp_path):
    from callassist.assist import wrapup_model as wm
    path = tmp_path / "weights.json"
    data = json.loads(wm.WEIGHTS.read_text())
    del data["code"]["mood_fit"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="weights.json: no usable weight 'mood_fit'.*train_wrapup"):
        wm.Weights.load(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="cannot read the wrap-up weights"):
        wm.Weights.load(path)
    data = json.loads(wm.WEIGHTS.read_text())
    data["taught"]["float16"]["DELIVERY"] = data["taught"]["float16"]["DELIVERY"][:-8]  # cut short
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="weights.json: no usable weight .*train_wrapup"):
        wm.Weights.load(path)


def test_without_its_weights_the_wrap_up_is_written_by_the_rules(monkeypatch, tmp_path, caplog):
    from callassist.assist import wrapup_model as wm
    monkeypatch.setattr(wm, "WEIGHTS", tmp_path / "missing.json")
    wm.default_weights.cache_clear()
    try:
        w = summarize(WHISPER, [], default_codes())
        assert w.reason and w.commitments and w.code == "DELIVERY"
        assert "cannot read the wrap-up weights" in caplog.text
    finally:
        wm.default_weights.cache_clear()


def test_a_long_turn_is_read_in_parts():
    from callassist.assist.callfacts import Turn
    from callassist.assist.wrapup_model import chunks
    long = " ".join(f"word{i}" for i in range(40))
    parts = chunks(Turn.of(Utterance(1, C, long, 0, 9)))
    assert len(parts) > 2 and parts[0].split()[0] == "word0" and "word39" in parts[-1]
    assert chunks(Turn.of(Utterance(1, C, "It came. The box was smashed.", 0, 2))) == \
        ["The box was smashed"]  # two words are no part of their own


@pytest.mark.slow
def test_a_preamble_is_not_the_reason_the_problem_after_it_is(models):
    """What the rules missed on calls written apart from them: the caller's first turn is about
    the line or themselves, the agent says "go ahead", and the problem comes next."""
    embedder = models.knowledge.embedder
    for opening, invite in (
            ("hi sorry i'm driving you're on the speaker can you hear me all right", "yes i can hear you go ahead"),
            ("Hello, good morning. My English is not so good, sorry.", "No problem at all, take your time."),
            ("Hi Dev, I'll try to keep calm, none of this is your fault.", "I appreciate that. What's going on?")):
        utts = call((A, "Brightwave, you're speaking to Dev."), (C, opening), (A, invite),
                    (C, "i ordered a kettle two weeks ago and it still hasn't come the tracking hasn't "
                        "moved since last tuesday"),
                    (A, "I'm sorry about that. Can I take the order number?"),
                    (C, "it's four four one two nine"))
        w = summarize(utts, [], models.wrapup, embedder)
        assert ids(w.reason) == [4], (opening, w.reason)
        assert w.code == "DELIVERY"


@pytest.mark.slow
def test_a_compliment_about_a_delivery_is_a_compliment(models):
    """Its words are about a delivery; it is paid in a good mood (the code file's `mood:`)."""
    from callassist.mood.sentiment import SentimentModel
    from callassist.core.pipeline import Pipeline
    utts = call((A, "Good afternoon, Brightwave, Nina speaking."),
                (C, "Hi Nina, nothing's wrong for once! The two lads who delivered our fridge freezer "
                    "this morning were absolutely lovely, they even took the old one away. Please tell "
                    "their manager."),
                (A, "Oh, that's so kind of you, I'll pass that on to the delivery team today."))
    events = []
    pipe = Pipeline(None, SentimentModel.load())
    pipe.subscribe(events.append)
    for u in utts:
        pipe._handle([u])
    w = summarize(utts, events, models.wrapup, models.knowledge.embedder)
    assert ids(w.reason) == [2] and w.code == "COMPLIMENT", w.code_why


def prepared_codes(models, tmp_path, text):
    """A code file of a centre's own, loaded and embedded with the shared encoder."""
    path = tmp_path / "codes.yaml"
    path.write_text(text)
    codes = WrapUpCodes.load(path)
    codes.prepare(models.knowledge.embedder)
    return codes, models.knowledge.embedder


@pytest.mark.slow
def test_a_centres_own_code_list_works_with_the_learned_scorer(models, tmp_path):
    """The scorer's weights are per feature, not per code: a list it never saw works."""
    codes, embedder = prepared_codes(
        models, tmp_path, "fallback: OTHER\ncodes:\n"
        "  - code: WARRANTY\n    label: Warranty claim\n"
        "    description: a product broke and the caller asks if the warranty covers it\n"
        "    keywords: [warranty, guarantee]\n"
        "  - code: BOOKING\n    label: Engineer visit\n"
        "    description: book, move or cancel an engineer's visit to the home\n"
        "    examples: [can the engineer come on thursday instead]\n"
        "  - code: OTHER\n    label: Other\n    description: anything else\n")
    broke = call((A, "Hello, how can I help?"),
                 (C, "my kettle stopped heating after eight months is that still covered"),
                 (A, "Yes, it's within the two-year guarantee, I'll send a replacement."))
    visit = call((A, "Hello, how can I help?"),
                 (C, "the man who's meant to fit the washing machine on monday, could he come "
                     "tuesday afternoon instead"),
                 (A, "I've moved it to Tuesday between one and five."))
    assert summarize(broke, [], codes, embedder).code == "WARRANTY"
    assert summarize(visit, [], codes, embedder).code == "BOOKING"


@pytest.mark.parametrize("field, bad, good", [("mood", "happy", "positive"), ("item", "old", "new")])
def test_a_codes_mood_and_item_take_only_their_words(tmp_path, field, bad, good):
    path = tmp_path / "codes.yaml"
    path.write_text("codes:\n  - code: PRAISE\n    label: Praise\n    description: thanks\n"
                    f"    {field}: {bad}\n")
    with pytest.raises(ConfigError, match=rf"line 5: wrap-up code PRAISE: .*{field}"):
        WrapUpCodes.load(path)
    path.write_text(path.read_text().replace(bad, good))
    assert getattr(WrapUpCodes.load(path).codes[0], field) == good


@pytest.mark.parametrize("said, state", [
    ("the coffee machine turned up this morning and water pours out the bottom", 1),
    ("i unpacked the speaker and the grille is pushed in on one side", 1),
    ("We got the washer on Friday and it has never once filled with water.", 1),
    ("Hi, I just had the soundbar delivered and the remote's not in there.", 1),
    ("my printer was fine until last week now it jams on every page", -1),
    ("The fitness watch has stopped counting my steps.", -1),
    ("since the update my laptop won't find the wifi", -1),
    ("we've had it for about two years and the door seal is going", -1),
    ("my order number is 4471 and i'd like to know when the fridge is coming", 0),
    ("I'd like to change the email on my account.", 0),
])
def test_the_state_of_the_callers_item_is_read_from_their_words(said, state):
    from callassist.assist.callfacts import item_state
    assert item_state(said) == state


@pytest.mark.slow
def test_a_fault_on_a_new_item_is_damaged_on_one_that_worked_a_technical_fault(models):
    """The code list's `item: new` on DAMAGED: the same fault is a damaged item when the caller's
    words say it is new, a technical fault when they say it worked before."""
    from callassist.assist import wrapup_model as wm
    new = call((A, "Brightwave, Priya speaking."),
               (C, "hi, the tablet i got yesterday won't switch on at all, it's never come on once"),
               (A, "I'm sorry, let me take a look."))
    used = call((A, "Brightwave, Priya speaking."),
                (C, "hi, my tablet won't switch on at all, it was working fine until last night"),
                (A, "I'm sorry, let me take a look."))
    embedder = models.knowledge.embedder
    models.wrapup.prepare(embedder)
    got = {}
    for name, utts in (("new", new), ("used", used)):
        from callassist.assist.callfacts import Turn
        from callassist.assist.wrapup import Embed
        rows = wm.code_features(models.wrapup, [Turn.of(u) for u in utts], C, [2], Embed(embedder))
        got[name] = rows[:, wm.CODE_FEATURES.index("item_fit")]
    damaged = [c.code for c in models.wrapup.codes].index("DAMAGED")
    assert got["new"][damaged] == 1.0 and got["used"][damaged] == -1.0
    assert sum(map(abs, got["new"])) == 1.0  # no other code in the list says what its item is
    assert summarize(new, [], models.wrapup, embedder).code == "DAMAGED"
    assert summarize(used, [], models.wrapup, embedder).code == "TECH_SUPPORT"


def test_weights_written_before_the_codes_were_taught_by_labelled_calls_still_load(tmp_path):
    """Then the code is chosen from the codes' own words alone: the taught features weigh nothing."""
    from callassist.assist import wrapup_model as wm
    data = json.loads(wm.WEIGHTS.read_text())
    del data["taught"], data["code"]["similarity_calls"], data["code"]["untaught"]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data))
    w = wm.Weights.load(path)
    assert w.taught is None
    assert w.code[wm.CODE_FEATURES.index("similarity_calls")] == w.code[wm.CODE_FEATURES.index("untaught")] == 0


@pytest.mark.slow
def test_a_centres_own_code_no_labelled_call_was_given_is_chosen_by_its_own_words(models, tmp_path):
    """A code added to the list has no labelled calls behind it: its description and examples
    stand in for them, and a call about it still gets it."""
    from callassist.assist import wrapup_model as wm
    from callassist.assist.callfacts import Turn
    from callassist.assist.wrapup import Embed
    codes, embedder = prepared_codes(
        models, tmp_path, default_codes().path.read_text(encoding="utf-8") +
        "  - code: PRICE_MATCH\n    label: Price match\n"
        "    description: the caller has seen the item cheaper in another shop and asks us to"
        " match the lower price\n"
        "    examples: [\"can you match the price i saw somewhere else\","
        " \"it's forty dollars less at another store\"]\n")
    weights = wm.default_weights()
    price = call((A, "Brightwave, this is Omar."),
                 (C, "Hello, Currys has the same headphones for $40 cheaper. Will you price match them?"),
                 (A, "Let me see what I can do."))
    said = call((A, "brightwave this is omar"),
                (C, "hi i saw the aurora laptop for a hundred dollars less at another shop can you "
                    "match that price"),
                (A, "let me see what i can do"))
    late = call((A, "Brightwave, this is Omar."),
                (C, "hi, my soundbar was meant to come on tuesday and there's still no sign of it"),
                (A, "I'm sorry, let me look."))
    rows = wm.code_features(codes, [Turn.of(u) for u in price], C, [2], Embed(embedder),
                            taught=weights.taught)
    untaught = rows[:, wm.CODE_FEATURES.index("untaught")]
    agent_only = {c.code for c, m in zip(codes.codes, wm.caller_only(codes)) if not m}
    assert {c.code for c, u in zip(codes.codes, untaught) if u} == {"PRICE_MATCH"} | agent_only
    assert summarize(price, [], codes, embedder).code == "PRICE_MATCH"
    assert summarize(said, [], codes, embedder).code == "PRICE_MATCH"
    assert summarize(late, [], codes, embedder).code == "DELIVERY"


def test_what_happens_next_on_the_call_or_a_recap_is_not_a_promise_for_after_it():
    """The rules find every future-tense clause; the scorer keeps the promises for after the call."""
    utts = call((C, "my parcel never came and the tracking hasn't moved since monday"),
                (A, "I'm sorry. Bear with me, I'll just be a moment while I check."),
                (A, "Right, I've opened a trace with the courier and you'll hear from us by Thursday."),
                (C, "okay thank you"),
                (A, "So just to recap, the trace is open and you'll hear from us by Thursday."))
    w = summarize(utts, [], default_codes())
    kept = [c["utterances"] for c in w.commitments]
    assert [3] in kept and [2] not in kept  # "I'll just be a moment": on the call, not after it
    assert w.commitments[0]["when"] == "by Thursday"
    # the recap is less likely a promise of its own than the promise it repeats
    found, _, probs = promise_scores(utts)
    p = dict(zip([f.utterances[0] for f in found], probs))
    assert p[5] < p[3] - 0.2 and p[2] < 0.2


def promise_scores(utts):
    """Every clause callfacts.commitments finds in a call, its row of promise features and the
    shipped scorer's probability."""
    from callassist.assist import callfacts, wrapup_model as wm
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in utts]
    found = callfacts.commitments(turns, C)
    rows = wm.promise_features(turns, C, found, callfacts.actions(turns, C))
    return found, rows, wm.sigmoid(rows @ wm.default_weights().promise)


def live_call(models, utts, end: float):
    """A call through the assistant as the pipeline feeds it: (texts embedded during the call,
    texts embedded at hang-up, the wrap-up, the assistant)."""
    texts = []
    with counted_encoder(models, texts) as counting:
        assistant = Assistant(None, None, embedder=counting, codes=models.wrapup)
        for u in utts:
            (assistant.on_caller(u, None) if u.speaker == C else assistant.on_agent(u))
        during = [t for b in texts for t in b]
        texts.clear()
        wrap = next(e for e in assistant.finish(utts, end) if isinstance(e, WrapUp))
    return during, [t for b in texts for t in b], wrap, assistant


@pytest.mark.slow
def test_the_callers_first_turns_are_embedded_during_the_call_not_at_hang_up(models):
    during, at_hang_up, wrap, assistant = live_call(models, WHISPER, 28.0)
    caller = [u.text for u in WHISPER if u.speaker == C]
    assert caller[0] in during and not set(caller) & set(at_hang_up)
    assert wrap == summarize(WHISPER, assistant._seen, models.wrapup, models.knowledge.embedder)  # the same summary


@pytest.mark.slow
def test_what_the_caller_asks_and_the_replies_are_embedded_during_the_call(models):
    """The follow-up scorer reads an ask and the agent's first two replies by meaning: embedded
    as they are said, so the hang-up waits for none of them."""
    utts = call((A, "brightwave this is sam how can i help"),
                (C, "my parcel was lost and i've been refunded for the headphones but not the delivery"),
                (A, "i'm sorry about that i can see the refund for the headphones went out yesterday"),
                (C, "okay"), (C, "right"), (C, "yes"), (C, "fine"), (C, "sure"), (C, "okay"),
                (C, "and i paid extra for it to come quick twelve dollars ninety nine is that money gone too"),
                (A, "let me just read the investigation number out so you've got it it's i n v four four zero"),
                (A, "that's it is there anything else i can help with"),
                (A, "thanks for calling"),
                (C, "no that's all bye"))
    during, at_hang_up, wrap, _ = live_call(models, utts, 60.0)
    at_hang_up = set(at_hang_up)
    ask = next(f for f in wrap.followups if f["kind"] == "unanswered")
    assert ask["utterances"] == [10] and ask["text"] in during
    replies = [u.text for u in utts[10:12]]
    assert all(r in during for r in replies) and not (set(replies) | {ask["text"]}) & at_hang_up
    assert utts[12].text not in during  # a third reply is not read


@pytest.mark.slow
def test_without_its_weights_the_rules_code_still_reads_meaning(models, monkeypatch, tmp_path):
    from callassist.assist import wrapup_model as wm
    monkeypatch.setattr(wm, "WEIGHTS", tmp_path / "missing.json")
    wm.default_weights.cache_clear()
    try:
        w = summarize(WHISPER, [], models.wrapup, models.knowledge.embedder)
        assert w.code == "DELIVERY" and "meaning" in w.code_why and w.reason
    finally:
        wm.default_weights.cache_clear()


@pytest.mark.slow
def test_the_follow_up_scorer_reads_how_the_call_went_on(models):
    """What the rules missed on calls written apart from them: a question the agent met with a
    check of some detail (and never came back to) is open; one the agent answered in other words
    is not."""
    embedder = models.knowledge.embedder
    opening = ((A, "brightwave this is sam how can i help"),
               (C, "my parcel was lost and i've been refunded for the headphones but not the delivery"),
               (A, "i'm sorry about that i can see the refund for the headphones went out yesterday"))
    ignored = call(*opening,
                   (C, "and i paid extra for it to come quick twelve dollars ninety nine is that money gone too"),
                   (A, "let me just read the investigation number out so you've got it it's i n v four four zero"),
                   (C, "hold on let me get a pen i n v four four zero"),
                   (A, "that's it is there anything else i can help with"),
                   (C, "no that's all bye"))
    w = summarize(ignored, [], models.wrapup, embedder)
    assert _unanswered(w) == [4], w.followups
    answered = call(*opening,
                    (C, "and i paid extra for it to come quick twelve dollars ninety nine is that money gone too"),
                    (A, "no the express charge comes back as well i've added the twelve ninety nine to the "
                        "refund so you'll see both"),
                    (C, "oh great thank you"),
                    (A, "you're welcome is there anything else i can help with"),
                    (C, "no that's all bye"))
    assert _unanswered(summarize(answered, [], models.wrapup, embedder)) == []


def test_a_promise_is_read_in_its_own_sentence():
    """The promise scorer's sentence features (a recap, a question, "usually") read the sentence
    the promise is in, however callfacts capitalised the clause."""
    from callassist.assist import wrapup_model as wm
    utts = call((C, "the engineer never came and nobody rang me"),
                (A, "I'm so sorry. I've rebooked the engineer for Monday morning. "
                    "So just to recap, you'll hear from us by Thursday."))
    found, rows, _ = promise_scores(utts)
    k = next(i for i, f in enumerate(found) if "hear from us" in f.text.lower())
    assert not found[k].text.startswith("you'll")  # the clause as callfacts gives it: capitalised
    assert rows[k][wm.PROMISE_FEATURES.index("recap")] == 1.0


def test_what_the_agent_does_before_hanging_up_or_how_someone_will_feel_scores_below_a_promise():
    """"I'll give you the reference" happens on the call and "she'll love it" is a wish: both
    score below the promise of the new jug by Friday, the wish below `keep`."""
    from callassist.assist import wrapup_model as wm
    utts = call((C, "the blender i bought my mum as a present arrived with a cracked jug"),
                (A, "I'm sorry about that. I've ordered a new jug and it will be with you by Friday. "
                    "I'll give you the reference number, it's 4 4 1 9."),
                (C, "oh good she'll be pleased"),
                (A, "Oh, she'll love it, it's a lovely blender."))
    w = summarize(utts, [], default_codes())
    assert [c["when"] for c in w.commitments if c["when"]] == ["by Friday"]
    assert not any("love" in c["text"].lower() for c in w.commitments)
    found, rows, p = promise_scores(utts)
    texts = [f.text.lower() for f in found]
    now = next(i for i, t in enumerate(texts) if "reference" in t)
    love = next(i for i, t in enumerate(texts) if "love" in t)
    jug = next(i for i, t in enumerate(texts) if "friday" in t)
    assert rows[now][wm.PROMISE_FEATURES.index("on_the_call")] == 1.0
    assert rows[love][wm.PROMISE_FEATURES.index("feeling")] == 1.0
    assert p[now] < p[jug] - 0.3 and p[love] < 0.1


def test_an_answer_still_to_come_leaves_a_politely_ended_call_open():
    """The agent will find out and email the answer: the caller's "great, thanks" ends the call,
    not the matter."""
    utts = call((C, "hi, quick one, does the aurora 14 laptop drive two 4k monitors at the same time"),
                (A, "Good question. I don't want to guess, so I'll ask our product team and "
                    "email you the answer by tomorrow afternoon."),
                (C, "okay great, thanks"),
                (A, "You're welcome, have a lovely day."))
    w = summarize(utts, [], default_codes())
    assert not w.resolved and "still to do" in w.resolved_why and 2 in w.resolved_utterances
    assert any(f["kind"] == "open_issue" for f in w.followups)  # the reason stays open


def test_someone_elses_remedy_is_read_as_a_promise():
    """"The courier will collect the damaged one on Friday" is a promise made for the centre,
    however it is worded; "so the team will see it" is no remedy (whether it is a promise is
    left to the other features)."""
    from callassist.assist import wrapup_model as wm
    utts = call((C, "the tv arrived with a cracked screen"),
                (A, "I'm so sorry. I've ordered a replacement for you."),
                (C, "okay and what happens to this one"),
                (A, "The courier will collect the damaged one and bring the new one on Friday."),
                (C, "thank you"),
                (A, "I've put a note on the order so the team will see it."))
    found, rows, p = promise_scores(utts)
    texts = [f.text.lower() for f in found]
    courier = next(i for i, t in enumerate(texts) if "collect" in t)
    note = next(i for i, t in enumerate(texts) if "see it" in t)
    they = wm.PROMISE_FEATURES.index("they_remedy")
    assert rows[courier][they] == 1.0 and rows[note][they] == 0.0
    assert p[courier] >= wm.default_weights().keep


@pytest.mark.parametrize("text, clause", [
    # a promise is said from its subject: a whole amount, a name, "what I'll do is…"
    ("your refund of two hundred and fifty pounds goes back on your card by Friday",
     "Two hundred and fifty pounds goes back on your card by Friday"),
    ("the twenty five ninety nine goes back on your card by Friday",
     "The twenty five ninety nine goes back on your card by Friday"),
    ("If we get cut off, Dana will ring you straight back.", "Dana will ring you straight back"),
    ("The Wi-Fi will drop for a few seconds while it moves.", "The Wi-Fi will drop for a few seconds while it moves"),
    ("What I'll do is ring the depot myself first thing Monday.",
     "What I'll do is ring the depot myself first thing Monday"),
    ("The refund goes out within two working days of it reaching our warehouse.",
     "The refund goes out within two working days of it reaching our warehouse"),
])
def test_a_promise_clause_starts_at_its_subject(text, clause):
    from callassist.assist import callfacts
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call((C, "my order has a problem"), (A, text))]
    assert [f.text for f in callfacts.commitments(turns, C)] == [clause]


def test_a_promise_said_in_the_present_is_kept():
    """The scorer keeps a refund's schedule said in the present to the caller; a one-line
    "the refund goes out within…" on its own sits at the threshold (a policy read out, to the
    labels, as often as a promise) and is not asserted."""
    utts = call((C, "hi i sent the headphones back last week"),
                (A, "Thanks, I can see them. They reached our warehouse this morning."),
                (C, "great so when do i get my money"),
                (A, "Your refund of $149 goes back on your card within two working days."),
                (C, "perfect thank you"))
    w = summarize(utts, [], default_codes())
    assert [(c["when"], c["amount"]) for c in w.commitments] == [("within two working days", "$149")]


def fake_resolved_weights(**weights):
    """The shipped weights with the resolved scorer's replaced: these features' weights, 0 for
    the rest, and no meaning direction."""
    import dataclasses

    import numpy as np

    from callassist.assist import wrapup_model as wm
    return dataclasses.replace(wm.default_weights(),
                               resolved=np.array([weights.get(n, 0.0) for n in wm.RESOLVED_FEATURES]),
                               settled_direction=np.zeros(384, dtype=np.float32))


def test_the_resolved_scorer_says_the_signals_that_weighed_most_with_their_utterances():
    """Small fake weights over the real signals: work still to do outweighs a kind goodbye, and
    the why names both with the utterances that said them (strongest first)."""
    import numpy as np

    from callassist.assist import callfacts
    from callassist.assist import wrapup_model as wm
    from callassist.assist.callfacts import Turn
    utts = call((C, "my washing machine shows error e twenty one"),
                (A, "i've asked an engineer to look into it and they'll ring you back tomorrow"),
                (C, "okay lovely thanks"))
    turns = [Turn.of(u) for u in utts]
    said = callfacts.signals(turns, C)
    assert said.open_work[0].id == 2 and said.open_work_late and said.closing[-1][1:] == (2, 0)
    fake = fake_resolved_weights(open_work=-3.0, last_content=1.0)
    promised, done = callfacts.commitments(turns, C), callfacts.actions(turns, C)
    got = wm.resolved(said, [], None, promised, done, np.ones(384, dtype=np.float32) / 20, fake, 3)
    assert not got.resolved and got.why.startswith("still to do: “look into it”") and got.utterances == (2,)
    # the other way round: the goodbye weighs more, and it is what the why says
    fake = fake_resolved_weights(open_work=-0.5, last_content=2.0)
    got = wm.resolved(said, [], None, promised, done, None, fake, 3)
    assert got.resolved and got.why == "the caller ended content: “okay lovely thanks”" and got.utterances == (3,)


@pytest.mark.parametrize("said, pending", [
    ("i've opened a trace with the courier and they've got three working days to come back to us", True),
    ("I'll ask our product team and email you the answer by tomorrow.", True),
    ("I've raised it with the warehouse and I'll text you the moment they reply.", True),
    ("they'll investigate and get back to you within five working days", True),
    # a question sent on for someone else to answer
    ("okay i've sent them your question about the wall bracket and i'll email you on thursday", True),
    ("Right, I've passed the question to the stock team. They'll get back to me, and I'll ring you.", True),
    # someone named coming back with it, with or without the apostrophe
    ("I've asked the depot about the missing leg. They'll come back to us by Friday.", True),
    ("ive asked the depot about it and theyll get back to us on thursday", True),
    # said to the caller, or already done: nothing is still to come
    ("if it happens again just come back to us and we'll swap it", False),
    ("I investigated it with the courier and it was left with your neighbour at number 12.", False),
    ("i've refunded the twelve pounds and you'll see it in three to five days", False),
    ("Let me find out and get back to you in a moment, bear with me.", False),
    ("if anything else comes up you can get back to me on this number", False),
    ("and if the lid cracks again just get back to us and we'll send another", False),
    ("Refused parcels take 2 to 3 working days to get back to us, then it goes straight out again.", False),
    # a notice of where a parcel or a repair is, not an answer
    ("I've booked it for tomorrow and the driver will text you when they're about an hour away.", False),
    ("it's booked in and we'll ring you as soon as it's on its way back from the repair centre", False),
    ("I've chased it, and I'll email you the moment the courier comes back to us.", True),
    ("I've sent them a copy of the receipt, it's in your inbox now.", False),
])
def test_an_answer_still_to_come_is_read_apart_from_other_work(said, pending):
    from callassist.assist import callfacts
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call((C, "my parcel says delivered but it isn't here"), (A, said),
                                      (C, "okay thanks"))]
    assert (callfacts.signals(turns, C).pending is not None) == pending


def test_an_answer_still_to_come_leaves_the_call_open_whatever_the_score():
    from callassist.assist import callfacts
    from callassist.assist import wrapup_model as wm
    from callassist.assist.callfacts import Turn
    turns = [Turn.of(u) for u in call(
        (C, "is the aurora 14 any good for photo editing"),
        (A, "Good question, I'll check with the product team and get back to you with an answer."),
        (C, "lovely, thank you so much"))]
    said = callfacts.signals(turns, C)
    got = wm.resolved(said, [], None, [], [], None, fake_resolved_weights(bias=5.0, last_content=1.0), 3)
    assert not got.resolved and got.why == "an answer still to come: “get back to you”"
    assert got.utterances == (2,)


@pytest.mark.slow
def test_weights_without_the_resolved_scorer_leave_it_to_the_rules(models, monkeypatch, tmp_path):
    """A weights file written before the resolved scorer still loads; the rules decide, with the
    encoder there for everything else."""
    from callassist.assist import wrapup_model as wm
    data = json.loads(wm.WEIGHTS.read_text())
    for key in ("resolved", "settled_direction"):
        data.pop(key)
    (tmp_path / "w.json").write_text(json.dumps(data))
    w = wm.Weights.load(tmp_path / "w.json")
    assert w.resolved is None and w.settled_direction is None and w.promise is not None
    monkeypatch.setattr(wm, "WEIGHTS", tmp_path / "w.json")
    wm.default_weights.cache_clear()
    try:
        got = summarize(UNRESOLVED, [], models.wrapup, models.knowledge.embedder)
        rules = summarize(UNRESOLVED, [], models.wrapup)
        assert (got.resolved, got.resolved_why) == (rules.resolved, rules.resolved_why) and got.reason
        assert got.resolved_why.startswith("the caller left it open: “wait for the call”")  # the rules' words
    finally:
        wm.default_weights.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize("turns, settled", [
    # a polite goodbye on a matter the caller still has to chase themselves: open
    (((C, "the fridge freezer i got last week is making a loud buzzing noise all night"),
      (A, "oh dear, i'm sorry, i can't book an engineer without the serial number, it's on a "
          "sticker inside the door, so if you find it and ring us back we'll sort it from there"),
      (C, "right okay i'll have to empty it to see that, i'll call back at the weekend cheers"),
      (A, "no problem, bye now")), False),
    # what the label rules settle, and a learned "resolved" tried before got wrong (p 0.58, 0.66):
    # an answer still to come from the courier or the product team, however kind the goodbye
    (((C, "my headphones have not arrived"),
      (A, "I've opened a trace with the courier. They've got up to three working days to come back to us."),
      (C, "Okay. No, that's it. Thanks, Leon.")), False),
    (((C, "hi, quick one, does the aurora 14 laptop drive two 4k monitors at the same time"),
      (A, "Good question. I don't want to guess, so I'll ask our product team and email you the "
          "answer by tomorrow afternoon."),
      (C, "okay great, thanks"), (A, "You're welcome, have a lovely day.")), False),
    (((C, "my laptop fan is grinding"),
      (A, "I've opened a case for a warranty repair, and you'll get a prepaid box within 1 working day."),
      (C, "Great, thanks so much.")), True),
    # work still to be done, but the remedy is agreed and the caller is content: settled
    (((C, "Hi, my order came with the wrong charger in the box, it's the US plug one."),
      (A, "Sorry about that. I've sent the right UK charger out today by first class post, and "
          "the courier will pick up the wrong one when they drop it off."),
      (C, "Oh brilliant, that's sorted then. Thanks so much."),
      (A, "You're welcome, have a good day.")), True),
])
def test_the_resolved_scorer_reads_the_close_of_the_call_with_the_real_encoder(models, turns, settled):
    """Through the pipeline with the real mood model and cue detector, as at hang-up."""
    from callassist.core.pipeline import Pipeline
    from callassist.mood.cues import detect_cues
    utts, events = call(*turns), []
    pipe = Pipeline(None, models.mood, cue_detector=detect_cues)
    pipe.subscribe(events.append)
    for u in utts:
        pipe._handle([u])
    assert any(isinstance(e, MoodState) for e in events)
    w = summarize(utts, events, models.wrapup, models.knowledge.embedder)
    assert w.resolved == settled, w.resolved_why
    assert w.resolved_utterances and set(w.resolved_utterances) <= {u.id for u in utts}
