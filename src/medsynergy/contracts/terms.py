"""The base of every contract term model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown fields are errors (a misspelt term must not be ignored); specs are
    immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
