"""The shortcuts tests/conftest.py takes to build an app per test cheaply still build the same app."""

from __future__ import annotations

from tests.conftest import WERKZEUG_COMPILE_BUILDER


def _built(builder, values: dict) -> tuple[str, str] | str:
    try:
        return builder(**values)
    except (ValueError, TypeError) as exc:  # a converter refusing the value: the same refusal is the same answer
        return type(exc).__name__


def test_every_rule_builds_the_url_werkzeugs_own_builder_builds(make_app):
    """The URL builders shared across the run's apps give what Werkzeug compiles for this app's
    own rules, for path values and for extra query values alike (a Werkzeug that built URLs from
    something the shared builders' key leaves out would fail here)."""
    app = make_app()
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 50
    for rule in rules:
        values = {name: 7 for name in rule.arguments}
        for append_unknown in (False, True):
            own = WERKZEUG_COMPILE_BUILDER(rule, append_unknown).__get__(rule, None)
            shared = rule._compile_builder(append_unknown).__get__(rule, None)
            extra = {"q": "a b&c", "page": 2} if append_unknown else {}
            assert _built(shared, {**values, **extra}) == _built(own, {**values, **extra}), rule.rule
