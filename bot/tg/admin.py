"""/broadcast for lender staff (BOT_ADMIN_IDS), from Telegram.

Flow: /broadcast -> segment buttons -> template buttons -> the recipient count and one
rendered sample, with Send / Cancel -> Send records the broadcast and sends it in the
background (`application.create_task`), then the counts come back to the admin's chat.

Every step's choice travels in the button's callback data (``adm:seg:<segment>``,
``adm:tpl:<segment>:<template>``, ``adm:send:<segment>:<template>``, ``adm:cancel``), so no
state is kept between steps. A double-tapped Send starts one broadcast: the broadcast records
the confirmation message it came from (``created_by``). Anyone not in BOT_ADMIN_IDS who sends
/broadcast or presses one of these buttons is refused politely and audited
(``admin_command_refused``).

The handlers are in group -1 and stop the update there, so the borrower dialogue's catch-all
handlers (group 0) never see it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import UTC, tzinfo

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.i18n import Translator, resolve_locale
from bot.lender.broadcasts import (
    BroadcastError,
    Content,
    Counts,
    Pacing,
    Prepared,
    create_broadcast,
    parse_segment,
    prepare,
    send_broadcast,
    template_names,
)
from bot.store import Store

log = logging.getLogger(__name__)

PREFIX = "adm:"
#: The segments offered as buttons, with their label keys (btn.admin.<key>).
SEGMENTS = {
    "due-in:3": "segment_due_in_3",
    "overdue": "segment_overdue",
    "active": "segment_active",
    "all": "segment_all",
}


class AdminBroadcasts:
    def __init__(
        self,
        *,
        store: Store,
        admin_ids: Collection[int],
        translator: Translator,
        tz: tzinfo,
        default_locale: str,
        pacing: Pacing,
    ) -> None:
        self.store, self.translator, self.tz, self.pacing = store, translator, tz, pacing
        self.admin_ids = frozenset(admin_ids)
        self.default_locale = default_locale
        self.tasks: set[asyncio.Task] = set()  # broadcasts running in the background

    # ------------------------------------------------------------------ helpers

    def _locale(self, update: Update) -> str:
        user = update.effective_user
        return resolve_locale(None, user.language_code if user else None, self.default_locale)

    def _text(self, update: Update, key: str, **data) -> str:
        return self.translator.render(self._locale(update), key, **data)

    def _button(self, update: Update, key: str, data: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(self._text(update, f"btn.{key}"), callback_data=PREFIX + data)

    async def _say(
        self, update: Update, key: str, rows: list[list[InlineKeyboardButton]] | None = None, **data
    ) -> None:
        if update.effective_chat is None:
            return  # (every update these handlers take comes from a chat)
        await update.effective_chat.send_message(
            self._text(update, key, **data),
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(rows) if rows else None,
        )

    async def _allowed(self, update: Update, what: str) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.admin_ids:
            return True
        chat = update.effective_chat
        self.store.audit(
            "admin_command_refused",
            at=self.store.clock(),
            chat_id=chat.id if chat else None,
            user_id=user.id if user else None,
            command=what,
        )
        if chat is not None:
            await self._say(update, "admin.refused")
        return False

    # ------------------------------------------------------------------ handlers

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._allowed(update, "/broadcast"):
            rows = [[self._button(update, f"admin.{key}", f"seg:{segment}")] for segment, key in SEGMENTS.items()]
            await self._say(update, "admin.choose_segment", rows)
        raise ApplicationHandlerStop

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not (query.data or "").startswith(PREFIX):
            return  # not an admin button (PTB lets empty data through): the dialogue answers it
        await query.answer()
        data = (query.data or "").removeprefix(PREFIX)
        if await self._allowed(update, data[:64]):
            action, _, rest = data.partition(":")
            needs_template = action in ("tpl", "send")
            segment, _, template = rest.rpartition(":") if needs_template else (rest, "", "")
            if segment not in SEGMENTS or (needs_template and template not in template_names(self.translator)):
                action = "cancel"  # a stale or forged choice: nothing is sent
            if action == "seg":
                await self._choose_template(update, segment)
            elif action == "tpl":
                await self._confirm(update, segment, template)
            elif action == "send":
                await self._send(update, context, segment, template)
            else:
                await self._say(update, "admin.cancelled")
        raise ApplicationHandlerStop

    async def _choose_template(self, update: Update, segment: str) -> None:
        labels = self.translator.keys(self._locale(update))
        rows = [
            [self._button(update, f"broadcast.{name}", f"tpl:{segment}:{name}")]
            for name in template_names(self.translator)
            if f"btn.broadcast.{name}" in labels
        ]
        rows.append([self._button(update, "admin.cancel", "cancel")])
        await self._say(update, "admin.choose_template", rows, segment=segment)

    def _prepare(self, segment: str, template: str) -> Prepared:
        """Who a broadcast of `template` to `segment` reaches: the confirmation shows it and
        the send uses it, prepared the same way so the two agree."""
        return prepare(
            self.store,
            parse_segment(segment),
            Content(template=template),
            translator=self.translator,
            tz=self.tz,
            default_locale=self.default_locale,
        )

    async def _confirm(self, update: Update, segment: str, template: str) -> None:
        prepared = self._prepare(segment, template)
        if prepared.problems:
            await self._say(
                update,
                "admin.cannot_render",
                segment=segment,
                count=len(prepared.problems),
                reason=next(iter(prepared.problems.values())),
            )
            return
        samples = prepared.samples()
        if not samples:
            await self._say(
                update,
                "admin.no_recipients",
                segment=segment,
                unreachable=len(prepared.unreachable),
                no_chat=len(prepared.no_chat),
            )
            return
        locale = self._locale(update) if self._locale(update) in samples else next(iter(samples))
        rows = [
            [
                self._button(update, "admin.send", f"send:{segment}:{template}"),
                self._button(update, "admin.cancel", "cancel"),
            ]
        ]
        await self._say(
            update,
            "admin.confirm",
            rows,
            segment=segment,
            template=template,
            count=len(prepared.recipients),
            unreachable=len(prepared.unreachable),
            sample_locale=locale,
            sample=Markup(samples[locale][1]),
        )  # our own rendered HTML

    async def _send(self, update: Update, context: ContextTypes.DEFAULT_TYPE, segment: str, template: str) -> None:
        user, query, chat = update.effective_user, update.callback_query, update.effective_chat
        if user is None or query is None or query.message is None or chat is None:
            return  # (a button pressed in a chat: all four are there)
        origin = f"telegram:{user.id}:{query.message.message_id}"
        earlier = self.store.broadcast_created_by(origin)
        if earlier is not None:
            await self._say(update, "admin.already_started", id=earlier["id"])
            return
        prepared = self._prepare(segment, template)
        try:
            broadcast_id = create_broadcast(self.store, prepared, created_by=origin)
        except BroadcastError as exc:
            await self._say(update, "admin.not_started", reason=str(exc))
            return
        await self._say(update, "admin.started", id=broadcast_id, count=len(prepared.recipients))
        task = context.application.create_task(
            self._run(context.bot, chat.id, self._locale(update), broadcast_id), name=f"broadcast-{broadcast_id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, bot, chat_id: int, locale: str, broadcast_id: int) -> Counts | None:
        counts = None
        try:
            counts = await send_broadcast(
                self.store, bot, broadcast_id, translator=self.translator, tz=self.tz, pacing=self.pacing
            )
            text = self.translator.render(
                locale,
                "admin.done",
                id=broadcast_id,
                sent=counts.sent,
                blocked=counts.blocked,
                failed=counts.failed,
                in_doubt=counts.in_doubt,
            )
        except Exception as exc:  # reported to the admin; the broadcast can be resumed from the CLI
            log.exception("broadcast %s stopped", broadcast_id)
            text = self.translator.render(
                locale, "admin.stopped", id=broadcast_id, reason=str(exc) or type(exc).__name__
            )
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        return counts


def add_admin_handlers(
    application: Application,
    *,
    store: Store,
    admin_ids: Collection[int],
    translator: Translator,
    tz: tzinfo = UTC,
    default_locale: str | None = None,
    pacing: Pacing = Pacing(),
) -> AdminBroadcasts:
    """Register /broadcast and its buttons (group -1); returns the handler object, also kept
    in ``application.bot_data["admin_broadcasts"]`` (its `tasks` are the running broadcasts)."""
    admin = AdminBroadcasts(
        store=store,
        admin_ids=admin_ids,
        translator=translator,
        tz=tz,
        default_locale=default_locale or application.bot_data.get("default_locale", "zh_CN"),
        pacing=pacing,
    )
    application.bot_data["admin_broadcasts"] = admin
    application.add_handler(CommandHandler("broadcast", admin.on_command), group=-1)
    application.add_handler(CallbackQueryHandler(admin.on_button, pattern=f"^{PREFIX}"), group=-1)
    return admin
