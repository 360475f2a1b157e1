"""The kit: database, errors, clock, digests and paging shared by every domain."""
