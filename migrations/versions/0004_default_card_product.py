"""brand default card product for mini-program top-ups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:10:06.884504
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('brands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_card_product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('brands', schema=None) as batch_op:
        batch_op.drop_column('default_card_product_id')

