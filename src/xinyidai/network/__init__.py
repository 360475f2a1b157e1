"""The node network: peers and their onboarding, signed and encrypted envelopes, outbox and inbox, the
upload / download / feedback flows, reconciliation, and the service, file and pull modes (GB/T 39443)."""
