"""HTML pages of the rights domain, one module per concern."""
