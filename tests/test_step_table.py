"""The step table (`dialogs.steps`) walked as data: every step is one row, is reachable from
/start, shows in every language, and a typed step has what the hostile-input tests need;
the answers model and the limits come from the table and the engine, one definition each;
and adding a plain question really is a row and two locale keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bot.i18n import LOCALES, Translator
from dialogs.answers import answers_model
from dialogs.steps import EDITABLE, PATH, ROWS, TABLE, Choice, Collected, Row, Step, Typed
from dialogue_harness import IDENTITY, Talk, at, routes, transitions
from paths import ROOT
from plans.models import ExpenseCategory, Finances

TRANSLATOR = Translator()


def test_every_step_is_one_row_and_the_path_ends_with_the_agreement():
    steps = [row.step for row in TABLE]
    assert len(steps) == len(set(steps)) and set(steps) == set(Step)
    assert PATH[-1].step is Step.done and PATH[0].step is Step.consent
    assert {Step(f"expense:{category.value}") for category in ExpenseCategory} <= set(ROWS)


def test_every_step_is_reachable_from_start():
    assert set(routes()) == set(Step)


def test_what_a_row_declares_it_leads_to_does_happen():
    seen = transitions()
    for row in TABLE:
        for target in row.leads_to:
            assert (row.step, target) in seen, (row.step, target)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_key_of_the_table_is_in_every_language(locale):
    keys = TRANSLATOR.keys(locale)
    for row in TABLE:
        if row.key:
            assert row.key in keys, (locale, row.step, row.key)
        if isinstance(row.answer, Choice):
            talk = Talk(locale=locale)
            for _, label, _ in row.answer.values(talk.dialogue, talk.state):
                assert f"btn.{label}" in keys, (locale, row.step, label)
    assert all(f"btn.edit_{group}" in keys for group in EDITABLE)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_step_shows_in_every_language(locale):
    """Reached by its route and shown again: every reply of the way renders (missing keys,
    missing data and bad markup fail in `Talk.render`)."""
    for step in Step:
        talk = at(step, locale=locale)
        talk.replies = talk.dialogue.ask(talk.state)
        talk.render()
        assert talk.texts and all(text.strip() for text in talk.texts), step


def test_every_typed_step_has_an_example_and_says_where_its_answer_goes():
    """What the hostile-input tests need from a row: a valid answer to get past it, and the
    part of the saved state it may change."""
    typed = [row for row in TABLE if row.takes_text]
    assert {row.step for row in typed} >= {Step.income, Step.identify_id, Step.paid_date, Step.custom_amount}
    for row in typed:
        assert IDENTITY.get(row.step, row.text_example), row.step
        assert row.kept_at or row.step is Step.with_person, row.step  # with a person, text is relayed, not kept


def test_the_answers_model_is_made_from_the_table():
    saved = {row.saves.partition(".")[0] for row in TABLE if row.saves}
    assert set(Collected.model_fields) == saved
    assert set(Collected.engine_fields.values()) <= set(Finances.model_fields)
    assert Collected.model_fields["expenses"].default == {}


def test_two_steps_may_not_keep_one_answer_as_different_types():
    income = ROWS[Step.income]
    clash = Step.dependants
    rows = [income, ROWS[clash].__class__(clash, "ask_dependants", answer=ROWS[Step.dependants].answer, saves="income")]
    with pytest.raises(ValueError, match="another type"):
        answers_model(rows)


def test_a_row_says_what_it_asks_and_where_its_answer_goes():
    """What the machine relies on is checked when the table is made, not when a borrower
    reaches the step: a message key (or a `show` handler), and `saves` for an answer."""
    with pytest.raises(ValueError, match="message key"):
        Row(Step.income)
    with pytest.raises(ValueError, match="saves"):
        Row(Step.income, "ask_income", answer=ROWS[Step.income].answer)


def test_limits_come_from_the_engine_model():
    """One definition of a limit: a count the engine refuses is refused by the question."""
    for step, field in ((Step.dependants, "dependants"), (Step.recovery, "expected_recovery_months")):
        answer = ROWS[step].answer
        assert isinstance(answer, Typed)
        bounds = {type(item).__name__: item for item in Finances.model_fields[field].metadata}
        assert (answer.low, answer.high) == (bounds["Ge"].ge, bounds["Le"].le)
        talk = at(step)
        talk.say(str(answer.high + 1))
        assert talk.keys[0] == "error.count_range" and talk.step is step
        talk.say(str(answer.high))
        assert talk.step is not step


# ---------------------------------------------------------------------------- a new question


NEW_STEP = """    pets = "pets"
"""
NEW_ROW = """    Row(Step.pets, "ask_pets", group="dependants", saves="pets",
        answer=Typed(lambda text, _: parse_count(text, low=0, high=9), int, "2")),
"""
SCRIPT = """
import json, sys
from pathlib import Path
import bot.i18n
bot.i18n._DEFAULT_LOCALES_DIR = Path(sys.argv[1])
import dialogs
assert dialogs.__file__.startswith(sys.argv[2]), dialogs.__file__
from dialogue_harness import Talk
from dialogs.steps import Step
for locale in ("en", "zh_CN"):
    talk = Talk(locale=locale).walk([tuple(action) for action in json.loads(sys.argv[3])])
    talk.say("1")
    assert talk.keys == ["ask_pets"], talk.keys
    talk.say("two")
    assert talk.keys == ["error.count_format", "ask_pets"], talk.keys
    talk.say("2")
    assert talk.step is Step.review and talk.state.data.pets == 2
    talk.press_payload("edit:dependants")
    talk.say("0")
    assert talk.keys == ["ask_pets"]
    talk.say("3")
    assert talk.step is Step.review and talk.state.data.dependants == 0 and talk.state.data.pets == 3
print("asked")
"""


def test_a_new_plain_question_is_a_row_and_two_locale_keys(tmp_path):
    """Add "how many pets?" after the dependants: a `Step` member and a `Row` in
    dialogs/steps.py and `ask_pets` in each messages.toml, nothing else. The conversation
    asks it in both languages, validates it, keeps the answer, and re-asks it with its group."""
    shutil.copytree(ROOT / "dialogs", tmp_path / "dialogs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales", ignore=shutil.ignore_patterns("__pycache__"))
    steps = tmp_path / "dialogs" / "steps.py"
    source = steps.read_text()
    source = source.replace('    dependants = "dependants"\n', '    dependants = "dependants"\n' + NEW_STEP, 1)
    anchor = '        saves="dependants", engine="dependants"),\n'
    assert anchor in source
    steps.write_text(source.replace(anchor, anchor + NEW_ROW, 1))
    for locale, text in (("en", "How many pets do you have?"), ("zh_CN", "您养了几只宠物？")):
        with (tmp_path / "locales" / locale / "messages.toml").open("a") as file:
            file.write(f'\nask_pets = "{text}"\n')
    route = json.dumps(routes()[Step.dependants])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "tests")])}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "locales"), str(tmp_path), route],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "asked"
