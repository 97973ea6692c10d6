"""X-Forwarded-* headers are honoured only from the configured number of proxies."""

from flask import request

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "give.example.org", "X-Forwarded-For": "203.0.113.9"}


def _seen(app):
    @app.get("/_seen")
    def seen():
        return {"url": request.url, "addr": request.remote_addr}

    return app.test_client().get("/_seen", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_json()


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(make_app):
    seen = _seen(make_app())
    assert seen == {"url": "http://localhost/_seen", "addr": "10.0.0.2"}


def test_one_trusted_proxy_gives_the_public_scheme_host_and_client(make_app):
    seen = _seen(make_app(PROXY_COUNT="1"))
    assert seen == {"url": "https://give.example.org/_seen", "addr": "203.0.113.9"}
