"""store account shards: every store's accounts opened in 16 shards, so that checkouts at one store
do not queue on one revenue or tender row (domain.ledger.store_accounts)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 12:10:00
"""

import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

SHARDS = 16
# (code part, kind, normal side): the accounts a sale may post to, as of this revision.
KINDS = [
    *((f"store_tender:{m}", "STORE_TENDER", 1) for m in ("CASH", "BANK_CARD", "WECHAT", "ALIPAY")),
    ("store_revenue", "STORE_REVENUE", -1),
    ("store_discount:coupon", "STORE_DISCOUNT", 1),
    ("store_gift_issued", "STORE_GIFT_ISSUED", 1),
    ("store_gift_consumed", "STORE_GIFT_CONSUMED", -1),
    ("store_clearing", "STORE_CLEARING", 1),
]


def upgrade() -> None:
    conn = op.get_bind()
    now = dt.datetime.now(dt.timezone.utc)
    accounts = sa.table("accounts", sa.column("brand_id"), sa.column("code"), sa.column("kind"), sa.column("normal"),
                        sa.column("floor_zero"), sa.column("store_id"), sa.column("balance"), sa.column("created_at"))
    existing = {(b, c) for b, c in conn.execute(sa.text("SELECT brand_id, code FROM accounts WHERE store_id IS NOT NULL"))}
    rows = []
    for store_id, brand_id in conn.execute(sa.text("SELECT id, brand_id FROM stores ORDER BY id")):
        for shard in range(SHARDS):
            for part, kind, normal in KINDS:
                code = f"store:{store_id}:{part}" + (f"#{shard}" if shard else "")
                if (brand_id, code) not in existing:
                    rows.append({"brand_id": brand_id, "code": code, "kind": kind, "normal": normal, "floor_zero": False,
                                 "store_id": store_id, "balance": 0, "created_at": now})
    if rows:
        op.bulk_insert(accounts, rows)


def downgrade() -> None:
    # Shards that carry postings cannot go; the empty ones can.
    op.execute("DELETE FROM accounts WHERE store_id IS NOT NULL AND code LIKE '%#%' "
               "AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.account_id = accounts.id)")
