"""Entry point for gunicorn: `gunicorn wsgi:app`."""

from fundraiser import create_app, ready_to_serve

app = ready_to_serve(create_app())
