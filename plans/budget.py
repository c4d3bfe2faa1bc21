"""What the borrower can afford, calendar month by calendar month, and the one rule every
plan is held to.

Available for this loan in a month (`Available`, the one definition every screen uses):

    disposable = that month's income - essential expenses - other debt payments
    reserve    = the policy's min_income_left + min_left_per_dependant x dependants
    available  = max(0, min(disposable x max_share_of_disposable, disposable - reserve)),
                 rounded down to the currency's minor unit (nobody pays a fraction of a cent)

A month's income follows what the borrower told us: an expected change "in about N months"
is dated from the day of the quote (the as-of date): the calendar month N months after it
and every month after that have the new income (whether the first payment comes before or
after); in the seasonal high months the income is at least the high amount.

The rule (`month_by_month`): for every calendar month of a plan, what falls due in it (a down
payment and an instalment in the same month count together), less the savings the borrower
has now (used once, for the earliest payments), must fit that month's available amount.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from plans.dates import month_label, month_number
from plans.models import Available, Finances, MonthFit, Row
from plans.money import RATIO_PLACES, ZERO, quantize, round_places
from plans.policy import Affordability


class Budget:
    """The borrower's budget for one quote: `available(n)` for calendar month number n
    (`plans.dates.month_number`), computed once per month and per income."""

    __slots__ = (
        "finances",
        "rules",
        "as_of",
        "currency",
        "_costs",
        "_reserve",
        "_change",
        "_by_income",
        "_rooms",
        "_disposables",
        "table_start",
        "table_rooms",
        "table_disposables",
    )

    def __init__(self, finances: Finances, rules: Affordability, as_of: date, currency: str) -> None:
        self.finances, self.rules, self.as_of, self.currency = finances, rules, as_of, currency
        self._costs = finances.essential_total + finances.other_debt_payments
        self._reserve = rules.min_income_left + rules.min_left_per_dependant * finances.dependants
        #: (the month number from which the income changes, the income from then), if it does
        self._change: tuple[int, Decimal] | None = None
        later = finances.income_later
        if later is not None:
            self._change = (month_number(as_of) + finances.expected_recovery_months, later)
        self._by_income: dict[Decimal, Available] = {}
        self._rooms: dict[int, Decimal] = {}
        self._disposables: dict[int, Decimal] = {}
        #: `available` and `disposable` of consecutive months from month number `table_start`
        #: (see `tabulate`), for the rule's pass over a schedule
        self.table_start = 0
        self.table_rooms: list[Decimal] = []
        self.table_disposables: list[Decimal] = []

    def tabulate(self, first: int, count: int) -> list[Decimal]:
        """Work out `count` months from month number `first` at once (a plan's calendar);
        returns their available amounts. A month with the same income as the month before
        shares its objects, so passes over them can tell runs apart by `is`."""
        finances = self.finances
        if self._change is None and finances.high_income_months is None:
            room = self.available(first)
            rooms, disposables = [room] * count, [self.disposable(first)] * count
        else:
            rooms, disposables = [], []
            previous = None
            for month in range(first, first + count):
                income = self.income(month)
                if income != previous:
                    room, disposable, previous = self.available(month), self.disposable(month), income
                rooms.append(room)
                disposables.append(disposable)
        self.table_start, self.table_rooms, self.table_disposables = first, rooms, disposables
        return rooms

    # ------------------------------------------------------------ one month's figures

    def breakdown(self, income: Decimal) -> Available:
        """`Available` for a month with this income."""
        known = self._by_income.get(income)
        if known is not None:
            return known
        rules, finances = self.rules, self.finances
        disposable = income - self._costs
        by_share = disposable * rules.max_share_of_disposable
        after_reserve = disposable - self._reserve
        if disposable <= 0:
            amount, limited_by = ZERO, "no_disposable_income"
        elif by_share <= after_reserve:
            amount, limited_by = by_share, "share"
        else:
            amount, limited_by = after_reserve, "reserve"
        amount = quantize(max(ZERO, amount), self.currency, ROUND_FLOOR)
        result = self._by_income[income] = Available(
            income=income,
            essentials=finances.essential_total,
            other_debts=finances.other_debt_payments,
            disposable=disposable,
            share=rules.max_share_of_disposable,
            by_share=by_share,
            min_left=rules.min_income_left,
            per_dependant=rules.min_left_per_dependant,
            dependants=finances.dependants,
            reserve=self._reserve,
            after_reserve=after_reserve,
            available=amount,
            limited_by=limited_by,
        )
        return result

    def income(self, month: int) -> Decimal:
        """Expected income in calendar month number `month`."""
        change = self._change
        if change is not None and month >= change[0]:
            return self._in_season(change[1], month)
        return self._in_season(self.finances.monthly_income, month)

    def _in_season(self, income: Decimal, month: int) -> Decimal:
        seasonal = self.finances.high_income_months
        if seasonal is not None and month % 12 + 1 in seasonal.months:
            return max(income, seasonal.monthly_income)
        return income

    def available(self, month: int) -> Decimal:
        """What calendar month number `month` leaves for this loan."""
        room = self._rooms.get(month)
        if room is None:
            room = self._rooms[month] = self.breakdown(self.income(month)).available
        return room

    def disposable(self, month: int) -> Decimal:
        value = self._disposables.get(month)
        if value is None:
            value = self._disposables[month] = self.income(month) - self._costs
        return value

    def changed(self, month: int) -> bool:
        """Whether the month runs on the income after the expected change."""
        return self._change is not None and month >= self._change[0]

    # ------------------------------------------------------------ the quote's summaries

    @property
    def now(self) -> Available:
        return self.breakdown(self.finances.monthly_income)

    @property
    def later(self) -> Available | None:
        if self._change is None:
            return None
        return self.breakdown(self._change[1])

    @property
    def high_season(self) -> Available | None:
        seasonal = self.finances.high_income_months
        if seasonal is None or seasonal.monthly_income <= self.finances.monthly_income:
            return None
        return self.breakdown(seasonal.monthly_income)


def month_by_month(
    rows: Iterable[Row], savings: Decimal, budget: Budget, gaps: list[tuple[int, Decimal]] | None = None
) -> tuple[MonthFit, Decimal | None]:
    """The rule, over a schedule in date order: (the tightest month, the largest share of a
    month's disposable income left to pay from it, None if a month with something to pay has
    no disposable income). Savings pay the earliest payments first, once. The tightest month
    is the one with the largest gap (the earliest of equals); the plan fits if its gap <= 0.
    `gaps`, if given, receives (number of the month's last row, gap) for every month."""
    left = savings
    worst_gap: Decimal | None = None
    worst: tuple[int, Decimal, Decimal, Decimal, Decimal] = (0, ZERO, ZERO, ZERO, ZERO)
    largest: dict[Decimal, Decimal] = {}  # disposable income -> the most paid out of it
    # a run of months with the same disposable income (the same object: see `Budget.tabulate`)
    run_income: Decimal | None = None
    run_largest = ZERO
    start, rooms, disposables = budget.table_start, budget.table_rooms, budget.table_disposables
    known = len(rooms)
    month = -1
    due = ZERO
    last_number = 0
    for row in (*rows, None):
        if row is not None:
            day = row.due_date
            number = day.year * 12 + day.month - 1  # `month_number(day)`, inlined: it runs for every row
            if number == month:
                due += row.payment
                last_number = row.number
                continue
        if month >= 0:  # close the month before
            if left:
                used = due if due <= left else left
                left -= used
            else:
                used = ZERO
            to_pay = due - used
            index = month - start
            if 0 <= index < known:
                room, income_left = rooms[index], disposables[index]
            else:
                room, income_left = budget.available(month), budget.disposable(month)
            gap = to_pay - room
            if worst_gap is None or gap > worst_gap:
                worst_gap, worst = gap, (month, due, used, to_pay, room)
            if gaps is not None:
                gaps.append((last_number, gap))
            if income_left is not run_income:
                if run_income is not None and run_largest > largest.get(run_income, ZERO):
                    largest[run_income] = run_largest
                run_income, run_largest = income_left, ZERO
            if to_pay > run_largest:
                run_largest = to_pay
        if row is None:
            break
        month, due, last_number = number, row.payment, row.number
    if worst_gap is None or run_income is None:
        raise ValueError("a schedule has at least one row")
    if run_largest > largest.get(run_income, ZERO):
        largest[run_income] = run_largest
    month, due, used, to_pay, room = worst
    tightest = MonthFit(month_label(month), due, used, to_pay, room, worst_gap)
    if any(income_left <= 0 for income_left in largest):
        return tightest, None
    ratio = max((paid / income_left for income_left, paid in largest.items()), default=ZERO)
    return tightest, round_places(ratio, RATIO_PLACES, ROUND_HALF_EVEN)
