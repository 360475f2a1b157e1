"""Credit records with provenance and versions, and the loading of deliveries from departments."""
