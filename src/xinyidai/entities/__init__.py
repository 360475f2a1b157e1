"""Market entities (市场主体) keyed by the unified social credit code, and the platform's users."""
