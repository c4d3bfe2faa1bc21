"""The conversation's behaviour, table-driven and fast: `Dialogue.handle` (and, where the turn
matters, `Conversations.handle`) over an in-memory store with the demo loans, asserting the
reply keys, the buttons, the rendered text and the saved state. Telegram's own side is in
test_dialogue_telegram.py."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest

from bot.console import TERMINAL_CHAT, Console
from bot.demo import DEMO_LOANS
from bot.i18n import Translator
from bot.turn import Conversations
from dialogs.identify import MAX_FAILURES, MAX_LOAN_FAILURES
from dialogs.model import Event
from dialogs.state import answers_summary
from dialogs.steps import Step
from dialogue_harness import TRANSLATOR, Talk, at, routes
from fixtures import NOW, SHANGHAI
from plans.models import Structure, make_option_id, split_option_id
from plans.policy import default_policy


def to_review(talk: Talk, *, outlook: str = "temporary", kind: str = "salary", spending: str = "total") -> Talk:
    """From the loan overview to the review, answering like the demo borrower."""
    talk.walk(list(routes()[Step.loan]))
    talk.press_payload("next:")
    talk.press_payload("pick:job_loss")
    talk.press_payload(f"pick:{outlook}")
    if outlook != "lasting":
        talk.say("4")
        talk.say("12000")
    talk.say("9000")
    talk.press_payload(f"pick:{kind}")
    if kind == "seasonal":
        talk.say("6-8")
        talk.say("15000")
    talk.press_payload("pick:5")  # the payday: the loan's due day, as now
    talk.press_payload(f"pick:{spending}")
    for answer in ["5200"] if spending == "total" else ["2500", "1500", "400", "300", "200", "300"]:
        talk.say(answer)
    for answer in ("800", "3000", "1"):
        talk.say(answer)
    assert talk.step is Step.review, talk.keys
    return talk


def to_options(talk: Talk, **answers: str) -> Talk:
    to_review(talk, **answers)
    talk.press_payload("next:")
    talk.press_payload("next:")
    assert talk.step is Step.options
    return talk


# ---------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "step, bad, error",
    [
        (Step.income, "abc", "error.amount_format"),
        (Step.income, "-5", "error.amount_negative"),
        (Step.income, "1e999", "error.amount_format"),
        (Step.high_income, "0", "error.amount_zero"),
        (Step.dependants, "two", "error.count_format"),
        (Step.dependants, "31", "error.count_range"),
        (Step.high_months, "13", "error.months_format"),
        (Step.reason_text, "\x00", "error.text_empty"),
        (Step.identify_loan, "???", "error.loan_number_format"),
        (Step.identify_id, "12", "error.id_last4_format"),
        (Step.custom_amount, "0", "error.amount_zero"),
        (Step.paid_amount, "lots", "error.amount_format"),
        (Step.paid_date, "2020-01-01", "error.date_range"),
    ],
)
def test_a_wrong_answer_says_what_was_expected_and_asks_again(step, bad, error):
    talk = at(step)
    before = talk.state.model_dump()
    question = talk.keys[-1]
    talk.say(bad)
    assert talk.keys == [error, question] and talk.step is step
    assert talk.state.data.model_dump() == before["data"]


def test_the_third_wrong_answer_in_a_row_offers_a_person():
    talk = at(Step.income)
    for attempt in range(1, 4):
        talk.say("lots")
        assert ("offer_person" in talk.keys) == (attempt == 3)
    assert talk.payloads == ["person:errors"]
    talk.say("6,500")
    assert talk.step is Step.income_kind and talk.state.data.income == Decimal("6500.00")


def test_typing_where_buttons_are_expected_shows_them_again():
    talk = at(Step.outlook)
    talk.say("temporary")
    assert talk.keys == ["error.use_buttons", "ask_outlook"] and len(talk.payloads) == 3


@pytest.mark.parametrize("locale, change_text", [("en", "change in about"), ("zh_CN", "个月后收入变为")])
def test_an_edit_that_makes_answers_pointless_clears_them(locale, change_text):
    """Switching to "lasting" drops the expected change of income; the review says nothing of it."""
    talk = to_review(Talk(locale=locale))
    assert change_text in talk.text
    talk.press_payload("edit:reason")
    talk.press_payload("pick:job_loss")
    talk.press_payload("pick:lasting")
    assert talk.step is Step.review
    assert talk.state.data.recovery_months is None and talk.state.data.income_after is None
    assert change_text not in talk.text and talk.state.data.income == Decimal("9000.00")


def test_an_edit_of_the_kind_of_income_or_of_spending_clears_what_no_longer_applies():
    talk = to_review(Talk(), kind="seasonal", spending="items")
    assert talk.state.data.high_months == [6, 7, 8] and len(talk.state.data.expenses) == 6
    talk.press_payload("edit:income")
    talk.say("9500")
    talk.press_payload("pick:salary")
    assert talk.step is Step.review and talk.state.data.high_months is None and talk.state.data.high_income is None
    talk.press_payload("edit:expenses")
    talk.press_payload("pick:total")
    talk.say("4000")
    assert talk.step is Step.review and talk.state.data.expenses == {}
    assert talk.state.data.expenses_total == Decimal("4000.00") and talk.state.data.savings == Decimal("3000.00")


def test_back_from_the_terms_is_the_options_and_from_the_options_the_budget():
    talk = at(Step.confirm)
    talk.say("/back")
    assert talk.step is Step.options and talk.keys == ["options"]
    talk.say("/back")
    assert talk.step is Step.budget
    talk = at(Step.custom_amount)
    talk.say("/back")
    assert talk.step is Step.options


def test_pause_and_resume_where_the_borrower_was():
    talk = at(Step.income)
    talk.say("/cancel")
    assert talk.keys == ["cancelled"] and talk.step is Step.paused
    talk.say("hello")
    assert talk.keys == ["resumed", "ask_income"] and talk.step is Step.income
    talk.say("/cancel")
    talk.say("/back")  # resumes, then goes back a question
    assert talk.step is not Step.income and talk.step is not Step.paused and talk.state.paused_at is None


def test_stale_and_forged_buttons_are_refused_and_the_step_shown_again():
    talk = at(Step.loan)
    old = [data for _, data in talk.buttons]
    talk.press_payload("next:")
    talk.send("button", old[0])
    assert talk.keys == ["stale_menu", "ask_reason"] and talk.step is Step.reason
    talk.send("button", f"{talk.state.menu}:choose:level-1")
    assert talk.keys[0] == "stale_menu" and talk.step is Step.reason
    assert talk.audit("forged_callback")


def test_an_edited_message_is_not_an_answer():
    talk = at(Step.income)
    talk.send("edited", "777")
    assert talk.keys == ["edited_ignored"] and talk.step is Step.income and talk.state.data.income is None
    assert "/back" in talk.text


# ---------------------------------------------------------------------------- the options


def test_only_plans_that_fit_are_listed_and_each_can_be_chosen():
    talk = to_options(Talk())
    [options] = [r for r in talk.replies if r.key == "options"]
    listed = options.data["options"]
    assert listed and all(option["affordable"] for option in listed)
    assert talk.payloads[: 2 * len(listed)] == [
        p for o in listed for p in (f"choose:{o['option_id']}", f"details:{o['option_id']}")
    ]
    assert talk.state.options == [o["option_id"] for o in listed]


def moved_to_another_borrower(talk: Talk, loan_id: str = "CC-1001") -> None:
    """The lender imports the loan again under another borrower's phone (a corrected record)."""
    row = next(row for row in DEMO_LOANS if row["loan_id"] == loan_id)
    talk.store.upsert_borrower_and_loan(
        {**row, "borrower_name": "Zhao Lei", "phone": "+8613600136000", "id_last4": "9876"}
    )


@pytest.mark.parametrize(
    "moment, act",
    [
        ("review", lambda talk: talk.press_payload("next:")),  # the budget screen
        ("budget", lambda talk: talk.press_payload("next:")),  # the options
        ("options", lambda talk: talk.press_payload(f"choose:{talk.state.options[0]}")),
        ("details", lambda talk: talk.press_payload("choose:" + talk.payloads[0].partition(":")[2])),
        ("custom", lambda talk: talk.say("2000")),
        ("confirm", lambda talk: talk.press_payload(f"agree:{talk.state.chosen}")),
    ],
)
def test_a_loan_moved_away_mid_conversation_takes_the_borrower_back_to_the_loan(moment, act):
    """No plan is quoted, shown or agreed for a loan that is no longer the borrower's: the
    next press says the menu is gone and shows the loans they have (here none)."""
    talk = to_review(Talk())
    if moment != "review":
        talk.press_payload("next:")
    if moment in ("options", "details", "custom", "confirm"):
        talk.press_payload("next:")
    if moment == "details":
        talk.press_payload(f"details:{talk.state.options[0]}")
    if moment == "custom":
        talk.press_payload("custom:")
    if moment == "confirm":
        talk.press_payload(f"choose:{talk.state.options[0]}")
        assert talk.step is Step.confirm
    moved_to_another_borrower(talk)
    act(talk)
    assert talk.keys == ["stale_menu", "no_loans"] and talk.step is Step.loan and talk.state.loan_id is None
    assert talk.store.active_plan_for_loan("CC-1001") is None


def nothing_fits(talk: Talk) -> Talk:
    """Income 3,000 that essential spending all but takes, a lasting hardship: no plan fits."""
    talk.walk(list(routes()[Step.loan]))
    talk.press_payload("next:")
    talk.press_payload("pick:job_loss")
    talk.press_payload("pick:lasting")
    talk.say("3000")
    talk.press_payload("pick:salary")
    talk.press_payload("pick:5")
    talk.press_payload("pick:total")
    for answer in ("2900", "0", "0", "0"):
        talk.say(answer)
    talk.press_payload("next:")
    talk.press_payload("next:")
    return talk


@pytest.mark.parametrize(
    "locale, why, advice",
    [
        ("en", "beyond your budget, so they cannot be chosen", "12348"),
        ("zh_CN", "超出了您的预算，所以不能在这里选择", "12348"),
    ],
)
def test_when_nothing_fits_the_case_goes_to_a_person_with_the_reason_and_debt_advice(locale, why, advice):
    """The closest plans, without buttons; the engine's flags lead somewhere: the lender's free
    debt-advice text in the borrower's language, and a person whose card says why."""
    talk = nothing_fits(Talk(locale=locale))
    assert talk.keys == ["no_affordable", "debt_advice", "person_requested"] and why in talk.text
    assert advice in talk.text and talk.step is Step.with_person
    assert not [p for p in talk.payloads if p.startswith(("choose:", "details:"))]
    assert talk.payloads == ["leave:"] and talk.state.options == []
    card, text = talk.card()
    assert card.data["reason"] == "hardship_review" and card.data["shortfall"] > 0
    assert {f["key"] for f in card.data["flags"]} >= {"hardship_review", "debt_advice"}
    assert "hardship review" in text and "debt advice" in text and "short by CN¥" in text
    talk.press_payload("leave:")  # back with the assistant: the borrower may still name an amount
    assert talk.step is Step.options and talk.payloads == ["custom:", "person:hardship_review"]


def test_when_nothing_fits_and_nobody_can_answer_the_borrower_is_told_where_to_turn():
    talk = Talk(support_chat_id=None)
    talk.services.policy = default_policy().model_copy(update={"contact": "95555 (8:00-20:00)"})
    nothing_fits(talk)
    assert talk.keys == ["debt_advice", "no_affordable"] and talk.step is Step.options
    assert "95555 (8:00-20:00)" in talk.text and "nobody from our team can answer" in talk.text
    assert talk.payloads == ["custom:", "person:hardship_review"]
    assert '"reachable": false' in talk.audit("person_requested")[0]["details"]


def test_showing_a_step_again_never_writes():
    """Asking is pure: the review shown again (stale press, /help, language) logs nothing more;
    `finances_given` is written once, when the borrower goes on to the budget."""
    talk = to_review(Talk())
    changes = talk.store.db.conn.total_changes
    talk.send("button", "0:next:")
    talk.say("/help")
    talk.say("/language")
    talk.press_payload("lang:en")
    assert talk.step is Step.review and talk.store.db.conn.total_changes == changes
    assert talk.audit("finances_given") == []
    talk.press_payload("next:")
    assert len(talk.audit("finances_given")) == 1
    for step in Step:
        shown = at(step)
        before = shown.store.db.conn.total_changes
        shown.dialogue.ask(shown.state)
        assert shown.store.db.conn.total_changes == before, step


# ---------------------------------------------------------------------------- a person


def test_asking_for_a_person_during_working_hours():
    talk = at(Step.outlook)
    talk.say("/human")
    assert talk.keys == ["person_requested"] and talk.support_keys == ["handoff.card"]
    assert talk.step is Step.with_person and talk.state.person_from is Step.outlook and talk.state.needs_person
    assert "working now, until 21:00" in talk.text and talk.labels == ["Continue with the assistant"]


@pytest.mark.parametrize("locale, when", [("en", "from Nov 29, 2026, 09:00"), ("zh_CN", "2026年11月29日 09:00 起")])
def test_outside_working_hours_the_borrower_is_told_when_someone_will_answer(locale, when):
    talk = at(Step.outlook, locale=locale, now=datetime(2026, 11, 28, 22, 30, tzinfo=SHANGHAI))
    talk.say("/human")
    assert talk.step is Step.with_person and when in talk.text


@pytest.mark.parametrize("contact, told", [("", "shown on your statement"), ("95555, 8:00-20:00", "95555, 8:00-20:00")])
def test_with_nobody_to_answer_the_borrower_is_told_so_and_goes_on(contact, told):
    talk = at(Step.outlook, support_chat_id=None)
    talk.services.policy = default_policy().model_copy(update={"contact": contact})
    talk.say("/human")
    assert talk.keys == ["person_unavailable", "ask_outlook"] and talk.support_keys == []
    assert talk.step is Step.outlook and not talk.state.needs_person and told in talk.text
    assert talk.audit("person_requested")[0]["details"].find('"reachable": false') >= 0


def test_a_support_console_agent_is_someone_to_answer():
    talk = at(Step.outlook, support_chat_id=None)
    talk.store.add_support_user("agent", "hash")
    talk.say("/human")
    assert talk.step is Step.with_person


@pytest.mark.parametrize("how", ["/cancel", "button"])
def test_the_borrower_can_always_leave_the_queue(how):
    talk = at(Step.outlook)
    talk.say("/human")
    talk.say("/plan")  # commands that make sense keep working
    assert talk.keys == ["no_plan", "with_person_wait"]
    talk.say("/cancel") if how == "/cancel" else talk.press("Continue with the assistant")
    assert talk.keys == ["person_left", "ask_outlook"] and talk.support_keys == ["handoff.left"]
    assert talk.step is Step.outlook and not talk.state.needs_person


def test_start_leaves_the_queue_and_begins_again():
    talk = at(Step.outlook)
    talk.say("/human")
    talk.say("/start")
    assert talk.support_keys == ["handoff.left"] and talk.keys == ["welcome", "consent"] and talk.step is Step.consent


def test_while_with_a_person_text_goes_to_the_team_and_help_says_how_to_leave():
    talk = at(Step.outlook)
    talk.say("/human")
    talk.say("Can someone call me?")
    assert talk.keys == [] and talk.support_keys == ["handoff.relay"]
    talk.say("/help")
    assert "/cancel: Back to the assistant" in talk.text and "/start" not in talk.text


@pytest.mark.parametrize(
    "support, keys, step",
    [
        (-100777, ["replan_limit", "person_requested"], Step.with_person),
        (None, ["replan_limit", "person_unavailable"], Step.done),
    ],
)
def test_past_the_replan_limit_the_plan_ends_and_the_borrower_hears_who_can_help(support, keys, step):
    talk = at(Step.checkin, support_chat_id=support)
    talk.store.db.execute("UPDATE loans SET prior_restructures = 5 WHERE loan_id = 'CC-1001'")
    talk.press_payload("checkin:change")
    talk.press_payload("next:")
    talk.press_payload("next:")
    assert talk.keys == keys and talk.step is step
    assert talk.store.list_plans()[0]["status"] == "broken"


def test_a_lockout_offers_a_person():
    talk = at(Step.identify_loan)
    for _ in range(MAX_FAILURES):
        talk.say("CC-1001")
        talk.say("9999")
    assert talk.keys == ["identify_locked"] and talk.payloads == ["person:locked"]
    talk.press_payload("person:locked")
    assert talk.step is Step.with_person and talk.replies[-1].data["reason"] == "locked"


# ---------------------------------------------------------------------------- the turn


def conversations(store=None, **options) -> Conversations:
    talk = Talk(store=store)
    return Conversations(
        talk.store, default_policy(), TRANSLATOR, lambda: NOW, "en", SHANGHAI, support_chat_id=-100777, **options
    )


def test_declining_consent_keeps_no_text_of_the_chat():
    turns = conversations()
    said = [
        turns.handle(Event("command", 42, 42, text="/start", update_id=1)),
        turns.handle(Event("text", 42, 42, text="My name is Li and I owe a lot", update_id=2)),
    ]
    decline = said[-1][-1].buttons[0][1][1]
    replies = turns.handle(Event("button", 42, 42, text=decline, update_id=3))
    assert replies and replies[0].text  # the borrower is still told
    texts = [row[0] for row in turns.store.db.execute("SELECT text FROM messages WHERE chat_id = 42")]
    assert len(texts) >= 6 and set(texts) == {""}
    assert [row["event"] for row in turns.store.db.query("SELECT event FROM audit WHERE chat_id = 42")] == [
        "consent_declined"
    ]
    turns.handle(Event("text", 42, 42, text="Why do you need my income?", update_id=4))
    assert {row[0] for row in turns.store.db.execute("SELECT text FROM messages WHERE chat_id = 42")} == {""}
    again = turns.handle(Event("command", 42, 42, text="/start", update_id=5))
    agree = again[-1].buttons[0][0][1]
    turns.handle(Event("button", 42, 42, text=agree, update_id=6))
    kept = [row[0] for row in turns.store.db.execute("SELECT text FROM messages WHERE chat_id = 42 AND text != ''")]
    assert "/start" in kept


def test_leaving_the_queue_closes_the_ticket_and_tells_the_team():
    turns = conversations()
    start = turns.handle(Event("command", 42, 42, text="/start", update_id=1))
    turns.handle(Event("command", 42, 42, text="/human", update_id=2))
    ticket = turns.store.open_ticket_for_chat(42)
    assert ticket is not None
    left = turns.handle(Event("command", 42, 42, text="/cancel", update_id=3))
    assert turns.store.open_ticket_for_chat(42) is None and turns.store.ticket(ticket["id"])["closed_at"]
    [note] = [m for m in left if m.to_support]
    assert f"Ticket #{ticket['id']}" in note.text and "went back to the assistant" in note.text
    assert start and turns.store.load_conversation(42)["needs_person"] is False


def test_the_card_for_the_team_counts_itemised_spending():
    turns = conversations()
    talk = to_review(Talk(store=turns.store, user_id=43), spending="items")
    turns.store.save_conversation(
        43,
        step=talk.step,
        data=talk.state.model_dump(mode="json"),
        version=0,
        locale="en",
        borrower_id=1,
        loan_id="CC-1001",
        telegram_user_id=43,
    )
    card = next(m for m in turns.handle(Event("command", 43, 43, text="/human", update_id=1)) if m.is_card)
    assert "spending 5,200" in card.text and "Income 9,000" in card.text


def test_the_console_gets_the_answers_from_a_saved_conversation():
    talk = to_review(Talk())
    summary = answers_summary(talk.state.model_dump(mode="json"), "CNY")
    assert summary["income"] == Decimal("9000.00") and summary["expenses_total"] == Decimal("5200.00")
    assert summary["left"] == Decimal("3000.00") and summary["any"] and summary["currency"] == "CNY"
    empty = answers_summary({"step": "consent"}, "CNY")
    assert empty["any"] is False and empty["left"] is None and empty["expenses_total"] is None


# ---------------------------------------------------------------------------- identification


def test_the_lockout_follows_the_account_into_other_chats():
    talk = at(Step.identify_loan, user_id=7001)
    for _ in range(MAX_FAILURES):
        talk.say("CC-1001")
        talk.say("0000")
    assert talk.keys == ["identify_locked"]
    elsewhere = Talk(store=talk.store, user_id=7001, chat_id=-5555)
    elsewhere.say("/start")
    elsewhere.press_payload("consent:yes")
    assert elsewhere.keys == ["identify_locked"]
    someone = Talk(store=talk.store, user_id=7002, chat_id=7002)
    someone.walk(list(routes()[Step.loan]))
    assert someone.keys == ["loan_overview"]


def test_strangers_guessing_a_loan_number_leave_its_holder_the_phone_path():
    store = Talk().store
    for stranger in range(3):  # each within its own limit, together past the loan's
        guesser = Talk(store=store, user_id=8100 + stranger)
        guesser.walk(list(routes()[Step.identify_loan]))
        for guess in range(4):
            guesser.say("CC-1001")
            guesser.say(f"{guess}{stranger}99")
    assert store.failed_identifications_for_loan("CC-1001", NOW.replace(hour=0)) >= MAX_LOAN_FAILURES
    holder = Talk(store=store, user_id=501)
    holder.walk(list(routes()[Step.identify_loan]))
    holder.say("CC-1001")
    holder.say("1234")
    assert holder.keys == ["identify_loan_locked", "identify_contact"] and holder.replies[-1].request_contact
    holder.contact("8613800138000")
    assert holder.keys == ["loan_overview"] and holder.state.loan_id == "CC-1001"
    intruder = Talk(store=store, user_id=8200)
    intruder.walk(list(routes()[Step.identify_loan]))
    intruder.say("CC-1001")
    intruder.say("1234")
    intruder.contact("8613900139000")  # their own phone: not the holder's
    assert intruder.keys[0] == "identify_contact_mismatch" and intruder.state.borrower_id is None


@pytest.mark.parametrize("phone", ["13800138000", "138 0013 8000", "+86 138 0013 8000", "8613800138000"])
def test_the_terminal_reads_the_phone_as_it_was_imported_and_binds_no_account(phone):
    terminal = Talk(user_id=0, chat_id=0, binds_accounts=False)
    invite = terminal.store.create_invite("CC-1001", NOW, 14)
    terminal.say(f"/start {invite}")
    terminal.press_payload("consent:yes")
    terminal.contact(phone)
    assert terminal.keys == ["loan_overview"]
    assert terminal.store.get_borrower(terminal.state.borrower_id)["telegram_user_id"] is None
    on_telegram = Talk(store=terminal.store, user_id=501).walk(list(routes()[Step.loan]))
    assert on_telegram.keys == ["loan_overview"]  # the real borrower is not refused


def test_telegram_shares_numbers_with_the_country_code_only():
    talk = at(Step.identify_contact)
    talk.contact("13800138000")  # read as +1 380...: not the borrower's
    assert talk.keys[0] == "identify_contact_mismatch"
    talk.contact("+8613800138000")
    assert talk.keys == ["loan_overview"]


def reader(*lines: str):
    """A terminal's input: these lines, then Ctrl-D."""
    pending = list(lines)

    def read(prompt: str) -> str:
        if not pending:
            raise EOFError
        return pending.pop(0)

    return read


def test_relaunching_the_terminal_resumes_a_paused_conversation():
    store = Talk().store
    turns = conversations(store, binds_accounts=False)
    out: list[str] = []
    Console(turns, read=reader("1", "CC-1001", "1234", "/cancel"), write=out.append).run()
    assert any("Paused" in line for line in out)
    out.clear()
    Console(turns, read=reader(), write=out.append).run()
    shown = "\n".join(out)
    assert "Welcome back" in shown and "Your loan CC-1001" in shown and "privacy" not in shown
    assert store.load_conversation(TERMINAL_CHAT)["step"] == "loan"
    assert store.get_borrower(1)["telegram_user_id"] is None


# ---------------------------------------------------------------------------- /help


@pytest.mark.parametrize(
    "step, shown, hidden",
    [
        (Step.consent, {"/start", "/cancel", "/language", "/human"}, {"/back", "/plan", "/paid"}),
        (Step.identify_id, {"/back"}, {"/plan"}),
        (Step.options, {"/back", "/cancel"}, {"/schedule"}),
        (Step.done, {"/plan", "/schedule", "/paid"}, {"/back"}),
        (Step.paused, {"/start"}, {"/cancel"}),
    ],
)
def test_help_lists_the_commands_that_make_sense_here(step, shown, hidden):
    talk = at(step)
    talk.say("/help")
    [help_reply] = [r for r in talk.replies if r.key == "help"]
    listed = {f"/{c['name']}" for c in help_reply.data["commands"]}
    assert shown <= listed and not hidden & listed, listed
    for command in listed:
        assert command in talk.text


# ---------------------------------------------------------------------------- wording


@pytest.mark.parametrize(
    "count, en, zh", [(1, "1 attempt left.", "您还有 1 次机会。"), (4, "4 attempts left.", "您还有 4 次机会。")]
)
def test_counts_follow_the_languages_plural_rules(count, en, zh):
    assert TRANSLATOR.render("en", "identify_mismatch", attempts_left=count).endswith(en)
    assert TRANSLATOR.render("zh_CN", "identify_mismatch", attempts_left=count).endswith(zh)
    rendered = TRANSLATOR.render("en", "error.custom_months_out_of_range", maximum=count)
    assert rendered.endswith("1 month." if count == 1 else f"{count} months.")


COUNTED = r"(payments?|months?|days?|attempts?|characters?|recipients?|conversations?)\b"


def test_english_counts_are_never_written_with_a_bare_number_or_an_if():
    """A count before a counted noun is always inside a {% trans %} block (its plural form)."""
    for key in Translator().keys("en"):
        source = TRANSLATOR.source("en", key)
        outside = re.sub(r"{%-? trans.*?endtrans -?%}", "", source, flags=re.DOTALL)
        assert not re.search(r"{{[^}]*}}\s+" + COUNTED, outside), (key, source)
        assert not re.search(r"==\s*1\s*%}\s*1\b", source), key  # {% if n == 1 %}1 thing


ZH_MESSAGES = Translator().keys("zh_CN")
HALF_WIDTH_NEXT_TO_CJK = re.compile(r"[\u3400-\u9fff][,:;?!()]|[,:;?!(][\u3400-\u9fff]")
#: Terms the reviewed glossary replaced (see the header of locales/zh_CN/messages.toml).
NOT_IN_CHINESE = ("首付款", "滞纳金", "停息挂账", "报备", "指令", "您贷款机构", "催收", "享受减免优惠")
REPEATED = re.compile(r"还款计划[^，。]{0,30}的还款计划表")  # "还款计划 #1 的还款计划表"


def _chinese_sources() -> list[tuple[str, str]]:
    path = TRANSLATOR.locales_dir / "zh_CN" / "messages.toml"
    import tomllib

    with path.open("rb") as file:
        flat = {}

        def walk(table, prefix=""):
            for name, value in table.items():
                walk(value, f"{prefix}{name}.") if isinstance(value, dict) else flat.update({prefix + name: value})

        walk(tomllib.load(file))
    return sorted(flat.items())


def test_chinese_texts_use_full_width_punctuation_and_the_glossary():
    for key, source in _chinese_sources():
        static = re.sub(r"{{.*?}}|{%.*?%}", "", source, flags=re.DOTALL)
        assert not HALF_WIDTH_NEXT_TO_CJK.search(static), (key, HALF_WIDTH_NEXT_TO_CJK.search(static))
        for term in NOT_IN_CHINESE:
            assert term not in source, (key, term)
        assert not REPEATED.search(source), key
        assert "<i>" not in source, key  # CJK fonts have no italic


def test_chinese_texts_leave_no_space_between_two_chinese_characters():
    """Rendered at every step (dates end in 日, so a space after one is a gap between characters)."""
    gap = re.compile(r"[\u3400-\u9fff] +[\u3400-\u9fff]")
    for step in Step:
        talk = at(step, locale="zh_CN")
        talk.replies = [*talk.replies, *talk.dialogue.ask(talk.state)]
        talk.render()
        for text in talk.texts:
            assert not gap.search(text), (step, gap.search(text), text)


# ---------------------------------------------------------------------------- one definition each


def test_the_chat_and_the_stored_plan_agree_on_the_regular_payment():
    talk = at(Step.done)
    recorded = next(r for r in talk.replies if r.key == "plan_recorded")
    plan = talk.store.list_plans()[0]
    shown = recorded.data["option"]
    assert (plan["monthly_min"], plan["monthly_max"]) == (shown["monthly_min"], shown["monthly_max"])


def test_the_stored_range_compares_amounts_as_numbers():
    store = Talk().store
    amounts = ("950.00", "1000.00", "1000.00")
    rows = [
        {
            "number": n,
            "due_date": f"2027-0{n}-05",
            "amount": Decimal(amount),
            "principal": Decimal(amount),
            "interest": Decimal(0),
            "fees": Decimal(0),
        }
        for n, amount in enumerate(amounts, 1)
    ]
    store.save_plan(
        loan_id="CC-1001",
        borrower_id=1,
        installments=rows,
        consent_text="ok",
        consent_user_id=1,
        consent_update_id=1,
        accepted_at=NOW,
        option={
            "option_id": "level-3",
            "structure": "level",
            "currency": "CNY",
            "total_repayable": Decimal("2950.00"),
            "apr": Decimal("0.1"),
        },
    )
    plan = store.list_plans()[0]
    assert (plan["monthly_min"], plan["monthly_max"]) == (Decimal("950.00"), Decimal("1000.00"))


@pytest.mark.parametrize("structure", list(Structure))
def test_an_option_id_is_made_and_read_in_one_place(structure):
    assert split_option_id(make_option_id(structure, 13)) == (structure, 13)
    assert split_option_id("nonsense") is None and split_option_id("level-x") is None


def test_option_view_shows_the_last_payment_apart_when_it_differs():
    talk = to_options(Talk())
    views = next(r.data["options"] for r in talk.replies if r.key == "options")
    level = next(view for view in views if view["structure"] == "level")
    assert level["monthly_min"] == level["monthly_max"] != level["last_payment"]
    assert f"last payment CN¥{level['last_payment']:,}" in talk.text
