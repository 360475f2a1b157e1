"""The market's pages for people: the enterprise (`enterprise.py`: products, applying, 我的融资), the bank
(`bank.py`: products, the application queue, needs, post-loan alerts) and the platform's staff (`staff.py`:
product review, every application, default cases). They call the same services as the JSON API; `common.py`
turns rows into what the templates show, so the three portals describe an application the same way."""
