"""Oversight (notice points 十七, 十八): indicators as data, the ranking of cities, progress reports up the network, monitoring of banks, 督办."""
