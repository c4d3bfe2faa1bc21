"""Hand-off to a person, on the runtime side.

The dialogue pauses a chat at step `with_person` and says, as replies for the support
audience, that a card (`handoff.card`) or a borrower's message (`handoff.relay`) should reach
the support team. Here those are enriched from the store (who, which loan, arrears, answers,
options offered, the last messages, personal data masked) and a ticket is opened; the
Telegram front end posts them in the support group (BOT_SUPPORT_CHAT_ID), threaded under the
card. An agent's reply to the card or to a relayed message goes back to the borrower; `/close`
in reply ends the ticket and the dialogue resumes where the borrower left off. A borrower who
leaves the queue (`handoff.left`) closes the ticket themselves, and the team is told.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import plain_text
from bot.store import Store
from bot.support.masking import mask_name, mask_phone, mask_text
from dialogs.answers import summary
from dialogs.model import Reply
from dialogs.state import State


def support_status(now: datetime, zone: ZoneInfo, window: tuple[time, time]) -> tuple[bool, datetime | None]:
    """(open now, next opening time) for daily support hours that may span midnight."""
    opens, closes = window
    local = now.astimezone(zone)
    moment = local.time()
    is_open = opens <= moment < closes if opens < closes else (moment >= opens or moment < closes)
    if is_open:
        return True, None
    day = local.date() if moment < opens else local.date() + timedelta(days=1)
    return False, datetime.combine(day, opens, zone)


def support_data(store: Store, chat_id: int, state: State, reply: Reply, at: datetime) -> dict[str, Any]:
    """The data a support-team message needs; opens the chat's ticket for a card."""
    borrower = store.get_borrower(state.borrower_id) if state.borrower_id is not None else None
    names = [borrower["name"]] if borrower else []
    data: dict[str, Any] = {**reply.data, "chat_id": chat_id}
    if reply.key == "handoff.card":
        data["ticket_id"] = store.open_ticket(
            chat_id=chat_id,
            borrower_id=state.borrower_id,
            loan_id=state.loan_id,
            reason=reply.data["reason"],
            resume_step=reply.data["step"],
            at=at,
        )
        data.update(
            borrower=(
                {"name": mask_name(borrower["name"]), "phone": mask_phone(borrower["phone"])} if borrower else None
            ),
            loan=store.get_loan(state.loan_id) if state.loan_id else None,
            answers=summary(state.data, None),  # itemised spending counts in its total
            options=state.options,
            chosen=state.chosen,
            recent=[
                {**m, "text": mask_text(plain_text(m["text"]), names)[:300]} for m in store.recent_messages(chat_id)
            ],
        )
    elif reply.key == "handoff.left":  # the borrower went back to the assistant: the ticket closes
        ticket = store.open_ticket_for_chat(chat_id)
        data["ticket_id"] = ticket["id"] if ticket else None
        if ticket is not None:
            store.close_ticket(ticket["id"], by=None, at=at, source="borrower")
    else:
        ticket = store.open_ticket_for_chat(chat_id)
        data["ticket_id"] = ticket["id"] if ticket else None
        data["text"] = mask_text(reply.data["text"], names)
    return data
