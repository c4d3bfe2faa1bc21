"""The runtime: wires the pure engine (`plans/`) and the dialogue (`dialogs/`) to the world.

config    settings from BOT_* environment variables (pydantic-settings)
errors    the runtime's exceptions, one line each for a person
i18n      messages in the borrower's language (Jinja2 templates in locales/, Babel)
phones    phone numbers in E.164, as stored (valid) and as compared (possible)
terminal  text safe to print: control characters shown, not obeyed
wiring    settings in, ready-to-use store, bot, conversations and dispatcher out
turn      one conversation turn, the same for every front end, in one transaction
services  the dialogue's window on the world (`dialogs.ports.Services`) over the store
handoff   hand-off to a person, on the runtime side
console   the dialogue in a terminal (`restructure-bot chat`)
demo      sample borrowers and loans for `chat --demo`

store/    SQLite: a typed base, column codecs, status enums, migrations, one query module per area
tg/       the Telegram adapter (Application, sending, polling, support group, admin)
lender/   imports, plan life, reminders, broadcasts, reports, plan files
support/  support staff: auth, transcripts, masking, the web console
cli/      `restructure-bot`: one short module per command group
"""
