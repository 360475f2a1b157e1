"""Credit products: point-in-time features, the public credit evaluation, scorecards, credit reports and
white lists (points 8 and 13 of the notice)."""
