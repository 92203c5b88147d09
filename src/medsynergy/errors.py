"""One exception hierarchy for medsynergy.

    MedsynergyError                 anything medsynergy raises on purpose
    ├── UserError                   the user can fix it; the CLI prints one line, exit 2
    │   ├── InputFileError          a file cannot be read or is not in a known layout
    │   │   ├── MissingColumnsError a file lacks required columns (refused whole)
    │   │   ├── UnreadableFileError the bytes are not a readable CSV / Parquet file
    │   │   └── ContractError       a contract spec is not valid (file, field path, expected)
    │   ├── ConfigError             settings or arguments are wrong
    │   └── EngineUnavailableError  the requested engine is not installed or cannot start
    └── WarehouseError              the warehouse is in a state medsynergy did not expect
"""

from __future__ import annotations

from collections.abc import Sequence


class MedsynergyError(Exception):
    """Base class of every error medsynergy raises on purpose."""


class UserError(MedsynergyError):
    """An error the user can fix; shown as one line, exit code 2."""


class InputFileError(UserError):
    """A file that cannot be used as given."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class MissingColumnsError(InputFileError):
    def __init__(self, path: str, table: str, missing: Sequence[str]) -> None:
        self.table = table
        self.missing = tuple(missing)
        super().__init__(
            path, f"missing required column(s) for {table}: {', '.join(self.missing)}"
        )


class UnreadableFileError(InputFileError):
    pass


class ContractError(InputFileError):
    """A contract spec that does not validate: each problem as `field.path: what was
    expected (got ...)`."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(path, "invalid contract: " + "; ".join(self.problems))


class ConfigError(UserError):
    pass


class EngineUnavailableError(UserError):
    pass


class WarehouseError(MedsynergyError):
    pass
