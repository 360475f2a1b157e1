"""Security incidents after connection (notice point 十): the register, the data and enterprises affected, the
actions taken, closure by a second person, reporting up to the parent node."""
