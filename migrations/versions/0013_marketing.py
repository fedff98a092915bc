"""marketing: tier rules, spend and referral codes on members, segments, campaigns, referrals

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:23:35.171372
"""

import secrets

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('referral_rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('friend_points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('friend_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_referral_rewards_brand_id_brands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_rewards')),
    sa.UniqueConstraint('brand_id', name=op.f('uq_referral_rewards_brand_id'))
    )
    op.create_table('segments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_segments_brand_id_brands')),
    sa.ForeignKeyConstraint(['created_by'], ['staff.id'], name=op.f('fk_segments_created_by_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
    sa.UniqueConstraint('brand_id', 'name', name=op.f('uq_segments_brand_id_name'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('segment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('coupon_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('audience', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('launched_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_campaigns_brand_id_brands')),
    sa.ForeignKeyConstraint(['coupon_template_id'], ['coupon_templates.id'], name=op.f('fk_campaigns_coupon_template_id_coupon_templates')),
    sa.ForeignKeyConstraint(['launched_by'], ['staff.id'], name=op.f('fk_campaigns_launched_by_staff')),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_campaigns_segment_id_segments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_brand_id'), ['brand_id'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('friend_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('rewarded_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rewarded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('referrer_points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('friend_points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('friend_template_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_referrals_brand_id_brands')),
    sa.ForeignKeyConstraint(['friend_id'], ['members.id'], name=op.f('fk_referrals_friend_id_members')),
    sa.ForeignKeyConstraint(['referrer_id'], ['members.id'], name=op.f('fk_referrals_referrer_id_members')),
    sa.ForeignKeyConstraint(['rewarded_order_id'], ['orders.id'], name=op.f('fk_referrals_rewarded_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals')),
    sa.UniqueConstraint('friend_id', name=op.f('uq_referrals_friend_id'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_referrer_id'), ['referrer_id'], unique=False)

    # Columns are added in place (no table rebuild on SQLite, where other tables' keys point at
    # brands and members). Today's numbers become every brand's tier rules: top-up basis, ×1, ×1.2, ×1.5.
    op.add_column('brands', sa.Column('tier_basis', sa.String(length=10), nullable=False, server_default='TOP_UP'))
    op.add_column('brands', sa.Column('normal_points_pct', sa.Integer(), nullable=False, server_default='100'))
    op.add_column('brands', sa.Column('silver_points_pct', sa.Integer(), nullable=False, server_default='120'))
    op.add_column('brands', sa.Column('gold_points_pct', sa.Integer(), nullable=False, server_default='150'))
    op.add_column('members', sa.Column('total_spent', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False, server_default='0'))
    op.add_column('members', sa.Column('referral_code', sa.String(length=12), nullable=False, server_default=''))

    # What members spent so far, by the rule of domain.marketing.activity: every tender but count-card
    # sessions, less top-ups, net of refunds.
    op.execute(
        "UPDATE members SET total_spent = COALESCE((SELECT SUM(p.amount - p.refunded_amount) FROM order_payments p "
        "JOIN orders o ON o.id = p.order_id WHERE o.member_id = members.id AND o.paid_at IS NOT NULL AND p.method <> 'COUNT_CARD'), 0) "
        "- COALESCE((SELECT SUM(l.net_amount - l.refunded_amount) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.member_id = members.id AND o.paid_at IS NOT NULL AND l.kind = 'TOP_UP'), 0)"
    )
    # Every member already registered gets a referral code, as new members do.
    connection = op.get_bind()
    taken = set()
    for member_id, brand_id in connection.execute(sa.text("SELECT id, brand_id FROM members ORDER BY id")).all():
        code = _new_code()
        while (brand_id, code) in taken:
            code = _new_code()
        taken.add((brand_id, code))
        connection.execute(sa.text("UPDATE members SET referral_code = :c WHERE id = :i"), {"c": code, "i": member_id})
    op.create_index('ix_members_brand_id_referral_code', 'members', ['brand_id', 'referral_code'], unique=True)
    op.create_index('ix_orders_member_id_paid_at', 'orders', ['member_id', 'paid_at'], unique=False)


def _new_code() -> str:
    # The alphabet and length of domain.members.members.new_referral_code, fixed here as of this revision.
    return "".join(secrets.choice("23456789ABCDEFGHJKMNPQRSTUVWXYZ") for _ in range(8))


def downgrade() -> None:
    op.drop_index('ix_orders_member_id_paid_at', table_name='orders')
    op.drop_index('ix_members_brand_id_referral_code', table_name='members')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('referral_code')
        batch_op.drop_column('total_spent')

    with op.batch_alter_table('brands', schema=None) as batch_op:
        batch_op.drop_column('gold_points_pct')
        batch_op.drop_column('silver_points_pct')
        batch_op.drop_column('normal_points_pct')
        batch_op.drop_column('tier_basis')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_referrer_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_brand_id'))

    op.drop_table('campaigns')
    op.drop_table('segments')
    op.drop_table('referral_rewards')
