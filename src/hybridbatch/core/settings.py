"""Config sections into settings objects: a key the object does not read is refused by name, so a
renamed or misspelled setting cannot fall back to its default without a word."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from hybridbatch.core.errors import ConfigError

Settings = TypeVar("Settings")


def settings_from(kind: type[Settings], values: Mapping[str, Any], section: str, *, complete: bool = False, **fixed: Any) -> Settings:
    """`kind` (a dataclass) from the config section `section` (`values`) plus `fixed` fields.
    `complete`: every field not fixed must be given (a section the workflow passes whole)."""
    known = {field.name for field in dataclasses.fields(kind)}
    if unknown := sorted(set(values) - known):
        raise ConfigError(f"{section}: no setting named {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})")
    if complete and (missing := sorted(known - set(values) - set(fixed))):
        raise ConfigError(f"{section}: {', '.join(missing)} missing")
    return kind(**{**values, **fixed})
