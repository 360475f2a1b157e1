"""The ASGI entry point for uvicorn: settings from the environment, one app per worker process."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from xinyidai.config import load_settings
from xinyidai.web.app import create_app


def app() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(load_settings())
