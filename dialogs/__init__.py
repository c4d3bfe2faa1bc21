"""The borrower's conversation as a pure state machine; never imports `telegram`.

steps       the one step table: `Step`, `Row`, `TABLE` (read this first)
machine     `Dialogue`: runs the table (events, commands, transitions, menus, audit)
identify    consent, identification and the loan      } named handlers
offers      options, details, "I can pay", confirm    } the table
aftercare   check-in after a missed payment, /paid    } lists
person      hand-off to a person and back             }
answers     the answers model made from the table; the engine's `Finances` from it
state       the saved `State`; `answers_summary` for tools that read a saved conversation
model       `Event` in, `Reply` and `Button` out
parsing     one parser per kind of typed input
views       engine objects as template data
ports       `Services`: what the dialogue needs from the world
"""

from dialogs import steps as _steps  # noqa: F401 - the table before its handler modules (see steps.py)
