"""Running a node: backups and restore (issue 24). Above every domain, below the root command."""
