"""Data governance (信息清单之外的数据治理): pulling departments' data from their front databases and REST
interfaces, quality rules as data run every day, providers' scorecards, and tickets that carry a problem to the
providing department until a re-check closes it."""
