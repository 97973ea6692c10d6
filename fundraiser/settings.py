"""Access to the validated settings of the running app."""

from flask import current_app

from .config import Settings


def current_settings() -> Settings:
    return current_app.extensions["fundraiser.settings"]
