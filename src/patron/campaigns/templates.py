"""Personalised message templates in a sandbox.

Templates are Jinja in :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with no globals, no
filters beyond a short safe list and :class:`~jinja2.StrictUndefined`: a template sees only the names of
:data:`CONTEXT_FIELDS`, holding plain strings, numbers, lists and dicts. Reaching for anything else
(``{{ ''.__class__ }}``, ``{{ first_name.upper.__globals__ }}``, an unknown name) fails, and the failure
becomes a 422 naming the variant's field.

Bodies are plain text on every channel; the e-mail channel escapes the text once when it builds the HTML
part, so a value holding ``<script>`` arrives as text, never as markup.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from patron.core.errors import Invalid

#: every name a template may use, with what it holds
CONTEXT_FIELDS: dict[str, str] = {
    "first_name": "the customer's first name",
    "last_name": "the customer's last name",
    "points": "the customer's loyalty points balance",
    "recommended_products": "names of up to three products recommended to the customer",
    "nearest_place": "the customer's saved place nearest to the trigger's position: label, distance_m",
    "shop": "the shop named by the trigger (its `shop` datum, else its geofence)",
    "trigger": "the trigger's data (text values)",
    "campaign": "the campaign's name",
}
#: filters a template may use; each only formats values
SAFE_FILTERS = ("default", "first", "join", "length", "lower", "upper", "title", "capitalize", "round", "int",
                "trim", "truncate", "replace", "format")  # fmt: skip
MAX_OUTPUT = 10_000


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in SAFE_FILTERS}
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number", "string")}
    return env


ENV = _environment()


@lru_cache(maxsize=256)
def _compile(source: str):
    return ENV.from_string(source)


def _loop_names(parsed: nodes.Template) -> set[str]:
    return {n.name for node in parsed.find_all(nodes.For) for n in node.target.find_all(nodes.Name)}


def check_template(source: str, *, field: str) -> set[str]:
    """Parse ``source``; the context names it uses. Invalid (naming ``field``) for a syntax error or a
    name outside :data:`CONTEXT_FIELDS`."""
    try:
        parsed = ENV.parse(source)
        used = meta.find_undeclared_variables(parsed)
    except TemplateError as exc:
        raise Invalid(f"The template does not parse: {exc}.", field=field) from None
    unknown = sorted(used - set(CONTEXT_FIELDS))
    if unknown:
        raise Invalid(f"Unknown name '{unknown[0]}' in the template; use one of {', '.join(CONTEXT_FIELDS)}.",
                      field=field)  # fmt: skip
    try:
        _compile(source)
    except TemplateError as exc:
        raise Invalid(f"The template does not compile: {exc}.", field=field) from None
    return set(used) - _loop_names(parsed)


def render(source: str, context: dict[str, Any], *, field: str) -> str:
    """Render ``source`` with ``context`` in the sandbox; Invalid (naming ``field``) when the template
    reaches outside it or fails."""
    try:
        text = _compile(source).render(**context)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        raise Invalid(
            f"The template cannot be rendered: {exc.__class__.__name__}: {exc}"[:300], field=field
        ) from None
    if len(text) > MAX_OUTPUT:
        raise Invalid(f"The rendered text is longer than {MAX_OUTPUT} characters.", field=field)
    return text


def sample_context() -> dict[str, Any]:
    """A context with every field filled, to try a template before it is saved."""
    return {
        "first_name": "Ada", "last_name": "Lovelace", "points": 120,
        "recommended_products": ["Travel mug", "Rain jacket", "Bike light"],
        "nearest_place": {"label": "Home", "distance_m": 350}, "shop": "Shop Mitte",
        "trigger": {"shop": "Shop Mitte"}, "campaign": "Sample",
    }  # fmt: skip
