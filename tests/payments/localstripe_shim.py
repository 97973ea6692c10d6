"""localstripe, taught two PaymentIntent fields real Stripe has and localstripe 1.x refuses
("Unexpected description, statement_descriptor_suffix"): it keeps and returns them, as Stripe does.

Run as a script (the localstripe fixture does): `python localstripe_shim.py --port N --from-scratch`.
Only the fake server is changed; the app talks to it exactly as to Stripe.
"""

from __future__ import annotations

from localstripe import resources, server

_plain_init = resources.PaymentIntent.__init__


def _init(self, description=None, statement_descriptor_suffix=None, **kwargs):
    _plain_init(self, **kwargs)
    self.description = description
    self.statement_descriptor_suffix = statement_descriptor_suffix


resources.PaymentIntent.__init__ = _init

if __name__ == "__main__":
    server.start()
