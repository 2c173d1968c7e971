"""``${VAR}`` references: how a setup file holds secrets without containing them.

A secret field (a destination's URL, a header value, a signing secret, a Clay
webhook's URL or auth value) may be, or contain, ``${NAME}``; ``apply`` reads ``NAME``
from the environment. Pure apart from the mapping of variables passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def names(value: str) -> list[str]:
    """The variables ``value`` refers to."""
    return REFERENCE.findall(value)


class Unset(Exception):
    """A referenced variable is not set; ``name`` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def resolve(value: str, environ: Mapping[str, str]) -> str:
    """``value`` with each reference replaced; :class:`Unset` names a missing variable."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise Unset(name)
        return environ[name]

    return REFERENCE.sub(one, value)


def variable_for(*parts: str) -> str:
    """The variable name ``export`` writes for a secret (``CRM_URL``)."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper()
    return words if not words[:1].isdigit() else f"_{words}"


def reference(*parts: str) -> str:
    """``${VARIABLE}`` for :func:`variable_for`'s name."""
    return "${" + variable_for(*parts) + "}"
