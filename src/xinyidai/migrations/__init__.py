"""Alembic migrations, shipped inside the package so `xinyidai db upgrade` works from an install."""
