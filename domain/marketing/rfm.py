"""RFM per member, transparent enough to explain to the brand (README "RFM"):

- recency R: days since the last paid visit, counted in the brand's business days (a visit
  yesterday is 1, today 0); None for a member who never paid a visit.
- frequency F: paid visits in the last 365 days.
- monetary M: spend (domain.marketing.activity) of the orders paid in the last 365 days, net of
  refunds, in fen.

Each is scored 1–5 by quintiles within the brand, over all N members of the brand:
    score = 1 + floor(5 × (members whose value is strictly worse) / N)
where worse is fewer visits or less spend, and for recency more days (never visited is the worst
of all). Equal values get equal scores. With 10 members, the two best score 5 and the two worst
1; in a brand of fewer than 5 members the best cannot reach 5 (the share below it is under 80%).
The RFM score is R + F + M (3 to 15).
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.brands.stores import brands
from domain.db import utcnow
from domain.marketing.activity import member_activity
from domain.members.members import members

WINDOW = dt.timedelta(days=365)


@dataclass(frozen=True)
class Rfm:
    recency: int | None
    frequency: int
    monetary: int
    recency_score: int
    frequency_score: int
    monetary_score: int

    @property
    def score(self) -> int:
        return self.recency_score + self.frequency_score + self.monetary_score


def quintile(worse_count: int, population: int) -> int:
    return 1 + 5 * worse_count // population


def score_all(values: dict[int, tuple[int | None, int, int]]) -> dict[int, Rfm]:
    """RFM of every member from their (recency, frequency, monetary); the population is `values`."""
    n = len(values)
    if n == 0:
        return {}
    # Recency is better when smaller; never visited (None) is worse than any number of days.
    recency_keys = sorted(-(r if r is not None else 10**9) for r, _f, _m in values.values())
    frequencies = sorted(f for _r, f, _m in values.values())
    monetaries = sorted(m for _r, _f, m in values.values())
    found = {}
    for member_id, (r, f, m) in values.items():
        found[member_id] = Rfm(
            r, f, m,
            quintile(bisect.bisect_left(recency_keys, -(r if r is not None else 10**9)), n),
            quintile(bisect.bisect_left(frequencies, f), n),
            quintile(bisect.bisect_left(monetaries, m), n),
        )
    return found


async def brand_rfm(db: AsyncConnection, brand_id: int, now: dt.datetime | None = None) -> dict[int, Rfm]:
    """RFM of every member of the brand: one statement over the orders, one over the members."""
    now = now or utcnow()
    tz = ZoneInfo(await db.scalar(select(brands.c.timezone).where(brands.c.id == brand_id)))
    activity = await member_activity(db, brand_id, now - WINDOW)
    today = now.astimezone(tz).date()
    values = {}
    for (member_id,) in await db.execute(select(members.c.id).where(members.c.brand_id == brand_id)):
        last, visits, spend = activity.get(member_id, (None, 0, 0))
        recency = (today - last.astimezone(tz).date()).days if last is not None else None
        values[member_id] = (recency, visits, spend)
    return score_all(values)


async def rfm_by_member_ids(db: AsyncConnection, member_ids: list[int]) -> dict[int, Rfm]:
    """RFM of these members, each scored within their own brand (the dataloader's batch)."""
    brand_ids = set((await db.execute(select(members.c.brand_id).where(members.c.id.in_(member_ids)).distinct())).scalars())
    wanted = set(member_ids)
    found: dict[int, Rfm] = {}
    for brand_id in brand_ids:
        found.update({m: r for m, r in (await brand_rfm(db, brand_id)).items() if m in wanted})
    return found

