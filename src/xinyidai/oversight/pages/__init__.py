"""Pages of oversight: the ranking of cities (`ranking`), the banks (`banks`), 督办 (`tasks`) and progress reports (`reports`)."""
