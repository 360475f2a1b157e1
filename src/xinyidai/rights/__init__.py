"""The enterprise's rights (企业权益): objections to records about it (异议), credit repair of penalties
(信用修复), its own information and credit commitments (企业自报、信用承诺), the move from the national
platform's provincial site (整体迁移)."""
