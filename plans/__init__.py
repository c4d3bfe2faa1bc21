"""The plan engine: pure functions from a loan, the borrower's finances and a lender policy to
restructuring options with exact, dated schedules. No I/O, no Telegram, no database."""
