"""The exported SDL and the migrations agree with the code."""


from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from domain.models import metadata
from meiye import SCHEMA_FILES
from schema.root import build_customer_schema, build_staff_schema


def test_staff_sdl_file_matches_the_schema():
    exported = SCHEMA_FILES["staff"].read_text(encoding="utf-8")
    assert exported == build_staff_schema().as_str() + "\n", "schema drifted: run `.venv/bin/meiye export-schema` and commit"


def test_customer_sdl_file_matches_the_schema():
    exported = SCHEMA_FILES["customer"].read_text(encoding="utf-8")
    assert exported == build_customer_schema().as_str() + "\n", "schema drifted: run `.venv/bin/meiye export-schema` and commit"


def test_customer_schema_exposes_no_staff_or_other_members():
    sdl = build_customer_schema().as_str()
    for leak in ("type Staff", "username", "auditLog", "members(", "type Member "):
        assert leak not in sdl, leak


async def test_migrations_create_exactly_the_tables_the_code_declares(engine):
    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
        return compare_metadata(context, metadata)

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == [], "models changed without a migration: add one under migrations/versions"


def test_money_is_never_a_float_in_the_schema():
    for sdl in (build_staff_schema().as_str(), build_customer_schema().as_str()):
        assert "Float" not in sdl
