"""The app with an inbox that answers without storing: bench/webhook_ingest.py's no-store ceiling
(the same HTTP path, signature check and answer, minus the INSERT and its commit)."""

from fundraiser import create_app
from fundraiser.payments.inbox import Inbox

Inbox.store = lambda self, row: True
app = create_app()
