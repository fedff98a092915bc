"""coupons: templates, coupons, per-member counts, line shares, brand rules, first top-up gifts

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 09:19:13.730472
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coupon_templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('threshold', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_off', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('percent_off', sa.Integer(), nullable=True),
    sa.Column('max_discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('buy_count', sa.Integer(), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('total_limit', sa.Integer(), nullable=True),
    sa.Column('issued_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('redeemed_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stacks_with_card_discount', sa.Boolean(), nullable=False),
    sa.Column('combines', sa.Boolean(), nullable=False),
    sa.Column('points_cost', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_coupon_templates_brand_id_brands')),
    sa.ForeignKeyConstraint(['created_by'], ['staff.id'], name=op.f('fk_coupon_templates_created_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_templates')),
    sa.UniqueConstraint('brand_id', 'name', name=op.f('uq_coupon_templates_brand_id_name'))
    )
    op.create_table('coupon_member_counts',
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('redeemed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupon_member_counts_member_id_members')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_member_counts_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('template_id', 'member_id', name=op.f('pk_coupon_member_counts'))
    )
    op.create_table('coupon_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('visit_count', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_coupon_rules_brand_id_brands')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_coupon_rules_service_id_services')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_rules_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_rules'))
    )
    with op.batch_alter_table('coupon_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_rules_brand_id'), ['brand_id'], unique=False)

    op.create_table('coupon_template_services',
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('service_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_coupon_template_services_service_id_services')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_template_services_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('template_id', 'service_id', name=op.f('pk_coupon_template_services'))
    )
    op.create_table('coupon_template_stores',
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coupon_template_stores_store_id_stores')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupon_template_stores_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('template_id', 'store_id', name=op.f('pk_coupon_template_stores'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('batch_key', sa.String(length=120), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('discount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_coupons_brand_id_brands')),
    sa.ForeignKeyConstraint(['issued_by'], ['staff.id'], name=op.f('fk_coupons_issued_by_staff')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupons_member_id_members')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_coupons_order_id_orders')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coupons_store_id_stores')),
    sa.ForeignKeyConstraint(['template_id'], ['coupon_templates.id'], name=op.f('fk_coupons_template_id_coupon_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('brand_id', 'batch_key', 'member_id', name=op.f('uq_coupons_brand_id_batch_key_member_id')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_member_id_status', ['member_id', 'status'], unique=False)
        batch_op.create_index('ix_coupons_order_id', ['order_id'], unique=False)

    op.create_table('coupon_line_shares',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_coupon_line_shares_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_coupon_line_shares_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_coupon_line_shares_order_line_id_order_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_line_shares'))
    )
    with op.batch_alter_table('coupon_line_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_line_shares_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_line_shares_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('top_up_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coupon_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_top_up_rules_coupon_template_id_coupon_templates'), 'coupon_templates', ['coupon_template_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('top_up_rules', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_top_up_rules_coupon_template_id_coupon_templates'), type_='foreignkey')
        batch_op.drop_column('coupon_template_id')

    with op.batch_alter_table('coupon_line_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_line_shares_order_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_line_shares_coupon_id'))

    op.drop_table('coupon_line_shares')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_order_id')
        batch_op.drop_index('ix_coupons_member_id_status')

    op.drop_table('coupons')
    op.drop_table('coupon_template_stores')
    op.drop_table('coupon_template_services')
    with op.batch_alter_table('coupon_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_rules_brand_id'))

    op.drop_table('coupon_rules')
    op.drop_table('coupon_member_counts')
    op.drop_table('coupon_templates')
