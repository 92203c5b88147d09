"""Finding input files and reading them as batches, each row numbered.

A CSV is read as strings (typing happens in the warehouse, where a value that does not
parse can be reported against its row instead of failing the file). A Parquet column whose
type already is a date, an integer or a decimal keeps it (`native_type`): its value needs
no parsing, and turning it into text only to parse it back cost most of a large load.
Every other Parquet column is read as its text. Rows are numbered 1, 2, ... in file order,
the header not counted, so a message can point at the row.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medsynergy.errors import InputFileError, UnreadableFileError
from medsynergy.schema import INPUT_TABLES, Table

ROW_NUMBER = "row_number"
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 64_000


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputFileError(str(path), "unknown file type: expected .csv, .csv.gz, .tsv or .parquet")


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files named by `paths`: a file, a folder (its CSV and Parquet files), or a glob."""
    found: list[Path] = []
    for p in paths:
        text = str(p)
        path = Path(text)
        if path.is_dir():
            files = sorted(
                f for f in path.rglob("*")
                if f.is_file() and f.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)
            )
            if not files:
                raise InputFileError(text, "folder holds no .csv or .parquet files")
            found.extend(files)
        elif path.is_file():
            found.append(path)
        elif any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputFileError(text, "no file matches this pattern")
            found.extend(matches)
        else:
            raise InputFileError(text, "no such file or folder")
    return found


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalise(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


def _csv_delimiter(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a CSV, each line decoded on its own so that an invalid byte
    is reported on its line, not on the block it happens to be read with."""
    with pa.input_stream(str(path), compression="detect") as raw:
        buffered = io.BufferedReader(raw, buffer_size=1 << 20)
        for number, line in enumerate(buffered, start=1):
            try:
                text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(
                    str(path), f"unreadable CSV at line {number}: not valid UTF-8 ({exc.reason} "
                    f"at byte {exc.start})") from exc
            yield number, text


def _csv_header(path: Path) -> list[str]:
    try:
        lines = (text for _, text in _decoded_lines(path))
        header = next(csv.reader(lines, delimiter=_csv_delimiter(path)), None)
    except (csv.Error, OSError, pa.ArrowException) as exc:
        raise UnreadableFileError(str(path), f"unreadable CSV header: {exc}") from exc
    if not header or all(not h.strip() for h in header):
        raise UnreadableFileError(str(path), "unreadable CSV: the file is empty or has no header row")
    return header


def read_columns(path: Path) -> list[str]:
    """The file's column names, normalised (trimmed, lower case)."""
    if file_format(path) == "parquet":
        try:
            names = pq.read_schema(str(path)).names
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableFileError(str(path), f"unreadable Parquet file: {exc}") from exc
    else:
        names = _csv_header(path)
    normalised = [_normalise(n) for n in names]
    if any(not n for n in normalised):
        raise UnreadableFileError(str(path), "a column in the header has no name")
    dupes = sorted({n for n in normalised if normalised.count(n) > 1})
    if dupes:
        raise UnreadableFileError(str(path), f"duplicate column name(s): {', '.join(dupes)}")
    if ROW_NUMBER in normalised:
        raise UnreadableFileError(str(path), f"column name {ROW_NUMBER!r} is reserved")
    return normalised


def native_type(typ: pa.DataType) -> pa.DataType | None:
    """The type a Parquet column keeps when staged, or None: it is read as its text.

    Dates, integers and decimals: values no text parse could improve on (a date64 is the
    same day as a date32). Timestamps, floats, booleans and the rest are read as text, as
    a CSV would give them, so the parse rules decide (a timestamp's date, '3.0' as 3).
    """
    if pa.types.is_date(typ):
        return pa.date32()
    if pa.types.is_integer(typ) or pa.types.is_decimal(typ):
        return typ
    return None


@dataclass
class TextBatches:
    """A file read as batches with a row_number column: strings, but for the native
    columns of a Parquet file (`native`, name -> type kept).

    Errors met while streaming are kept in `error`, because the batches are consumed
    inside the engine, which would otherwise report them in its own words.
    """

    path: Path
    columns: list[str]
    native: dict[str, pa.DataType] = field(default_factory=dict)
    source_names: list[str] = field(default_factory=list)  # as spelled in the file
    rows_read: int = 0
    error: UnreadableFileError | None = field(default=None)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(ROW_NUMBER, pa.int64()),
                          *[(c, self.native.get(c, pa.string())) for c in self.columns]])

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def _number(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        numbers = pa.array(range(self.rows_read + 1, self.rows_read + n + 1), type=pa.int64())
        self.rows_read += n
        cols = [numbers]
        schema = self.schema
        for col, f in zip(batch.columns, list(schema)[1:], strict=True):
            cols.append(col if col.type == f.type else pc.cast(col, f.type))
        return pa.RecordBatch.from_arrays(cols, schema=schema)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        kind = file_format(self.path)
        try:
            source = self._parquet() if kind == "parquet" else self._csv()
            for batch in source:
                yield self._number(batch)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            found = locate_csv_error(self.path) if kind == "csv" else None
            where = f"at {found}" if found else f"after data row {self.rows_read}"
            what = "Parquet file" if kind == "parquet" else "CSV"
            self.error = UnreadableFileError(str(self.path), f"unreadable {what} {where}: {exc}")
            raise self.error from exc

    def _csv(self) -> Iterator[pa.RecordBatch]:
        raw_names = _csv_header(self.path)
        reader = pacsv.open_csv(
            pa.input_stream(str(self.path), compression="detect"),
            read_options=pacsv.ReadOptions(column_names=raw_names, skip_rows=1,
                                           block_size=8 << 20),
            parse_options=pacsv.ParseOptions(delimiter=_csv_delimiter(self.path),
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in raw_names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        yield from reader

    def _parquet(self) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(str(self.path))
        for field_ in pf.schema_arrow:
            if pa.types.is_nested(field_.type):
                raise UnreadableFileError(
                    str(self.path), f"column {field_.name} has a nested type ({field_.type})"
                )
        yield from pf.iter_batches(batch_size=BATCH_ROWS)


def locate_csv_error(path: Path) -> str | None:
    """Where a CSV first breaks, "data row N (line L): ...", for the error message.

    Only on the error path: Arrow says what is wrong but not where. Rows are counted as the
    csv module reads them (a quoted field may span lines), the header not counted.
    """
    width = len(_csv_header(path))
    numbered = _decoded_lines(path)
    line = [0]

    def lines() -> Iterator[str]:
        for number, text in numbered:
            line[0] = number
            yield text

    try:
        reader = csv.reader(lines(), delimiter=_csv_delimiter(path), strict=True)
        next(reader, None)
        for row, fields in enumerate(reader, start=1):
            if fields and len(fields) != width:
                return f"data row {row} (line {line[0]}): {len(fields)} fields, header has {width}"
    except UnreadableFileError as exc:
        return exc.reason.removeprefix("unreadable CSV at ")
    except (csv.Error, OSError, pa.ArrowException):
        return None
    return None


def open_text(path: Path) -> TextBatches:
    columns = read_columns(path)
    if file_format(path) != "parquet":
        return TextBatches(path=path, columns=columns)
    schema = pq.read_schema(str(path))  # read_columns has read it once: it is readable
    native = {c: t for c, f in zip(columns, schema, strict=True)
              if (t := native_type(f.type)) is not None}
    return TextBatches(path=path, columns=columns, native=native, source_names=schema.names)


def detect_table(path: Path, columns: Sequence[str], tables: Sequence[Table] = INPUT_TABLES) -> Table:
    """The canonical table a file is for: by its name first, else by its columns."""
    stem = path.name.lower()
    by_name = [t for t in tables if stem.startswith(t.name) or f"_{t.name}" in stem]
    if len(by_name) == 1:
        return by_name[0]
    cols = set(columns)
    candidates = [t for t in tables if set(t.required_input_columns) <= cols]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        scored = sorted(
            ((len(cols & set(t.column_names)), t.name, t) for t in candidates), reverse=True
        )
        if scored[0][0] > scored[1][0]:
            return scored[0][2]
    names = ", ".join(t.name for t in tables)
    raise InputFileError(
        str(path), f"cannot tell which table this file is for; pass --table (one of {names})"
    )
