"""checkout: catalogue, count cards, orders, refunds, settlement, credit limits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:14:28.648168
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('count_card_products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('sessions', sa.Integer(), nullable=True),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('valid_days', sa.Integer(), nullable=False),
    sa.Column('daily_limit', sa.Integer(), nullable=True),
    sa.Column('weekly_limit', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price > 0 AND valid_days > 0 AND (sessions IS NULL OR sessions > 0)', name=op.f('ck_count_card_products_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_count_card_products_brand_id_brands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_card_products')),
    sa.UniqueConstraint('brand_id', 'name', name=op.f('uq_count_card_products_brand_id_name'))
    )
    op.create_table('retail_products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price > 0', name=op.f('ck_retail_products_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_retail_products_brand_id_brands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retail_products')),
    sa.UniqueConstraint('brand_id', 'name', name=op.f('uq_retail_products_brand_id_name'))
    )
    op.create_table('count_card_product_services',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['count_card_products.id'], name=op.f('fk_count_card_product_services_product_id_count_card_products')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_count_card_product_services_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_card_product_services')),
    sa.UniqueConstraint('product_id', 'service_id', name=op.f('uq_count_card_product_services_product_id_service_id'))
    )
    op.create_table('count_card_product_stores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['count_card_products.id'], name=op.f('fk_count_card_product_stores_product_id_count_card_products')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_count_card_product_stores_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_card_product_stores')),
    sa.UniqueConstraint('product_id', 'store_id', name=op.f('uq_count_card_product_stores_product_id_store_id'))
    )
    op.create_table('store_prices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_kind', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('price > 0', name=op.f('ck_store_prices_positive')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_store_prices_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_prices')),
    sa.UniqueConstraint('store_id', 'item_kind', 'item_id', name=op.f('uq_store_prices_store_id_item_kind_item_id'))
    )
    op.create_table('count_cards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issued_store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sessions_total', sa.Integer(), nullable=True),
    sa.Column('sessions_left', sa.Integer(), nullable=True),
    sa.Column('price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('liability_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('sessions_left IS NULL OR sessions_left >= 0', name=op.f('ck_count_cards_sessions')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_count_cards_brand_id_brands')),
    sa.ForeignKeyConstraint(['issued_store_id'], ['stores.id'], name=op.f('fk_count_cards_issued_store_id_stores')),
    sa.ForeignKeyConstraint(['liability_account_id'], ['accounts.id'], name=op.f('fk_count_cards_liability_account_id_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_count_cards_member_id_members')),
    sa.ForeignKeyConstraint(['product_id'], ['count_card_products.id'], name=op.f('fk_count_cards_product_id_count_card_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_cards'))
    )
    with op.batch_alter_table('count_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_count_cards_member_id'), ['member_id'], unique=False)

    op.create_table('count_card_uses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count_card_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('technician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('value', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('local_date', sa.String(length=10), nullable=False),
    sa.Column('iso_week', sa.String(length=8), nullable=False),
    sa.Column('returned', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_count_card_uses_brand_id_brands')),
    sa.ForeignKeyConstraint(['count_card_id'], ['count_cards.id'], name=op.f('fk_count_card_uses_count_card_id_count_cards')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_count_card_uses_service_id_services')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_count_card_uses_store_id_stores')),
    sa.ForeignKeyConstraint(['technician_id'], ['staff.id'], name=op.f('fk_count_card_uses_technician_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_count_card_uses'))
    )
    with op.batch_alter_table('count_card_uses', schema=None) as batch_op:
        batch_op.create_index('ix_count_card_uses_count_card_id_local_date', ['count_card_id', 'local_date'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('list_total', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('total', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('paid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points_earned', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('opened_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_orders_brand_id_brands')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_orders_member_id_members')),
    sa.ForeignKeyConstraint(['opened_by'], ['staff.id'], name=op.f('fk_orders_opened_by_staff')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_orders_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_orders_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_store_id_status', ['store_id', 'status'], unique=False)

    op.create_table('settlement_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('payer_store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payee_store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consumed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_settlement_items_brand_id_brands')),
    sa.ForeignKeyConstraint(['payee_store_id'], ['stores.id'], name=op.f('fk_settlement_items_payee_store_id_stores')),
    sa.ForeignKeyConstraint(['payer_store_id'], ['stores.id'], name=op.f('fk_settlement_items_payer_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_settlement_items_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_items'))
    )
    with op.batch_alter_table('settlement_items', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_items_brand_id_created_at', ['brand_id', 'created_at'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('unit_price', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('list_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('covered_units', sa.Integer(), nullable=False),
    sa.Column('net_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded_quantity', sa.Integer(), nullable=False),
    sa.Column('refunded_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0 AND refunded_quantity <= quantity', name=op.f('ck_order_lines_quantity')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['technician_id'], ['staff.id'], name=op.f('fk_order_lines_technician_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('order_payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('principal', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gift', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('card_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('count_card_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('count_card_use_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('refunded_amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded_principal', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded_gift', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['stored_value_cards.id'], name=op.f('fk_order_payments_card_id_stored_value_cards')),
    sa.ForeignKeyConstraint(['count_card_id'], ['count_cards.id'], name=op.f('fk_order_payments_count_card_id_count_cards')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_payments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_payments'))
    )
    with op.batch_alter_table('order_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_payments_order_id'), ['order_id'], unique=False)

    op.create_table('refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sessions_returned', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_refunds_brand_id_brands')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_refunds_staff_id_staff')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_refunds_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_refunds_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)

    op.create_table('refund_payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('principal', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gift', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_refund_payments_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund_payments'))
    )
    with op.batch_alter_table('refund_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_payments_refund_id'), ['refund_id'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ceiling', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('ceiling')

    with op.batch_alter_table('refund_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_payments_refund_id'))

    op.drop_table('refund_payments')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('order_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_payments_order_id'))

    op.drop_table('order_payments')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('settlement_items', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_items_brand_id_created_at')

    op.drop_table('settlement_items')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_store_id_status')

    op.drop_table('orders')
    with op.batch_alter_table('count_card_uses', schema=None) as batch_op:
        batch_op.drop_index('ix_count_card_uses_count_card_id_local_date')

    op.drop_table('count_card_uses')
    with op.batch_alter_table('count_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_count_cards_member_id'))

    op.drop_table('count_cards')
    op.drop_table('store_prices')
    op.drop_table('count_card_product_stores')
    op.drop_table('count_card_product_services')
    op.drop_table('retail_products')
    op.drop_table('count_card_products')
