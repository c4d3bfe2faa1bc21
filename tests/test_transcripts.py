"""bot.support.transcripts and the `transcript` / `conversations` commands: every message in order,
with time, direction, step, the buttons offered and the label of the one pressed; personal
data masked; text, JSON and a self-contained HTML page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.i18n import Translator
from bot.store import Store
from bot.support.transcripts import (
    TranscriptError,
    as_html,
    as_json,
    as_text,
    build_transcript,
    day_start,
    list_conversations,
)
from fixtures import SHANGHAI
from support_seed import SEED, seed


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("transcripts") / "bot.db"
    store, _ = seed(path, users=False)
    store.close()
    return path


@pytest.fixture
def store(db_path):
    with Store(db_path) as opened:
        yield opened


def test_every_message_in_order_with_step_direction_and_local_time(store):
    entries = build_transcript(store, SHANGHAI, chat_id=501)
    logged = store.db.execute("SELECT count(*) FROM messages WHERE chat_id = 501").fetchone()[0]
    assert len(entries) == logged > 30
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    first = entries[0]
    assert (first.direction, first.step, first.text) == ("in", "consent", "/start")
    assert first.at.utcoffset().total_seconds() == 8 * 3600 and first.at.hour == 9  # 01:00 UTC
    assert entries[-1].direction == "out" and entries[-1].step == "done"
    assert "<b>" not in "".join(e.text for e in entries)  # Telegram HTML stripped


def test_buttons_offered_and_the_label_of_the_button_pressed(store):
    entries = build_transcript(store, SHANGHAI, chat_id=501)
    consent = next(e for e in entries if e.buttons and e.step == "consent")
    assert consent.buttons == [["I agree", "I do not agree"]]
    presses = [e for e in entries if e.pressed is not None]
    assert [p.pressed for p in presses[:4]] == ["I agree", "Continue", "Lost my job", "Temporary"]
    assert presses[0].pressed_data == "1:consent:yes" and presses[0].text == "[button 1:consent:yes]"
    assert presses[-1].pressed == "I agree" and presses[-1].step == "confirm"


def test_a_press_shows_the_label_of_the_most_recent_message_that_offered_it(tmp_path):
    with Store(tmp_path / "b.db") as store:
        at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
        log = store.log_message
        log(direction="out", chat_id=9, text="menu", at=at, step="a", buttons=[[["Old label", "3:pick:x"]]])
        log(direction="in", chat_id=9, text="[button 3:pick:x]", at=at, step="a", update_id=1)
        log(direction="out", chat_id=9, text="menu again", at=at, step="b", buttons=[[["New label", "3:pick:x"]]])
        log(direction="out", chat_id=8, text="other chat", at=at, step="b", buttons=[[["Other chat", "3:pick:x"]]])
        log(direction="in", chat_id=9, text="[button 3:pick:x]", at=at, step="b", update_id=2)
        log(direction="in", chat_id=9, text="[button 7:never:offered]", at=at, step="b", update_id=3)
        presses = [e.pressed for e in build_transcript(store, SHANGHAI, chat_id=9) if e.pressed]
    assert presses == ["Old label", "New label", "7:never:offered"]


def test_personal_data_typed_by_the_borrower_is_masked(store):
    text = as_text(build_transcript(store, SHANGHAI, chat_id=SEED["person_chat"]))
    assert "Please call +86 *** **** 9000, my ID is **************567X" in text
    assert "0013 9000" not in text and "1101011990" not in text
    revealed = as_text(build_transcript(store, SHANGHAI, chat_id=SEED["person_chat"], reveal=True))
    assert SEED["person_phone"] in revealed and SEED["person_id"] in revealed


def test_the_borrowers_name_is_masked_wherever_it_appears(tmp_path):
    with Store(tmp_path / "n.db") as store:
        store.upsert_borrower_and_loan(
            {
                "loan_id": "L-1",
                "borrower_name": "Emma Li",
                "phone": "+8613900139000",
                "id_last4": "567X",
                "product": "consumer_loan",
                "outstanding_principal": "1000",
                "overdue_principal": "100",
                "overdue_interest": "0",
                "penalty_fees": "0",
                "annual_rate": "0.1",
                "monthly_payment": "100",
                "remaining_term_months": 10,
                "days_past_due": 30,
                "next_due_date": "2026-12-01",
            }
        )
        at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
        store.log_message(direction="out", chat_id=5, text="Hello, <b>Emma Li</b>! Emma, hi.", at=at, borrower_id=1)
        store.log_message(direction="in", chat_id=5, text="Tom & <i>Jerry</i> 13900139000", at=at, update_id=1)
        entries = build_transcript(store, SHANGHAI, borrower_id=1)
    assert entries[0].text == "Hello, E*** L*! E***, hi."
    assert entries[1].text == "Tom & <i>Jerry</i> *******9000"  # borrower text is kept as typed


def test_by_loan_and_by_borrower_and_since(store):
    by_loan = build_transcript(store, SHANGHAI, loan_id=SEED["accepted_loan"])
    assert {e.chat_id for e in by_loan} == {SEED["accepted_chat"]}
    by_borrower = build_transcript(store, SHANGHAI, borrower_id=SEED["person_borrower"])
    assert {e.chat_id for e in by_borrower} == {SEED["person_chat"]}
    assert by_borrower[0].text == "/start"  # messages from before identification are included
    from datetime import date

    since = build_transcript(
        store, SHANGHAI, borrower_id=SEED["person_borrower"], since=day_start(date(2026, 11, 26), SHANGHAI)
    )
    assert since == []
    assert build_transcript(store, SHANGHAI, loan_id="NO-SUCH") == []
    with pytest.raises(TranscriptError):
        build_transcript(store, SHANGHAI, chat_id=1, loan_id="CC-1001")
    with pytest.raises(TranscriptError):
        build_transcript(store, SHANGHAI)


def test_json_format(store):
    data = json.loads(as_json(build_transcript(store, SHANGHAI, chat_id=SEED["person_chat"])))
    logged = store.db.execute("SELECT count(*) FROM messages WHERE chat_id = 502").fetchone()[0]
    assert isinstance(data, list) and len(data) == logged
    assert set(data[0]) == {"at", "chat_id", "direction", "step", "text", "buttons", "pressed", "pressed_data"}
    assert data[0]["at"].startswith("2026-11-25T09:") and data[0]["at"].endswith("+08:00")
    typed = next(d for d in data if d["step"] == "reason_text" and d["direction"] == "in")
    assert typed["text"] == "Please call +86 *** **** 9000, my ID is **************567X"
    pressed = next(d for d in data if d["pressed"])
    assert pressed == {**pressed, "pressed": "I agree", "pressed_data": "1:consent:yes", "direction": "in"}
    assert "0013 9000" not in json.dumps(data, ensure_ascii=False)


def test_text_format(store):
    text = as_text(build_transcript(store, SHANGHAI, chat_id=SEED["accepted_chat"]))
    lines = text.splitlines()
    assert re.fullmatch(r"2026-11-20 09:0\d:\d\d CST \[consent\] borrower:", lines[0]) and lines[1] == "    /start"
    assert "    buttons: [I agree] | [I do not agree]" in lines
    assert "    (pressed) I agree" in lines
    assert "Before we start: your privacy" in text and "&#x27;" not in text and "&amp;" not in text


def test_html_format_is_one_self_contained_escaped_page(tmp_path):
    with Store(tmp_path / "h.db") as store:
        at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
        store.log_message(
            direction="out", chat_id=5, text="Pick <b>one</b>", at=at, step="s", buttons=[[["A & B", "1:x:a"]]]
        )
        store.log_message(
            direction="in", chat_id=5, text="<script>alert(1)</script> 13900139000", at=at, step="s", update_id=1
        )
        store.log_message(direction="in", chat_id=5, text="[button 1:x:a]", at=at, step="s", update_id=2)
        page = as_html(build_transcript(store, SHANGHAI, chat_id=5), Translator(), "en", "Transcript: chat 5")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "<link" not in page and "src=" not in page  # nothing to fetch or run
    assert "&lt;script&gt;alert(1)&lt;/script&gt; *******9000" in page
    assert "A &amp; B" in page and "Pick one" in page
    assert page.count('class="bubble bot"') == 1 and page.count('class="bubble borrower"') == 2
    assert '<span class="chip pressed-label">A &amp; B</span>' in page
    assert "<style>" in page and ".bubble.borrower" in page
    assert "Personal data is masked" in page


def test_html_in_chinese(store):
    page = as_html(build_transcript(store, SHANGHAI, chat_id=SEED["accepted_chat"]), Translator(), "zh_CN", "记录")
    assert 'lang="zh-CN"' in page and "机器人" in page and "借款人" in page


def test_list_conversations(store):
    rows = list_conversations(store, SHANGHAI)
    assert [r.chat_id for r in rows] == [503, 502, 501]
    person = next(r for r in rows if r.chat_id == 502)
    assert (person.name, person.loan_id, person.step, person.needs_person) == ("E*** L*", "CL-2002", "outlook", True)
    assert [r.chat_id for r in list_conversations(store, SHANGHAI, needs_person=True)] == [502]
    assert [r.chat_id for r in list_conversations(store, SHANGHAI, step="done")] == [501]
    from datetime import date

    assert [r.chat_id for r in list_conversations(store, SHANGHAI, since=day_start(date(2026, 11, 24), SHANGHAI))] == [
        503,
        502,
    ]


# ------------------------------------------------------------------ the commands


@pytest.fixture
def run(db_path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("BOT_TIMEZONE", "BOT_DEFAULT_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_DATABASE", str(db_path))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args))

    return invoke


def test_transcript_command_formats(run):
    text = run("transcript", "--chat", "502")
    assert text.exit_code == 0, text.output
    assert "[reason_text] borrower:" in text.output and "**************567X" in text.output
    as_json_output = run("transcript", "--borrower", "2", "--format", "json")
    assert json.loads(as_json_output.output)[0]["chat_id"] == 502
    page = run("transcript", "--loan", "CC-1001", "--format", "html", "--lang", "en")
    assert page.output.startswith("<!doctype html>") and "Transcript: loan CC-1001" in page.output
    assert "0013 9000" not in text.output + as_json_output.output + page.output


def test_transcript_command_since_and_errors(run):
    assert (
        run("transcript", "--chat", "501", "--since", "2026-11-21").output.strip()
        == "Error: no messages found for that selection"
    )
    later = run("transcript", "--loan", "CL-2002", "--since", "2026-11-25")
    assert later.exit_code == 0 and later.output.startswith("2026-11-25 09:")
    both = run("transcript", "--chat", "501", "--loan", "CC-1001")
    assert both.exit_code == 1 and both.output.strip() == "Error: choose exactly one of a chat, a loan or a borrower"
    bad_day = run("transcript", "--chat", "501", "--since", "28/11/2026")
    assert bad_day.exit_code == 2 and "Traceback" not in bad_day.output


def test_conversations_command(run):
    result = run("conversations")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["chat", "borrower", "name", "loan", "step", "updated", "person"]
    assert re.match(r"\s+502\s+2\s+E\*\*\* L\*\s+CL-2002\s+outlook\s+2026-11-25 \d\d:\d\d:\d\d\s+yes$", lines[2])
    assert "Emma" not in result.output and "王小明" not in result.output and "王**" in result.output
    only = run("conversations", "--needs-person").output.splitlines()
    assert len(only) == 2 and " 502 " in only[1]
    assert len(run("conversations", "--state", "done").output.splitlines()) == 2
    assert len(run("conversations", "--since", "2026-11-26").output.splitlines()) == 2
