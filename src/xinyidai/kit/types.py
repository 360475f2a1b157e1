"""Column types shared by the models."""

from sqlalchemy import BigInteger, Integer

# SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")
