"""`loans import` (CSV and JSONL, every error with row and column, all or nothing) and
`plans list`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import FileImportError
from bot.lender.loans_import import import_loans
from bot.phones import normalise_phone
from bot.store import Store

HEADER = (
    "loan_id,borrower_name,phone,id_last4,product,currency,outstanding_principal,"
    "overdue_principal,overdue_interest,penalty_fees,annual_rate,monthly_payment,"
    "remaining_term_months,days_past_due,next_due_date,locale"
)
ROWS = [
    "CC-1,王芳,138 0013 8000,123x,credit_card,CNY,12345678.91,0.10,0,35.50,0.18,1200.00,24,45,2024-06-01,zh_CN",
    "CL-2,王芳,+86 138-0013-8000,123X,consumer_loan,,5000,500,20.5,10,0.12,300,18,30,2024-06-05,",
    "AL-3,Li Lei,13900139000,4567,auto_loan,CNY,8000,400,0,0,0.07,350,20,10,2024-06-10,en",
]


def write_csv(tmp_path, rows=ROWS, header=HEADER, name="loans.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def replace_cell(row: str, column: str, value: str) -> str:
    cells = row.split(",")
    cells[HEADER.split(",").index(column)] = value
    return ",".join(cells)


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ------------------------------------------------------------------ good files


def test_good_csv(store, tmp_path):
    report = import_loans(store, write_csv(tmp_path))
    assert report.summary == "imported 3 loans (3 new, 0 updated) for 2 borrowers"
    card = store.get_loan("CC-1")
    assert str(card["outstanding_principal"]) == "12345678.91"
    assert str(card["overdue_principal"]) == "0.10"
    assert card["next_due_date"] == date(2024, 6, 1)
    assert store.get_loan("CL-2")["currency"] == "CNY"  # blank cell takes the default
    assert store.get_loan("CL-2")["borrower_id"] == card["borrower_id"]  # same phone, other format
    borrower = store.get_borrower(card["borrower_id"])
    assert (borrower["phone"], borrower["id_last4"], borrower["locale"]) == ("+8613800138000", "123X", "zh_CN")


def test_good_jsonl_keeps_decimals_exact(store, tmp_path):
    path = tmp_path / "loans.jsonl"
    path.write_text(
        '{"loan_id": "M-1", "borrower_name": "Ann", "phone": 13800138000, "id_last4": "0007",'
        ' "product": "mortgage", "outstanding_principal": 1234567.89, "overdue_principal": 0.10,'
        ' "annual_rate": 0.0415, "monthly_payment": "6500.00", "remaining_term_months": 240,'
        ' "days_past_due": 61, "next_due_date": "2024-06-20", "on_time_payments_last_12": 8,'
        ' "prior_restructures": 1}\n'
        "\n",
        encoding="utf-8",
    )
    report = import_loans(store, path)
    assert (report.new, report.updated, report.borrowers) == (1, 0, 1)
    loan = store.get_loan("M-1")
    assert str(loan["overdue_principal"]) == "0.10"
    assert str(loan["outstanding_principal"]) == "1234567.89"
    assert str(loan["annual_rate"]) == "0.0415"
    assert (loan["prior_restructures"], loan["on_time_payments_last_12"]) == (1, 8)
    assert store.get_borrower(loan["borrower_id"])["phone"] == "+8613800138000"


def test_reimport_updates_by_loan_id(store, tmp_path):
    import_loans(store, write_csv(tmp_path))
    changed = [
        replace_cell(ROWS[0], "days_past_due", "75"),
        *ROWS[1:],
        "NEW-4,Zhao,13700137000,9999,credit_card,CNY,100,100,0,0,0.2,50,6,5,2024-07-01,",
    ]
    report = import_loans(store, write_csv(tmp_path, changed))
    assert report.summary == "imported 4 loans (1 new, 3 updated) for 3 borrowers"
    assert store.get_loan("CC-1")["days_past_due"] == 75
    assert count(store, "loans") == 4


def test_a_time_zone_column_sets_when_reminders_arrive_and_a_file_without_it_keeps_it(store, tmp_path):
    def zones() -> dict[str, str | None]:
        return {row[0]: row[1] for row in store.db.execute("SELECT name, timezone FROM borrowers")}

    header = HEADER + ",timezone"
    import_loans(store, write_csv(tmp_path, [ROWS[0] + ",Europe/London", ROWS[2] + ","], header=header))
    assert zones() == {"王芳": "Europe/London", "Li Lei": None}  # no zone: BOT_TIMEZONE applies
    import_loans(store, write_csv(tmp_path, ROWS))  # a file without the column changes no zone
    assert zones() == {"王芳": "Europe/London", "Li Lei": None}
    import_loans(store, write_csv(tmp_path, [ROWS[2] + ",America/New_York"], header=header))
    assert zones() == {"王芳": "Europe/London", "Li Lei": "America/New_York"}


@pytest.mark.parametrize("zone", ["Mars/Olympus", "GMT+8", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused_with_row_and_column(store, tmp_path, zone):
    rows = [ROWS[0] + ",Asia/Shanghai", ROWS[2] + f",{zone}"]
    with pytest.raises(FileImportError) as caught:
        import_loans(store, write_csv(tmp_path, rows, header=HEADER + ",timezone"))
    assert [str(p) for p in caught.value.problems] == [
        f"row 2, column timezone: must be an IANA time zone such as Asia/Shanghai, not {zone!r}"
    ]
    assert count(store, "borrowers") == 0


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138-0013-8000", "CN", "+8613800138000"),
        ("13800138000", "CN", "+8613800138000"),
        ("008613800138000", "CN", "+8613800138000"),
        ("(010) 6552 9988", "CN", "+861065529988"),
        ("(555) 010-9999", "US", "+15550109999"),
        ("+1 202-555-0143", "CN", "+12025550143"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_phone_normalisation(raw, region, e164):
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["12ab", "", "138", "+86 138 0013 8000 1234 5678"])
def test_phone_that_is_not_a_number(raw):
    with pytest.raises(ValueError, match="not a valid phone number"):
        normalise_phone(raw)


# ------------------------------------------------------------------ bad rows


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("phone", "12ab", "row 2, column phone: not a valid phone number '12ab'"),
        ("id_last4", "12", "row 2, column id_last4: must be the last 4 characters of the ID"),
        ("id_last4", "X123", "row 2, column id_last4: must be the last 4 characters of the ID"),
        ("borrower_name", " ", "row 2, column borrower_name: is required"),
        ("locale", "fr", "row 2, column locale: must be one of zh_CN, en"),
        ("next_due_date", "01/06/2024", "row 2, column next_due_date: must be a date as YYYY-MM-DD"),
        (
            "next_due_date",
            "2024-02-30",
            "row 2, column next_due_date: Input should be a valid date or datetime, day value",
        ),
        ("product", "boat", "row 2, column product: Input should be 'credit_card'"),
        ("currency", "yuan", "row 2, column currency: String should match pattern"),
        ("overdue_principal", "-5", "row 2, column overdue_principal: must not be negative (got '-5')"),
        ("penalty_fees", '"1,000"', "row 2, column penalty_fees: Input should be a valid decimal (got '1,000')"),
        ("annual_rate", "18", "row 2, column annual_rate: Input should be less than or equal to 10"),
        ("days_past_due", "many", "row 2, column days_past_due: Input should be a valid integer"),
        ("monthly_payment", "", "row 2, column monthly_payment: Field required"),
    ],
)
def test_each_bad_cell_is_reported_with_row_and_column(store, tmp_path, column, value, message):
    rows = [ROWS[0], replace_cell(ROWS[1], column, value), ROWS[2]]
    with pytest.raises(FileImportError) as caught:
        import_loans(store, write_csv(tmp_path, rows))
    assert [str(p) for p in caught.value.problems][0].startswith(message)
    assert caught.value.problems[0].row == 2
    assert count(store, "loans") == count(store, "borrowers") == 0  # nothing imported


def test_row_level_problems(store, tmp_path):
    rows = [
        ROWS[0],
        "CC-1,王芳,13800138000,123X,credit_card,CNY,1,1,0,0,0.1,1,1,1,2024-06-01,",  # loan twice
        "Z-3,Zero,13700137000,1111,credit_card,CNY,0,0,0,0,0.1,0,1,1,2024-06-01,",
        "W-4,Wang,138 0013 8000,9999,credit_card,CNY,1,1,0,0,0.1,1,1,1,2024-06-01,",  # phone, other ID
        "X-5,Extra,13600136000,2222,credit_card,CNY,1,1,0,0,0.1,1,1,1,2024-06-01,,surplus",
    ]
    with pytest.raises(FileImportError) as caught:
        import_loans(store, write_csv(tmp_path, rows))
    assert [str(p) for p in caught.value.problems] == [
        "row 2, column loan_id: duplicate of row 1",
        "row 3: nothing is owed on this loan",
        "row 4, column id_last4: differs from row 1, which has the same phone",
        "row 5: more cells than the header has columns",
    ]
    assert caught.value.summary == (
        "nothing imported: 4 bad rows (fix them, or use --skip-invalid to import the 1 good ones)"
    )
    assert count(store, "loans") == 0


def test_jsonl_problems_use_line_numbers(store, tmp_path):
    good = {
        "loan_id": "A-1",
        "borrower_name": "A",
        "phone": "13800138000",
        "id_last4": "1234",
        "product": "credit_card",
        "outstanding_principal": "1",
        "overdue_principal": "1",
        "annual_rate": "0.1",
        "monthly_payment": "1",
        "remaining_term_months": 1,
        "days_past_due": 1,
        "next_due_date": "2024-06-01",
    }
    lines = [
        json.dumps(good),
        "",
        "{not json",
        "[1, 2]",
        json.dumps({**good, "loan_id": "A-5", "overdue_interst": "3"}),
    ]
    path = tmp_path / "loans.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(FileImportError) as caught:
        import_loans(store, path)
    assert [str(p) for p in caught.value.problems] == [
        "row 3: not valid JSON: Expecting property name enclosed in double quotes",
        "row 4: must be a JSON object",
        "row 5, column overdue_interst: unknown column",
    ]


def test_header_problems_stop_before_any_row(store, tmp_path):
    header = HEADER.replace("overdue_interest", "overdue_interst").replace(",id_last4", "")
    rows = [",".join(r.split(",")[:3] + r.split(",")[4:]) for r in ROWS]
    with pytest.raises(FileImportError) as caught:
        import_loans(store, write_csv(tmp_path, rows, header))
    assert [str(p) for p in caught.value.problems] == [
        "header, column overdue_interst: unknown column",
        "header, column id_last4: missing column",
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("loans.xlsx", b"PK", "expected a .csv or .jsonl file"),
        ("loans.csv", "loan_id,borrower_name\n王".encode("gbk"), "not UTF-8 text"),
    ],
)
def test_file_problems(store, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileImportError, match=message):
        import_loans(store, path)


def test_skip_invalid_imports_the_good_rows(store, tmp_path):
    rows = [ROWS[0], replace_cell(ROWS[1], "phone", "12ab"), ROWS[2]]
    report = import_loans(store, write_csv(tmp_path, rows), skip_invalid=True)
    assert report.summary == "imported 2 loans (2 new, 0 updated) for 2 borrowers"
    assert [str(p) for p in report.skipped.shown] == ["row 2, column phone: not a valid phone number '12ab'"]
    assert store.get_loan("CL-2") is None
    assert store.get_loan("AL-3") is not None


# ------------------------------------------------------------------ the commands


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_import_prints_the_summary(cli_env, tmp_path):
    result = run("loans", "import", str(write_csv(tmp_path)))
    assert result.exit_code == 0, result.output
    assert result.output == "imported 3 loans (3 new, 0 updated) for 2 borrowers\n"
    with Store(cli_env) as s:
        assert s.get_loan("AL-3")["days_past_due"] == 10


def test_cli_import_prints_every_error_and_fails(cli_env, tmp_path):
    rows = [replace_cell(ROWS[0], "phone", "12ab"), ROWS[1], replace_cell(ROWS[2], "locale", "fr")]
    result = run("loans", "import", str(write_csv(tmp_path, rows)))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: row 1, column phone: not a valid phone number '12ab'",
        "row 3, column locale: must be one of zh_CN, en",
        "nothing imported: 2 bad rows (fix them, or use --skip-invalid to import the 1 good ones)",
    ]
    with Store(cli_env) as s:
        assert count(s, "loans") == 0


def test_cli_skip_invalid_reports_skipped_rows(cli_env, tmp_path):
    rows = [replace_cell(ROWS[0], "phone", "12ab"), ROWS[1], ROWS[2]]
    result = run("loans", "import", str(write_csv(tmp_path, rows)), "--skip-invalid")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "skipped row 1, column phone: not a valid phone number '12ab'",
        "imported 2 loans (2 new, 0 updated) for 2 borrowers",
    ]


def test_cli_region_reads_local_numbers(cli_env, tmp_path):
    rows = [replace_cell(ROWS[2], "phone", "(201) 555-0123")]
    result = run("loans", "import", str(write_csv(tmp_path, rows)), "--region", "us")
    assert result.exit_code == 0, result.output
    with Store(cli_env) as s:
        assert s.get_borrower(s.get_loan("AL-3")["borrower_id"])["phone"] == "+12015550123"


def test_cli_refuses_an_unknown_region(cli_env, tmp_path):
    result = run("loans", "import", str(write_csv(tmp_path)), "--region", "Mars")
    assert result.exit_code == 2
    assert "'Mars' is not a country code" in result.output


def test_import_help_explains_row_numbers():
    result = run("loans", "import", "--help")
    assert "header is not counted" in " ".join(result.output.split())


def save_plan(database, loan_id="CC-1", update_id=1, monthly=("800.00", "800.00")):
    with Store(database) as s:
        loan = s.get_loan(loan_id)
        return s.save_plan(
            loan_id=loan_id,
            borrower_id=loan["borrower_id"],
            option={
                "option_id": "level-12",
                "structure": "level",
                "currency": "CNY",
                "total_repayable": Decimal("9650.40"),
                "apr": Decimal("0.1350"),
            },
            installments=[
                {
                    "number": n,
                    "due_date": date(2024, 6 + n, 15),
                    "amount": Decimal(amount),
                    "principal": Decimal(amount),
                    "interest": Decimal("0"),
                    "fees": Decimal("0"),
                }
                for n, amount in enumerate(monthly, start=1)
            ],
            consent_text="I agree",
            consent_user_id=7,
            consent_update_id=update_id,
            accepted_at=datetime(2024, 5, 2, 4, 5, tzinfo=UTC),
        )


def test_plans_list_table_and_json(cli_env, tmp_path):
    assert run("plans", "list").output == "no accepted plans yet\n"
    run("loans", "import", str(write_csv(tmp_path)))
    save_plan(cli_env, "CC-1", monthly=("800.00", "800.00"))
    save_plan(cli_env, "AL-3", update_id=2, monthly=("700.50", "950.00"))
    table = run("plans", "list").output.splitlines()
    assert table[0].split() == [
        "loan_id",
        "structure",
        "payments",
        "first_due_date",
        "currency",
        "monthly",
        "total_repayable",
        "APR",
        "%",
        "accepted_at",
        "status",
    ]
    assert table[1].split() == [
        "AL-3",
        "level",
        "2",
        "2024-07-15",
        "CNY",
        "700.50-950.00",
        "9650.40",
        "13.50",
        "2024-05-02T12:05:00+08:00",
        "active",
    ]
    assert table[2].split()[5] == "800.00"
    [first, second] = json.loads(run("plans", "list", "--json").output)
    assert second == {
        "id": 1,
        "loan_id": "CC-1",
        "structure": "level",
        "payments": 2,
        "first_due_date": "2024-07-15",
        "currency": "CNY",
        "monthly": "800.00",
        "total_repayable": "9650.40",
        "apr_percent": "13.50",
        "accepted_at": "2024-05-02T12:05:00+08:00",
        "status": "active",
    }
    assert first["monthly"] == "700.50-950.00"
