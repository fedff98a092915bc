"""access: idempotency keys per sender, token versions, login throttling

Keys from before this revision belong to no sender ('') and so never replay again: they guarded
retries of requests long finished. Staff lose their account-wide lockout (failed_logins,
locked_until), which let anyone lock anyone out; login_failures counts per username and address.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:01:18.057211
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    sa.UniqueConstraint('username', 'address', name=op.f('uq_login_failures_username_address'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_address_last_failed_at', ['address', 'last_failed_at'], unique=False)

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=40), nullable=False, server_default=''))
        batch_op.drop_constraint(batch_op.f('uq_idempotency_keys_brand_id_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_idempotency_keys_brand_id_sender_key'), ['brand_id', 'sender', 'key'])
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.alter_column('sender', server_default=None)

    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('locked_until')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.alter_column('token_version', server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_column('token_version')

    # Fails if two senders used the same key since the upgrade: the old table cannot hold both.
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_idempotency_keys_brand_id_sender_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_idempotency_keys_brand_id_key'), ['brand_id', 'key'])
        batch_op.drop_column('sender')

    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_address_last_failed_at')

    op.drop_table('login_failures')
