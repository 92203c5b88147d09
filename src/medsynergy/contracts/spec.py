"""Contract specs: YAML files validated by pydantic.

Every model is `extra="forbid"`: a misspelt term is an error, not a silently ignored
line. Money and rates are `Decimal` (rates are fractions: 0.5, not 50). An invalid file
raises ContractError naming the file, each field path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from medsynergy.contracts.bonus_pool import BonusPoolSpec
from medsynergy.contracts.bundles import BundleSpec
from medsynergy.contracts.capitation import CapitationSpec
from medsynergy.contracts.corridor import CorridorSpec
from medsynergy.contracts.ffs import FfsSpec
from medsynergy.contracts.shared_savings import SharedSavingsSpec
from medsynergy.contracts.transfer_pricing import TransferPricingSpec
from medsynergy.errors import ContractError, UnreadableFileError

#: Every contract model, told apart by its `model` field.
AnySpec = (FfsSpec | CapitationSpec | BundleSpec | SharedSavingsSpec | CorridorSpec
           | BonusPoolSpec | TransferPricingSpec)
ContractSpec = Annotated[AnySpec, Field(discriminator="model")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ContractSpec)


def parse_contract(data: Any, path: str = "<contract>") -> AnySpec:
    """A validated contract from parsed YAML/JSON data; `path` names it in errors."""
    try:
        spec: AnySpec = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ContractError(path, [_problem(e) for e in exc.errors()]) from None
    return spec


def load_contract(path: str | Path) -> AnySpec:
    """Read and validate one contract file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UnreadableFileError(str(p), f"cannot read contract: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UnreadableFileError(str(p), f"not valid YAML: {exc}") from None
    return parse_contract(data, str(p))


def _problem(error: Any) -> str:
    where = ".".join(str(x) for x in error["loc"]) or "(top level)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{where}: {error['msg']}{shown}"
