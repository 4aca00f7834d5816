"""A parser for the lavaan model syntax subset used by CB-SEM and PLS-SEM.

Supported: ``=~`` (latent variable definition), ``~`` (regression), ``~~`` (variance/covariance), several
right-hand terms joined by ``+``, numeric fixing modifiers (``1*x1``, ``0*x2``), ``NA*x`` (free a marker
loading), statements separated by new lines or ``;`` and comments starting with ``#`` or ``!``.
Not supported (a :class:`ModelSpecificationError` says so): labels and equality constraints, ``:=``
defined parameters, intercepts (``~ 1``), thresholds and constraints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from patron.stats._validation import ModelSpecificationError

__all__ = ["ModelStatement", "parse_model"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_OPS = ("=~", "~~", "~")


@dataclass(frozen=True)
class ModelStatement:
    """One parameter of the model as written: ``lhs op rhs`` with an optional fixed value.

    ``fixed`` is a number when the term was written ``value*name``, ``None`` when it is free (or left to the
    defaults), and ``free_marker`` is True for ``NA*name`` (free a loading that would be fixed to 1).
    """

    lhs: str
    op: str
    rhs: str
    fixed: float | None = None
    free_marker: bool = False
    line: int = 0


def _split_op(statement: str, line: int) -> tuple[str, str, str]:
    for op in _OPS:
        # "~" must not match inside "=~" or "~~"; test the two-character operators first.
        idx = statement.find(op)
        if idx < 0:
            continue
        if op == "~" and ("=~" in statement or "~~" in statement):
            continue
        return statement[:idx].strip(), op, statement[idx + len(op) :].strip()
    if ":=" in statement or "==" in statement or "<" in statement or ">" in statement or "|" in statement:
        raise ModelSpecificationError(
            f"line {line}: defined parameters, constraints and thresholds are not supported: {statement!r}"
        )
    raise ModelSpecificationError(f"line {line}: no operator (=~, ~ or ~~) in {statement!r}")


def _parse_term(term: str, line: int) -> tuple[str, float | None, bool]:
    term = term.strip()
    if not term:
        raise ModelSpecificationError(f"line {line}: empty term (a stray '+'?)")
    if "*" in term:
        modifier, _, name = term.partition("*")
        modifier, name = modifier.strip(), name.strip()
        if "*" in name:
            raise ModelSpecificationError(f"line {line}: more than one modifier in {term!r}")
        if not _NAME.match(name):
            raise ModelSpecificationError(f"line {line}: {name!r} is not a valid variable name")
        if modifier.upper() == "NA":
            return name, None, True
        try:
            return name, float(modifier), False
        except ValueError:
            raise ModelSpecificationError(
                f"line {line}: labels and equality constraints ({modifier!r}*{name}) are not supported; "
                "use a number to fix the parameter"
            ) from None
    if term == "1":
        raise ModelSpecificationError(f"line {line}: intercepts (~ 1) are not supported")
    if not _NAME.match(term):
        raise ModelSpecificationError(f"line {line}: {term!r} is not a valid variable name")
    return term, None, False


def parse_model(model: str) -> list[ModelStatement]:
    """Parse lavaan-style model syntax into statements.

    Parameters
    ----------
    model : str
        E.g. ``"visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6"``.

    Returns
    -------
    list of ModelStatement

    Examples
    --------
    >>> [(s.lhs, s.op, s.rhs) for s in parse_model("f =~ a + b + c; f ~ x")]
    [('f', '=~', 'a'), ('f', '=~', 'b'), ('f', '=~', 'c'), ('f', '~', 'x')]
    """
    if not isinstance(model, str) or not model.strip():
        raise ModelSpecificationError("the model is empty")
    statements: list[ModelStatement] = []
    # Join continuation lines: a line ending in an operator or "+" continues on the next one.
    raw_lines = model.splitlines()
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(raw_lines, start=1):
        text = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not text:
            continue
        if buffer:
            buffer += " " + text
        else:
            buffer, start = text, number
        if buffer.endswith(("+", "=~", "~", "*")):
            continue
        logical.append((start, buffer))
        buffer = ""
    if buffer:
        raise ModelSpecificationError(f"line {start}: the statement {buffer!r} is incomplete")
    for number, text in logical:
        for statement in text.split(";"):
            statement = statement.strip()
            if not statement:
                continue
            lhs, op, rhs = _split_op(statement, number)
            if not _NAME.match(lhs):
                raise ModelSpecificationError(f"line {number}: {lhs!r} is not a valid variable name")
            if not rhs:
                raise ModelSpecificationError(f"line {number}: nothing on the right of {op!r}")
            for term in rhs.split("+"):
                name, fixed, free_marker = _parse_term(term, number)
                if op == "=~" and name == lhs:
                    raise ModelSpecificationError(f"line {number}: {lhs!r} cannot measure itself")
                if op == "~" and name == lhs:
                    raise ModelSpecificationError(f"line {number}: {lhs!r} cannot be regressed on itself")
                statements.append(ModelStatement(lhs, op, name, fixed, free_marker, number))
    if not statements:
        raise ModelSpecificationError("the model has no statements")
    seen = set()
    for s in statements:
        key = (s.lhs, s.op, s.rhs) if s.op != "~~" else (min(s.lhs, s.rhs), s.op, max(s.lhs, s.rhs))
        if key in seen:
            raise ModelSpecificationError(f"line {s.line}: {s.lhs} {s.op} {s.rhs} is specified twice")
        seen.add(key)
    return statements
