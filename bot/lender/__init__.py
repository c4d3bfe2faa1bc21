"""The lender's side: what happens to loans and plans outside the borrower's conversation.

file_rows        a lender's .csv/.jsonl file streamed as numbered rows; the problems found
loans_import     `loans import`: every row checked (in worker processes for a big file),
                 then written in short batches; all-or-nothing, flat memory
payments_import  `payments import`: the same for confirmed payments; one thank-you each
plan_life        after "I agree": reminders scheduled, payments applied, misses noticed
reminders        the dispatcher that sends what the reminder outbox says is due (or, dry
                 run, says what it would send and change)
broadcasts       one message to a segment of borrowers at Telegram's rate, resumable
reports          the funnel, outcomes, collections by month and plans at risk, as text,
                 CSV, JSON or HTML
plan_files       the borrower's PNG chart (in their language) and .ics calendar of a plan
"""
