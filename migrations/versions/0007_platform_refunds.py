"""platform refunds: refunds owed back through WeChat Pay and Alipay

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:01:48.359504
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('platform_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('store_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('intent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('out_trade_no', sa.String(length=64), nullable=False),
    sa.Column('out_refund_no', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('platform_status', sa.String(length=40), nullable=True),
    sa.Column('platform_refund_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_platform_refunds_brand_id_brands')),
    sa.ForeignKeyConstraint(['intent_id'], ['payment_intents.id'], name=op.f('fk_platform_refunds_intent_id_payment_intents')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_platform_refunds_refund_id_refunds')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_platform_refunds_store_id_stores')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_platform_refunds_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_refunds')),
    sa.UniqueConstraint('channel', 'out_refund_no', name=op.f('uq_platform_refunds_channel_out_refund_no'))
    )
    with op.batch_alter_table('platform_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_refunds_intent_id'), ['intent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_platform_refunds_refund_id'), ['refund_id'], unique=False)
        batch_op.create_index('ix_platform_refunds_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('platform_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_platform_refunds_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_platform_refunds_refund_id'))
        batch_op.drop_index(batch_op.f('ix_platform_refunds_intent_id'))

    op.drop_table('platform_refunds')
