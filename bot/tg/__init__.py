"""The Telegram adapter: python-telegram-bot in, dialogue events out, replies back.

    app       `build_application`: the Application, its handlers, commands and error handler
    send      sending rendered replies (keyboards, files) and support-team messages
    intake    raw update JSON to handled-and-committed, dead letter, or held (database busy)
    polling   long polling that confirms an update only after it was handled
    webhook   webhook mode: 200 once the update is in the inbox, handled from there
    support   the support group's side of a hand-off (agents reply to a ticket's card)
    support_outbox  doing what agents did (console or group): replies and closes, in order
    admin     /broadcast for lender staff (BOT_ADMIN_IDS)

Named `tg`, not `telegram`, so it never reads as (or shadows) the PTB package.
"""
