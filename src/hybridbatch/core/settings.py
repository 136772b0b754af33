"""Config sections into settings objects: a key the object does not read is refused by name, so a
renamed or misspelled setting cannot fall back to its default without a word."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from hybridbatch.core.errors import ConfigError

Settings = TypeVar("Settings")


def settings_from(kind: type[Settings], values: Mapping[str, Any], section: str, **fixed: Any) -> Settings:
    """`kind` (a dataclass) from the config section `section` (`values`) plus `fixed` fields."""
    known = {field.name for field in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{section}: no setting named {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))})")
    return kind(**{**values, **fixed})
