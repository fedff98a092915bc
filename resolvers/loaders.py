"""Per-request dataloaders, so that a page's SQL statement count does not grow with its size.

Every batch reads through the request's one connection (resolvers.request_db), which runs one
statement at a time although Strawberry sends batches from separate tasks.
"""

from __future__ import annotations

from functools import cached_property
from typing import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from domain.brands import catalogue
from domain.brands import staff as staff_accounts
from domain.brands import stores as tenancy
from domain.cards import count_card_products as card_catalogue
from domain.cards import count_cards, cross_store
from domain.cards import reads as card_reads
from domain.coupons import reads as coupon_reads
from domain.coupons import redemption as coupon_redemption
from domain.coupons import templates as coupon_templates
from domain.marketing import campaigns, rfm
from domain.members import members, membership, points, profiles
from domain.sales import checkout, history, orders, visits


class Loaders:
    def __init__(self, db) -> None:
        """`db`: the request's read connection (a resolvers.request_db.SerialisedConnection)."""
        self._db = db

    def _loader(self, fetch: Callable[[AsyncConnection, list], Awaitable[dict]], default=None) -> DataLoader:
        db = self._db

        async def batch(keys: list) -> list:
            found = await fetch(db, list(keys))
            return [found.get(k, default) for k in keys]

        return DataLoader(load_fn=batch)

    @cached_property
    def order_refunds(self) -> DataLoader:
        return self._loader(history.refunds_by_order_ids, [])

    @cached_property
    def member_card_number(self) -> DataLoader:
        return self._loader(membership.card_numbers_by_member_ids)

    @cached_property
    def membership_fee(self) -> DataLoader:
        return self._loader(membership.fees_by_member_ids)

    @cached_property
    def member_profile(self) -> DataLoader:
        return self._loader(profiles.profiles_by_member_ids)

    @cached_property
    def visit_summary(self) -> DataLoader:
        return self._loader(visits.summaries_by_member_ids, visits.VisitSummary())

    @cached_property
    def card_product_risk(self) -> DataLoader:
        return self._loader(cross_store.rules_by_product_ids)

    @cached_property
    def store(self) -> DataLoader:
        return self._loader(tenancy.stores_by_ids)

    @cached_property
    def staff(self) -> DataLoader:
        return self._loader(staff_accounts.staff_by_ids)

    @cached_property
    def member(self) -> DataLoader:
        return self._loader(members.members_by_ids)

    @cached_property
    def tags_by_member(self) -> DataLoader:
        return self._loader(members.tags_by_member_ids, [])

    @cached_property
    def cards_by_member(self) -> DataLoader:
        return self._loader(card_reads.cards_by_member_ids, [])

    @cached_property
    def card(self) -> DataLoader:
        return self._loader(card_reads.cards_by_ids)

    @cached_property
    def card_product(self) -> DataLoader:
        return self._loader(card_reads.products_by_ids)

    @cached_property
    def top_up_rules(self) -> DataLoader:
        return self._loader(card_reads.rules_by_product_ids, [])

    @cached_property
    def count_cards_by_member(self) -> DataLoader:
        return self._loader(count_cards.cards_by_member_ids, [])

    @cached_property
    def count_card_product(self) -> DataLoader:
        return self._loader(card_catalogue.count_card_products_by_ids)

    @cached_property
    def count_card_services(self) -> DataLoader:
        return self._loader(card_catalogue.count_card_services, [])

    @cached_property
    def count_card_scopes(self) -> DataLoader:
        return self._loader(card_catalogue.count_card_scopes, set())

    @cached_property
    def service(self) -> DataLoader:
        return self._loader(catalogue.services_by_ids)

    @cached_property
    def order(self) -> DataLoader:
        return self._loader(orders.orders_by_ids)

    @cached_property
    def order_lines(self) -> DataLoader:
        return self._loader(orders.lines_by_order_ids, [])

    @cached_property
    def order_payments(self) -> DataLoader:
        return self._loader(checkout.payments_by_order_ids, [])

    @cached_property
    def order_coupons(self) -> DataLoader:
        return self._loader(coupon_redemption.coupons_by_order_ids, [])

    @cached_property
    def coupons_by_member(self) -> DataLoader:
        return self._loader(coupon_reads.coupons_by_member_ids, [])

    @cached_property
    def coupon_template(self) -> DataLoader:
        return self._loader(coupon_templates.templates_by_ids)

    @cached_property
    def credit(self) -> DataLoader:
        from domain.sales.credit import credit_by_member_ids

        return self._loader(credit_by_member_ids, (0, 0))

    def entries_page(self, first: int, before_id: int | None) -> DataLoader:
        """One loader per (first, after): members asked for the same page shape share one query."""
        cache = self.__dict__.setdefault("_entry_loaders", {})
        key = (first, before_id)
        if key not in cache:

            async def fetch(db: AsyncConnection, member_ids: list) -> dict:
                return await card_reads.entries_pages(db, member_ids, first=first, before_id=before_id)

            cache[key] = self._loader(fetch, [])
        return cache[key]

    def points_page(self, first: int, before_id: int | None) -> DataLoader:
        """A page of each member's points history; members asked for the same page shape share one query."""
        cache = self.__dict__.setdefault("_points_loaders", {})
        key = (first, before_id)
        if key not in cache:

            async def fetch(db: AsyncConnection, member_ids: list) -> dict:
                return await points.history_pages(db, member_ids, first=first, before_id=before_id)

            cache[key] = self._loader(fetch, [])
        return cache[key]

    @cached_property
    def rfm(self) -> DataLoader:
        """RFM of members: the brand's scores are computed once per batch, whatever the page size."""
        return self._loader(rfm.rfm_by_member_ids)

    @cached_property
    def campaign_attribution(self) -> DataLoader:
        return self._loader(campaigns.attribution_by_ids)

