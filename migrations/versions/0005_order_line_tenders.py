"""order line tenders: which payment paid which line

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 06:18:23.526564
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('order_line_tenders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refunded', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_order_line_tenders_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['order_payment_id'], ['order_payments.id'], name=op.f('fk_order_line_tenders_order_payment_id_order_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_line_tenders'))
    )
    with op.batch_alter_table('order_line_tenders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_line_tenders_order_line_id'), ['order_line_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('order_line_tenders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_line_tenders_order_line_id'))

    op.drop_table('order_line_tenders')
