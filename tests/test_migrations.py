"""The migrations build exactly the schema the models describe (no drift between them)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xinyidai.kit import migrate
from xinyidai.models import metadata


def test_models_and_migrations_agree(db) -> None:  # noqa: ANN001
    assert migrate.current_revision(db.engine) is not None
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []


def test_upgrade_is_repeatable(db) -> None:  # noqa: ANN001
    before = migrate.current_revision(db.engine)
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == before
