"""Policy money (notice point 十四): interest subsidies, guarantee-fee subsidies and risk-compensation pools on the market's loans."""
