"""Pages of data governance, a module per concern: the sources the node pulls from, the quality runs with their
findings and the providers' scorecards, and the tickets (for the platform's staff and for the departments)."""
