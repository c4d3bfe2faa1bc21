"""A plan's life after "I agree", through the real Application and the fake Bot API:
reminders in the outbox, the dispatcher's handling of Telegram errors, payments imported and
allocated, the missed-payment check-in leading to a superseding plan, the re-plan limit,
and the borrower's /plan, /schedule and /paid."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from borrower_chat import BorrowerChat, make_bot_app
from bot.errors import FileImportError
from bot.lender.payments_import import import_payments
from bot.lender.plan_life import apply_payment
from fixtures import SHANGHAI, store_of
from plan_helpers import agree_a_plan, at, dispatcher_for
from plans.policy import PaymentDays, default_policy


async def test_agreeing_schedules_reminders_at_local_ten_oclock(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    reminders = store.reminders_for_plan(plan_id)
    first = store.plan_installments(plan_id)[0]
    kinds = {r["kind"] for r in reminders if r["installment_number"] == 1}
    assert kinds == {"before:3", "before:0", "after:1"}
    before = next(r for r in reminders if r["installment_number"] == 1 and r["kind"] == "before:3")
    local = before["send_at"].astimezone(SHANGHAI)
    assert local.date() == first["due_date"] - timedelta(days=3) and (local.hour, local.minute) == (10, 0)
    assert all(r["status"] == "pending" for r in reminders)


async def test_reminder_time_follows_the_borrowers_time_zone(chat):
    store = store_of(chat)
    store.db.execute("UPDATE borrowers SET timezone = 'America/New_York' WHERE id = 1")
    plan_id = await agree_a_plan(chat)
    reminder = next(r for r in store.reminders_for_plan(plan_id) if r["kind"] == "before:0")
    local = reminder["send_at"].astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (10, 0)


async def test_reminders_keep_local_ten_oclock_over_month_ends_and_summer_time(fake_api, tmp_path):
    """Payments on the 31st (a lender whose policy allows paydays up to the 31st) in London:
    instalments fall on the 31st or the month's last day (28 February, 30 April); every
    reminder is the right number of days from its due date at 10:00 London time, in winter
    (UTC+0) and summer (UTC+1) alike."""
    policy = default_policy().model_copy(update={"payment_days": PaymentDays(earliest=1, latest=31)})
    app, store = await make_bot_app(fake_api, tmp_path / "bot.db", policy=policy)
    chat = BorrowerChat(app, fake_api)
    store.db.execute("UPDATE borrowers SET timezone = 'Europe/London' WHERE id = 1")
    plan_id = await agree_a_plan(chat, payday="31")
    await app.shutdown()
    london = ZoneInfo("Europe/London")
    dues = {row["number"]: row["due_date"] for row in store.plan_installments(plan_id)}
    assert {d.day for d in dues.values()} >= {31, 28, 30}  # the 31st, clamped to shorter months
    offsets = {"before:3": -3, "before:0": 0, "after:1": 1}
    reminders = store.reminders_for_plan(plan_id)
    assert len(reminders) == 3 * len(dues)
    for reminder in reminders:
        local = reminder["send_at"].astimezone(london)
        assert local.date() == dues[reminder["installment_number"]] + timedelta(days=offsets[reminder["kind"]])
        assert (local.hour, local.minute) == (10, 0)
    utc_hours = {r["send_at"].astimezone(UTC).hour for r in reminders}
    assert utc_hours == {9, 10}  # summer and winter both occur in the plan


async def test_dispatcher_sends_due_reminders_once_in_the_borrowers_language(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    first = store.plan_installments(plan_id)[0]
    sent_before = len(chat.fake.sent_messages(chat.chat_id))
    three_days_before = at(*_ymd(first["due_date"] - timedelta(days=3)), 10)
    outcome = await dispatcher_for(chat).run_once(chat.app.bot, three_days_before)
    assert outcome["sent"] == 1
    texts = chat.texts_since(sent_before)
    assert len(texts) == 1 and "is due in 3 days" in texts[0]
    again = await dispatcher_for(chat).run_once(chat.app.bot, at(*_ymd(first["due_date"] - timedelta(days=3)), 10))
    assert again["sent"] == 0


async def test_quiet_hours_postpone_a_catch_up_reminder(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    first = store.plan_installments(plan_id)[0]
    late_evening = at(*_ymd(first["due_date"] - timedelta(days=3)), 22)
    outcome = await dispatcher_for(chat).run_once(chat.app.bot, late_evening)
    assert outcome["postponed"] == 1 and outcome["sent"] == 0
    reminder = next(
        r for r in store.reminders_for_plan(plan_id) if r["kind"] == "before:3" and r["installment_number"] == 1
    )
    assert reminder["status"] == "pending" and reminder["send_at"].astimezone(SHANGHAI).hour == 9


@pytest.mark.parametrize(
    ("code", "description", "status"),
    [
        (403, "Forbidden: bot was blocked by the user", "blocked"),
        (400, "Bad Request: chat not found", "failed"),
    ],
)
async def test_dispatcher_records_telegram_refusals(chat, code, description, status):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    first = store.plan_installments(plan_id)[0]
    chat.fake.fail_next("sendMessage", error_code=code, description=description)
    three_days_before = at(*_ymd(first["due_date"] - timedelta(days=3)), 10)
    outcome = await dispatcher_for(chat).run_once(chat.app.bot, three_days_before)
    assert outcome[status] == 1
    reminder = next(
        r for r in store.reminders_for_plan(plan_id) if r["kind"] == "before:3" and r["installment_number"] == 1
    )
    assert reminder["status"] == status and description.split(":")[1].strip().lower() in reminder["last_error"].lower()
    assert bool(store.get_borrower(1)["unreachable_at"]) == (status == "blocked")


async def test_retry_after_and_network_errors_keep_the_reminder_pending(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    due = store.plan_installments(plan_id)[0]["due_date"]
    moment = at(*_ymd(due - timedelta(days=3)), 10)
    chat.fake.fail_next("sendMessage", error_code=429, retry_after=30)
    outcome = await dispatcher_for(chat).run_once(chat.app.bot, moment)
    reminder = next(
        r for r in store.reminders_for_plan(plan_id) if r["kind"] == "before:3" and r["installment_number"] == 1
    )
    assert outcome["pending"] == 1 and reminder["status"] == "pending"
    assert reminder["next_attempt_at"] == moment + timedelta(seconds=30)
    chat.fake.fail_next("sendMessage", error_code=502, description="Bad Gateway")
    later = moment + timedelta(seconds=31)
    await dispatcher_for(chat).run_once(chat.app.bot, later)
    reminder = next(r for r in store.reminders_for_plan(plan_id) if r["id"] == reminder["id"])
    assert reminder["status"] == "pending" and reminder["attempts"] == 2 and "network" in reminder["last_error"]
    await dispatcher_for(chat).run_once(chat.app.bot, later + timedelta(minutes=5))
    reminder = next(r for r in store.reminders_for_plan(plan_id) if r["id"] == reminder["id"])
    assert reminder["status"] == "sent"


async def test_payments_import_allocates_oldest_first_and_is_idempotent(chat, tmp_path):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    rows = store.plan_installments(plan_id)
    first, second = rows[0]["amount"], rows[1]["amount"]
    payments = tmp_path / "payments.csv"
    payments.write_text(
        f"loan_id,amount,paid_at,reference\nCC-1001,{first + Decimal('100.00')},2027-01-04,BANK-1\n", encoding="utf-8"
    )
    report = import_payments(store, payments, SHANGHAI)
    assert report.applied == 1
    rows = store.plan_installments(plan_id)
    assert rows[0]["status"] == "paid" and rows[1]["status"] == "partly_paid" and rows[1]["paid"] == Decimal("100.00")
    assert import_payments(store, payments, SHANGHAI).duplicates == 1
    assert store.plan_installments(plan_id)[1]["paid"] == Decimal("100.00")
    thanks = [r for r in store.reminders_for_plan(plan_id) if r["kind"].startswith("thanks:")]
    assert len(thanks) == 1
    sent_before = len(chat.fake.sent_messages(chat.chat_id))
    await dispatcher_for(chat).run_once(chat.app.bot, at(2027, 1, 4, 12))
    assert any("we have received your payment" in t for t in chat.texts_since(sent_before))
    assert second > 100


async def test_overpayment_completes_the_plan_and_keeps_the_rest(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    total = sum(r["amount"] for r in store.plan_installments(plan_id))
    result = apply_payment(
        store, loan_id="CC-1001", amount=total + Decimal("50"), paid_at=at(2027, 1, 2), reference="LUMP-1"
    )
    assert result.completed and result.unapplied == Decimal("50")
    assert store.plan(plan_id)["status"] == "completed"
    assert all(
        r["status"] in ("cancelled", "sent") or r["kind"].startswith("thanks")
        for r in store.reminders_for_plan(plan_id)
    )


def test_bad_payment_rows_are_reported_and_nothing_applied(tmp_path):
    from bot.demo import load_demo
    from bot.store import Store

    store = Store(tmp_path / "p.db")
    load_demo(store)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "loan_id,amount,paid_at,reference\nCC-1001,100,2027-01-04,R1\nNOPE,-5,yesterday,R2\n", encoding="utf-8"
    )
    with pytest.raises(FileImportError) as caught:
        import_payments(store, bad, SHANGHAI)
    message = str(caught.value)
    assert all(f"row 2, column {column}" in message for column in ("loan_id", "amount", "paid_at"))
    assert store.db.execute("SELECT count(*) FROM payments").fetchone()[0] == 0


async def test_missed_payment_check_in_leads_to_a_superseding_plan(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    due = store.plan_installments(plan_id)[0]["due_date"]
    outcome = await dispatcher_for(chat).run_once(chat.app.bot, at(*_ymd(due + timedelta(days=4)), 11))
    assert store.plan_installments(plan_id)[0]["status"] == "missed"
    assert outcome["sent"] >= 1
    assert "has not arrived" in chat.text
    assert chat.labels == ["I have paid", "I need to change my plan", "Talk to a person"]
    review = await chat.press("I need to change my plan")
    assert "Please check your answers" in review
    await chat.press("All correct")
    await chat.press("Show me the plans")
    await chat.press("Choose 1")
    await chat.press("I agree")
    new = store.active_plan_for_loan("CC-1001")
    old = store.plan(plan_id)
    assert new["id"] != plan_id and old["status"] == "superseded" and old["superseded_by"] == new["id"]
    assert all(r["status"] != "pending" for r in store.reminders_for_plan(plan_id))
    assert any(r["status"] == "pending" for r in store.reminders_for_plan(new["id"]))
    events = [row["event"] for row in store.db.query("select event from audit")]
    assert {"instalment_missed", "replan_started", "plan_superseded"} <= set(events)


async def test_past_the_replan_limit_the_plan_is_broken_and_a_person_called(chat):
    store = store_of(chat)
    store.add_support_user("agent", "hash")  # someone to call: a support console account
    store.db.execute("UPDATE loans SET prior_restructures = 1 WHERE loan_id = 'CC-1001'")
    plan_id = await agree_a_plan(chat)
    due = store.plan_installments(plan_id)[0]["due_date"]
    await dispatcher_for(chat).run_once(chat.app.bot, at(*_ymd(due + timedelta(days=4)), 11))
    await chat.press("I need to change my plan")
    await chat.press("All correct")
    text = await chat.press("Show me the plans")
    assert "as often as allowed" in text
    assert store.plan(plan_id)["status"] == "broken"
    assert store.load_conversation(chat.chat_id)["needs_person"] is True


async def test_second_miss_breaks_the_plan(chat):
    plan_id = await agree_a_plan(chat)
    store = store_of(chat)
    rows = store.plan_installments(plan_id)
    await dispatcher_for(chat).run_once(chat.app.bot, at(*_ymd(rows[1]["due_date"] + timedelta(days=4)), 11))
    assert store.plan(plan_id)["status"] == "broken"
    assert "has ended because payments were missed" in chat.text


async def test_plan_schedule_and_paid_commands(chat):
    plan_id = await agree_a_plan(chat)
    summary = await chat.say("/plan")
    assert f"Your plan #{plan_id}" in summary and "Paid: 0 of" in summary
    await chat.say("/schedule")
    photo = chat.fake.calls_to("sendPhoto")[-1]
    document = chat.fake.calls_to("sendDocument")[-1]
    png = photo["photo"].content if hasattr(photo["photo"], "content") else photo["photo"]
    assert bytes(png)[:8] == b"\x89PNG\r\n\x1a\n"
    ics = document["document"].content if hasattr(document["document"], "content") else document["document"]
    calendar = Calendar.from_ical(bytes(ics))
    events = [c for c in calendar.walk("VEVENT")]
    assert len(events) == store_of(chat).plan(plan_id)["payments"]
    await chat.say("/paid")
    await chat.say("abc")
    assert "could not read" in chat.text
    await chat.say("1,500")
    done = await chat.press("Yesterday")
    assert "noted CN¥1,500.00" in done
    assert store_of(chat).plan_installments(plan_id)[0]["reported"] == Decimal("1500.00")
    assert "waiting for your lender's confirmation: CN¥1,500.00" in await chat.say("/plan")


def _ymd(day):
    return day.year, day.month, day.day


async def test_the_payday_the_borrower_chose_drives_the_schedule_reminders_and_calendar(chat):
    """Payments on the 20th, chosen in the conversation: every instalment falls on it, its
    reminders count from it, the calendar's events are on it."""
    plan_id = await agree_a_plan(chat, "Choose 3", payday="20")
    store = store_of(chat)
    rows = [r for r in store.plan_installments(plan_id) if r["kind"] != "down_payment"]
    assert rows and {r["due_date"].day for r in rows} == {20}
    due = {r["number"]: r["due_date"] for r in store.plan_installments(plan_id)}
    for reminder in store.reminders_for_plan(plan_id):
        if reminder["kind"] == "before:3":
            assert reminder["send_at"].astimezone(SHANGHAI).date() == due[reminder["installment_number"]] - timedelta(3)
    await chat.say("/schedule")
    document = chat.fake.calls_to("sendDocument")[-1]
    ics = document["document"].content if hasattr(document["document"], "content") else document["document"]
    days = {event.decoded("dtstart") for event in Calendar.from_ical(bytes(ics)).walk("VEVENT")}
    assert days == set(due.values()) and {d.day for d in days} >= {20}
