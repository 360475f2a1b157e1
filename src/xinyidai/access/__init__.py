"""Authorized sharing with financial institutions: authorizations (电子授权书), authorized query, verification
(核验比对), masking policies, access audit and anomaly rules."""
