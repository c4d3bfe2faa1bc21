"""The lender's side: what happens to loans and plans outside the borrower's conversation.

    file_rows        a lender's .csv/.jsonl file as numbered rows (shared by the imports)
    loans_import     `loans import`: borrowers and loans, all-or-nothing
    payments_import  `payments import`: confirmed payments applied to instalments
    plan_life        after "I agree": reminders scheduled, payments applied, misses noticed
    reminders        the dispatcher that sends what the reminder outbox says is due
    broadcasts       one message to a segment of borrowers at Telegram's rate, resumable
    reports          the funnel, plan outcomes and collections, as text, CSV, JSON or HTML
    plan_files       the borrower's PNG chart and .ics calendar of a plan
"""
