"""The audit page is read as a person reads it: the web tests' app and logged-in clients."""

from tests.web.conftest import app, login  # noqa: F401 - fixtures
