"""The financing market: products, financing needs and offers, applications, loans, repayment reports,
default response and post-loan alerts (points 十二 and 十三 of the notice). See docs/market-design.md."""
