"""Clashes between the rows of a loan file, found with SQL over the staged file (so memory stays
flat), hold to the rule as plainly stated: a loan number listed again is a duplicate of its
first row; among the other rows, a phone given with another ID ending than its first row has is
refused; the borrowers counted are the distinct phones of the rows written."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import FileImportError
from bot.lender.loans_import import import_loans
from bot.store import Store

HEADER = (
    "loan_id,borrower_name,phone,id_last4,product,outstanding_principal,overdue_principal,"
    "annual_rate,monthly_payment,remaining_term_months,days_past_due,next_due_date"
)

# small pools, so that loan numbers and phones repeat and ID endings disagree often
_ROW = st.tuples(st.integers(1, 6), st.integers(0, 3), st.sampled_from(["1234", "5678", "000X"]))


def _expected(rows: list[tuple[int, int, str]]) -> tuple[list[str], int, int]:
    """(the clashes as listed, good rows, borrowers), by the rule in the module docstring."""
    first_of_loan: dict[int, int] = {}
    first_of_phone: dict[int, tuple[int, str]] = {}
    problems, good_phones, good = [], set(), 0
    for number, (loan, phone, id_last4) in enumerate(rows, start=1):
        if loan in first_of_loan:
            problems.append(f"row {number}, column loan_id: duplicate of row {first_of_loan[loan]}")
            continue
        first_of_loan[loan] = number
        first, ending = first_of_phone.setdefault(phone, (number, id_last4))
        if ending != id_last4:
            problems.append(f"row {number}, column id_last4: differs from row {first}, which has the same phone")
            continue
        good += 1
        good_phones.add(phone)
    return problems, good, len(good_phones)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=25))
def test_clashes_follow_the_rule(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("clash") / "loans.csv"
    lines = [
        f"CC-{loan},Borrower,1390000000{phone},{id_last4},credit_card,9000,1000,0.18,900,12,40,2027-01-05"
        for loan, phone, id_last4 in rows
    ]
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    problems, good, borrowers = _expected(rows)
    with Store(":memory:") as store:
        if problems:
            try:
                import_loans(store, path)
            except FileImportError as exc:
                assert [str(p) for p in exc.problems] == problems
            else:
                raise AssertionError("a file with clashes was imported")
        report = import_loans(store, path, skip_invalid=True)
        assert (report.new, report.borrowers) == (good, borrowers)
        assert [str(p) for p in report.skipped.shown] == problems
