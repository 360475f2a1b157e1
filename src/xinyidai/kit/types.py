"""Column types shared by the models."""

from sqlalchemy import BigInteger, Integer, String

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def Code(length: int) -> String:  # noqa: N802 - reads as a column type
    """Identifiers (credit codes, category codes, record keys): byte order, not a language's collation.
    On PostgreSQL "C" makes their indexes compare with memcmp, several times faster than a locale's rules."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")
