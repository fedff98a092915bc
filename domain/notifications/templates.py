"""Message templates per brand, platform and kind (DESIGN.md §6): the platform's template id, the
page the message opens, and for each keyword (`thing1`, `amount2`, `time3`, …) a text with the
kind's placeholders. A template is checked when it is set, so that what the worker sends always
fits WeChat's keyword types; values are formatted and cut for those types when rendered."""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from zoneinfo import ZoneInfo

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import audit
from domain.actor import Actor
from domain.db import Id, created_at_column, insert_ignoring_conflicts, metadata, utcnow
from domain.errors import DomainError
from domain.validation import check_text


class Kind(enum.StrEnum):
    BALANCE_CHANGED = "BALANCE_CHANGED"
    COUNT_CARD_EXPIRING = "COUNT_CARD_EXPIRING"
    BOOKING_CONFIRMED = "BOOKING_CONFIRMED"
    BOOKING_REMINDER = "BOOKING_REMINDER"
    COUPON_EXPIRING = "COUPON_EXPIRING"
    ON_ACCOUNT_DUE = "ON_ACCOUNT_DUE"


class Platform(enum.StrEnum):
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


class V(enum.StrEnum):
    """What a placeholder holds, which decides the keyword types it may fill."""

    TEXT = "TEXT"
    MONEY = "MONEY"
    TIME = "TIME"
    DATE = "DATE"
    NUMBER = "NUMBER"
    CODE = "CODE"
    PHRASE = "PHRASE"


_COMMON = {"member": V.TEXT, "store": V.TEXT}
PLACEHOLDERS: dict[Kind, dict[str, V]] = {
    Kind.BALANCE_CHANGED: {**_COMMON, "change": V.PHRASE, "amount": V.MONEY, "balance": V.MONEY, "principal": V.MONEY, "gift": V.MONEY,
                           "card": V.TEXT, "time": V.TIME},
    Kind.COUNT_CARD_EXPIRING: {**_COMMON, "card": V.TEXT, "remaining": V.NUMBER, "expiresAt": V.DATE, "days": V.NUMBER},
    Kind.BOOKING_CONFIRMED: {**_COMMON, "service": V.TEXT, "technician": V.TEXT, "time": V.TIME, "note": V.TEXT},
    Kind.BOOKING_REMINDER: {**_COMMON, "service": V.TEXT, "technician": V.TEXT, "time": V.TIME, "note": V.TEXT},
    Kind.COUPON_EXPIRING: {**_COMMON, "coupon": V.TEXT, "code": V.CODE, "validTo": V.DATE},
    Kind.ON_ACCOUNT_DUE: {**_COMMON, "amount": V.MONEY, "time": V.TIME, "dueAt": V.DATE},
}

# WeChat's keyword types and what each may hold: the placeholders allowed in it, whether literal
# text may surround them, and the length WeChat accepts.
KEYWORD_TYPES: dict[str, tuple[frozenset[V], bool, int]] = {
    "thing": (frozenset(V), True, 20),
    "name": (frozenset({V.TEXT}), True, 10),
    "amount": (frozenset({V.MONEY}), False, 32),
    "time": (frozenset({V.TIME, V.DATE}), False, 32),
    "date": (frozenset({V.TIME, V.DATE}), False, 32),
    "number": (frozenset({V.NUMBER}), False, 32),
    "character_string": (frozenset({V.CODE, V.NUMBER}), True, 32),
    "phrase": (frozenset({V.PHRASE}), True, 5),
    "letter": (frozenset({V.CODE}), False, 32),
    "symbol": (frozenset({V.CODE}), True, 5),
    # Types none of our values fit: fixed text only.
    "phone_number": (frozenset(), True, 17),
    "car_number": (frozenset(), True, 8),
    "enum": (frozenset(), True, 20),
}
KEY_RE = re.compile(r"^([a-z_]+?)(\d+)$")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z]+)\}")
MAX_FIELDS = 10

notification_templates = Table(
    "notification_templates",
    metadata,
    Column("id", Id, primary_key=True),
    Column("brand_id", Id, ForeignKey("brands.id"), nullable=False),
    Column("platform", String(10), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("template_id", String(128), nullable=False),
    Column("page", String(200), nullable=True),
    # [[keyword, text], …] in the order the brand gave them.
    Column("fields", Text, nullable=False),
    created_at_column(),
    UniqueConstraint("brand_id", "platform", "kind"),
)


def keyword_type(key: str) -> str | None:
    m = KEY_RE.match(key)
    return m.group(1) if m and m.group(1) in KEYWORD_TYPES else None


def check_fields(kind: Kind, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each keyword known, each text of placeholders this kind has and that its keyword type can hold."""
    if not fields:
        raise DomainError("REQUIRED", "fields", what="模板字段")
    if len(fields) > MAX_FIELDS:
        raise DomainError("TOO_MANY", "fields", what="模板字段", max=MAX_FIELDS)
    known = PLACEHOLDERS[kind]
    seen: set[str] = set()
    out = []
    for i, (key, text) in enumerate(fields):
        where = f"fields.{i}"
        key = check_text(key, f"{where}.key", "关键词", 32)
        text = check_text(text, f"{where}.value", "模板内容", 200)
        kw = keyword_type(key)
        if kw is None:
            raise DomainError("TEMPLATE_KEYWORD_UNKNOWN", f"{where}.key", key=key)
        if key in seen:
            raise DomainError("DUPLICATE_NAME", f"{where}.key", name=key)
        seen.add(key)
        allowed, literal_ok, max_len = KEYWORD_TYPES[kw]
        literal = PLACEHOLDER_RE.sub("", text)
        if "{" in literal or "}" in literal:
            # A stray brace ("{", "{{amount}}", "{0}", "{amount!r:>9}") would be sent to customers as typed.
            raise DomainError("TEMPLATE_SYNTAX", f"{where}.value", text=text)
        names = PLACEHOLDER_RE.findall(text)
        for name in names:
            if name not in known:
                raise DomainError("TEMPLATE_PLACEHOLDER_UNKNOWN", f"{where}.value", placeholder="{" + name + "}", kind=kind.value,
                                  known=" ".join("{" + n + "}" for n in known))
            if known[name] not in allowed:
                raise DomainError("TEMPLATE_KEYWORD_MISMATCH", f"{where}.value", placeholder="{" + name + "}", key=key)
        if not literal_ok and (literal.strip() or len(names) != 1):
            raise DomainError("TEMPLATE_KEYWORD_MISMATCH", f"{where}.value", placeholder=text, key=key)
        if len(literal) > max_len:
            raise DomainError("TOO_LONG", f"{where}.value", what=key, max=max_len)
        out.append((key, text))
    return out


async def set_template(
    db: AsyncConnection, actor: Actor, *, kind: Kind, platform: Platform, template_id: str, page: str | None, fields: list[tuple[str, str]],
) -> dict:
    template_id = check_text(template_id, "templateId", "模板ID", 128)
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", template_id):
        raise DomainError("INVALID_VALUE", "templateId", what="模板ID")
    page = check_text(page, "page", "跳转页面", 200, required=False) or None
    checked = check_fields(kind, fields)
    values = dict(template_id=template_id, page=page, fields=json.dumps(checked, ensure_ascii=False))
    inserted = await db.execute(
        insert_ignoring_conflicts(db, notification_templates).values(brand_id=actor.brand_id, platform=platform.value, kind=kind.value,
                                                                     created_at=utcnow(), **values)
    )
    if inserted.rowcount == 0:
        await db.execute(update(notification_templates).where(
            notification_templates.c.brand_id == actor.brand_id, notification_templates.c.platform == platform.value,
            notification_templates.c.kind == kind.value).values(**values))
    await audit.record(db, actor, "notification.template", "brand", actor.brand_id, after={"kind": kind.value, "platform": platform.value, **values})
    return {"kind": kind.value, "platform": platform.value, "template_id": template_id, "page": page, "fields": checked}


async def templates_of(db: AsyncConnection, brand_id: int, platform: Platform | None = None) -> list:
    q = select(notification_templates).where(notification_templates.c.brand_id == brand_id)
    if platform is not None:
        q = q.where(notification_templates.c.platform == platform.value)
    return list(await db.execute(q.order_by(notification_templates.c.kind)))


async def template_for(db: AsyncConnection, brand_id: int, platform: Platform, kind: str):
    return (await db.execute(select(notification_templates).where(
        notification_templates.c.brand_id == brand_id, notification_templates.c.platform == platform.value,
        notification_templates.c.kind == kind))).first()


# Rendering ---------------------------------------------------------------------------------------

def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def _format(value, vtype: V, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if vtype == V.MONEY:
        return yuan(int(value))
    if vtype in (V.TIME, V.DATE):
        moment = value if isinstance(value, dt.datetime) else _parse_time(value)
        if moment is None:
            return str(value)
        local = moment.astimezone(tz) if moment.tzinfo else moment
        return local.strftime("%Y年%m月%d日 %H:%M" if vtype == V.TIME else "%Y年%m月%d日")
    return str(value)


def _parse_time(value) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        try:
            return dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time(12, tzinfo=dt.UTC))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _cut(text: str, kw: str) -> str:
    _, _, max_len = KEYWORD_TYPES[kw]
    if kw in ("character_string", "letter", "symbol"):
        text = re.sub(r"[^\x21-\x7e]", "", text)
    if len(text) <= max_len:
        return text
    # WeChat refuses (47003) a thing over 20 characters: keep what fits, marking the cut.
    return text[: max_len - 1] + "…" if kw in ("thing", "name") else text[:max_len]


def render(kind: str, fields: list[tuple[str, str]], values: dict, tz_name: str) -> dict[str, dict[str, str]]:
    """The `data` of a subscribe message: each keyword's text with the placeholders filled in."""
    tz = ZoneInfo(tz_name)
    types = PLACEHOLDERS[Kind(kind)]
    data = {}
    for key, text in fields:
        kw = keyword_type(key) or "thing"
        filled = PLACEHOLDER_RE.sub(lambda m: _format(values.get(m.group(1)), types.get(m.group(1), V.TEXT), tz), text)
        data[key] = {"value": _cut(filled, kw) or "-"}
    return data
