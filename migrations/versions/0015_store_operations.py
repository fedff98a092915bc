"""store operations: stock, cash-out, cross-store limits, membership fee, member cards and profiles

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 09:58:23.869329
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('brand_operations',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('allow_negative_stock', sa.Boolean(), nullable=False),
    sa.Column('count_card_cash_out', sa.Boolean(), nullable=False),
    sa.Column('count_card_cash_out_fee_percent', sa.Integer(), nullable=False),
    sa.Column('membership_fee', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_brand_operations_brand_id_brands')),
    sa.PrimaryKeyConstraint('brand_id', name=op.f('pk_brand_operations'))
    )
    op.create_table('card_product_accepted_stores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['stored_value_card_products.id'], name=op.f('fk_card_product_accepted_stores_product_id_stored_value_card_products')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_card_product_accepted_stores_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_product_accepted_stores')),
    sa.UniqueConstraint('product_id', 'store_id', name=op.f('uq_card_product_accepted_stores_product_id_store_id'))
    )
    op.create_table('card_product_risk',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cross_store_daily_limit', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['product_id'], ['stored_value_card_products.id'], name=op.f('fk_card_product_risk_product_id_stored_value_card_products')),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_card_product_risk'))
    )
    op.create_table('stock_levels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('low_stock_threshold', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_stock_levels_brand_id_brands')),
    sa.ForeignKeyConstraint(['product_id'], ['retail_products.id'], name=op.f('fk_stock_levels_product_id_retail_products')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_stock_levels_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_levels')),
    sa.UniqueConstraint('store_id', 'product_id', name=op.f('uq_stock_levels_store_id_product_id'))
    )
    op.create_table('member_cards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('card_number', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_member_cards_brand_id_brands')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_cards_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_cards')),
    sa.UniqueConstraint('brand_id', 'card_number', name=op.f('uq_member_cards_brand_id_card_number'))
    )
    with op.batch_alter_table('member_cards', schema=None) as batch_op:
        batch_op.create_index('ix_member_cards_member_id', ['member_id'], unique=False)

    op.create_table('member_profiles',
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('birthday_cipher', sa.Text(), nullable=True),
    sa.Column('gender_cipher', sa.Text(), nullable=True),
    sa.Column('allergies_cipher', sa.Text(), nullable=True),
    sa.Column('preferences_cipher', sa.Text(), nullable=True),
    sa.Column('notes_cipher', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_member_profiles_brand_id_brands')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_profiles_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_profiles'))
    )
    op.create_table('card_cash_outs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('card_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('count_card_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('tender', sa.String(length=20), nullable=False),
    sa.Column('paid_out', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gift_forfeited', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value_left', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('fee', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_card_cash_outs_brand_id_brands')),
    sa.ForeignKeyConstraint(['card_id'], ['stored_value_cards.id'], name=op.f('fk_card_cash_outs_card_id_stored_value_cards')),
    sa.ForeignKeyConstraint(['count_card_id'], ['count_cards.id'], name=op.f('fk_card_cash_outs_count_card_id_count_cards')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_card_cash_outs_member_id_members')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_card_cash_outs_staff_id_staff')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_card_cash_outs_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_card_cash_outs_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_cash_outs'))
    )
    with op.batch_alter_table('card_cash_outs', schema=None) as batch_op:
        batch_op.create_index('ix_card_cash_outs_store_id_created_at', ['store_id', 'created_at'], unique=False)

    op.create_table('membership_fees',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tender', sa.String(length=20), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('refund_transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('refund_reason', sa.String(length=200), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_membership_fees_brand_id_brands')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_membership_fees_member_id_members')),
    sa.ForeignKeyConstraint(['refund_transfer_id'], ['transfers.id'], name=op.f('fk_membership_fees_refund_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_membership_fees_staff_id_staff')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_membership_fees_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_membership_fees_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_fees')),
    sa.UniqueConstraint('member_id', name=op.f('uq_membership_fees_member_id'))
    )
    with op.batch_alter_table('membership_fees', schema=None) as batch_op:
        batch_op.create_index('ix_membership_fees_store_id_created_at', ['store_id', 'created_at'], unique=False)

    op.create_table('stock_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('quantity_after', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('other_store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("delta <> 0 OR kind = 'COUNT'", name=op.f('ck_stock_movements_moves')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_stock_movements_brand_id_brands')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_stock_movements_order_id_orders')),
    sa.ForeignKeyConstraint(['other_store_id'], ['stores.id'], name=op.f('fk_stock_movements_other_store_id_stores')),
    sa.ForeignKeyConstraint(['product_id'], ['retail_products.id'], name=op.f('fk_stock_movements_product_id_retail_products')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_stock_movements_staff_id_staff')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_stock_movements_store_id_stores')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index('ix_stock_movements_store_product', ['store_id', 'product_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_movements_store_product')

    op.drop_table('stock_movements')
    with op.batch_alter_table('membership_fees', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_fees_store_id_created_at')

    op.drop_table('membership_fees')
    with op.batch_alter_table('card_cash_outs', schema=None) as batch_op:
        batch_op.drop_index('ix_card_cash_outs_store_id_created_at')

    op.drop_table('card_cash_outs')
    op.drop_table('member_profiles')
    with op.batch_alter_table('member_cards', schema=None) as batch_op:
        batch_op.drop_index('ix_member_cards_member_id')

    op.drop_table('member_cards')
    op.drop_table('stock_levels')
    op.drop_table('card_product_risk')
    op.drop_table('card_product_accepted_stores')
    op.drop_table('brand_operations')
