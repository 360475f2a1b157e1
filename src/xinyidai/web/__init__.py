"""The web shell every page uses: templating and formatting, request dependencies, errors, headers."""
