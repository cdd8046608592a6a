"""CSV and JSON Lines read line by line: a bad line costs itself, never its neighbours.

The file is read as bytes, one physical line at a time (at most :data:`MAX_LINE_BYTES`), and
handed to the parser in blocks of ``chunk_rows`` lines:

- a line that does not parse (too many fields, bad UTF-8, broken JSON, not a JSON object)
  is quarantined with its line number and the parser's reason; the other lines of its block
  are stored (a CSV block that fails is split in halves until the bad lines are isolated);
- a line longer than :data:`MAX_LINE_BYTES` is skipped without being held in memory, and
  quarantined with its length; a line with a NUL byte is quarantined (a NUL would otherwise
  silently cut the value short);
- a CSV value in quotes may span lines; a quote that is never closed quarantines only the
  line that opened it, and lines joined by quotes that then do not parse are parsed one by one;
- only keys and columns the model declares are kept (undeclared ones are dropped before a
  frame is built, so many distinct extra keys cost no memory);
- a last line without its newline is an incomplete write: it is read only when the caller
  says the file is complete (unchanged for the source's ``settle`` time). :attr:`end` and
  :attr:`lines` say how far the complete lines went, so a growing file is read on from there.
"""

from __future__ import annotations

import gzip
import io
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from monitor.config import ModelConfig
from monitor.ingest.validate import MAX_RAW_CHARS, Rejected

#: Longest line read; a longer one is skipped and quarantined with its length.
MAX_LINE_BYTES = 1 << 20


class UnreadableFileError(ValueError):
    """A file could not be parsed in its format."""

    def __init__(self, path: str, fmt: str, after_rows: int, detail: str) -> None:
        super().__init__(f"{path}: unreadable {fmt} file after {after_rows:,} rows: {detail}")
        self.after_rows = after_rows


def declared_columns(model: ModelConfig) -> list[str]:
    """Every column a model's files may carry (anything else is dropped on reading)."""
    names = [model.id_column, model.timestamp_column, model.prediction_column, model.label_column]
    if model.score_column:
        names.append(model.score_column)
        names += [f"{model.score_column}_{c}" for c in model.classes or []]
    names += [c for c in (model.latency_column, model.error_column, model.version_column) if c]
    names += model.feature_columns
    return list(dict.fromkeys(names))


def records_frame(rows: list[dict[str, Any]], wanted: list[str]) -> pd.DataFrame:
    """A frame of the declared keys of ``rows`` (other keys are never materialised)."""
    keep = set(wanted)
    slim = [{k: v for k, v in row.items() if k in keep} for row in rows]
    seen = {k for row in slim for k in row}
    columns = [c for c in wanted if c in seen]
    if not columns:  # no declared key at all: the rows still count (and fail validation)
        return pd.DataFrame(index=range(len(rows)))
    return pd.DataFrame.from_records(slim, columns=columns)


@dataclass
class Chunk:
    """Rows read from a file (with their line numbers, for text files) and lines that did not parse."""

    frame: pd.DataFrame
    lines: np.ndarray | None = None
    bad: Rejected = field(default_factory=Rejected)


def _shown(raw: bytes) -> str:
    text = raw[: MAX_RAW_CHARS * 4].decode("utf-8", "backslashreplace").rstrip("\r\n")
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "..."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at position {exc.start})"
    text = str(exc).strip().splitlines()
    detail = text[-1] if text else type(exc).__name__
    return detail.removeprefix("Error tokenizing data. ")[:300]


def _json_reason(exc: ValueError, raw: bytes) -> str:
    """Why one JSON line does not parse, with the position in that line (not the parser's line 2)."""
    if not isinstance(exc, json.JSONDecodeError):
        return _reason(exc)
    where = "at the end of the line" if exc.pos >= len(raw.rstrip()) else f"at character {exc.pos + 1}"
    return f"not valid JSON: {exc.msg} {where}"


def _ends_in_quote(line: bytes, inside: bool) -> bool:
    """Whether a quoted CSV value is still open at the end of ``line``."""
    at_start = not inside
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if inside:
            if c == 0x22:
                if i + 1 < n and line[i + 1] == 0x22:
                    i += 1
                else:
                    inside = False
        elif c == 0x22 and at_start:
            inside = True
        at_start = c == 0x2C
        i += 1
    return inside


class LineReader:
    """Read a CSV or JSON Lines file from ``start`` (a byte offset after a complete line).

    Parameters
    ----------
    path : str
    fmt : {"csv", "jsonl"}
    model : ModelConfig
    chunk_rows : int
        Lines per parsed block.
    start, start_line : int, default 0
        Byte offset and line count to resume from (a growing file).
    complete : bool, default True
        Whether a last line without newline is complete (else it waits for the next read).
    """

    def __init__(
        self,
        path: str,
        fmt: str,
        model: ModelConfig,
        chunk_rows: int,
        *,
        start: int = 0,
        start_line: int = 0,
        complete: bool = True,
    ) -> None:
        self.path, self.fmt, self.model = path, fmt, model
        self.chunk_rows = max(1, chunk_rows)
        self.end, self.lines = start, start_line
        self.complete = complete
        self.held_back = 0
        self.wanted = declared_columns(model)
        self.header = b""

    def chunks(self) -> Iterator[Chunk]:
        """Blocks of parsed rows; :attr:`end` and :attr:`lines` advance as blocks are yielded."""
        opener = gzip.open if self.path.lower().endswith(".gz") else open  # .csv.gz / .jsonl.gz
        with opener(self.path, "rb") as fh:
            if self.fmt == "csv" and not self._read_header(fh):
                return
            fh.seek(self.end)
            block: list[tuple[int, bytes]] = []
            bad: list[tuple[int, str, bytes]] = []
            for line_no, raw, reason in self._records(fh):
                if reason is not None:
                    bad.append((line_no, reason, raw))
                elif raw.strip():
                    block.append((line_no, raw))
                if len(block) + len(bad) >= self.chunk_rows:
                    yield self._parse(block, bad)
                    block, bad = [], []
            if block or bad:
                yield self._parse(block, bad)

    def _read_header(self, fh: IO[bytes]) -> bool:
        header = fh.readline(MAX_LINE_BYTES + 1)
        if not header or (not header.endswith(b"\n") and not self.complete):
            self.held_back = len(header)
            return False
        if len(header) > MAX_LINE_BYTES or b"\x00" in header:
            raise UnreadableFileError(self.path, "csv", 0, "line 1 (the header) is not a CSV header")
        try:
            header.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(self.path, "csv", 0, f"header: {_reason(exc)}") from None
        self.header = header if header.endswith(b"\n") else header + b"\n"
        if self.end == 0:
            self.end, self.lines = fh.tell(), 1
        return True

    def _records(self, fh: IO[bytes]) -> Iterator[tuple[int, bytes, str | None]]:
        """``(line number, bytes, reason or None)`` per record; advances :attr:`end`/:attr:`lines`."""
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            line_no = self.lines + 1
            if not raw.endswith(b"\n"):
                if len(raw) > MAX_LINE_BYTES:
                    length, finished = self._skip_rest(fh, len(raw))
                    if not finished and not self.complete:
                        self.held_back = length
                        return
                    self.end, self.lines = self.end + length, self.lines + 1
                    reason = f"line longer than {MAX_LINE_BYTES:,} bytes ({length:,} bytes)"
                    yield line_no, raw[:MAX_RAW_CHARS], reason
                    continue
                if not self.complete:
                    self.held_back = len(raw)
                    return
            lines = 1
            if self.fmt == "csv" and b'"' in raw and _ends_in_quote(raw, False):
                after_first, closed = fh.tell(), False
                while not closed:
                    more = fh.readline(MAX_LINE_BYTES + 1)
                    if not more or len(raw) + len(more) > MAX_LINE_BYTES:
                        break
                    raw, lines = raw + more, lines + 1
                    closed = not _ends_in_quote(more, True)
                if not closed and not more and not self.complete:
                    self.held_back = fh.tell() - self.end
                    return
                if not closed:
                    fh.seek(after_first)  # the lines after the opening one are read on their own
                    self.end, self.lines = after_first, self.lines + 1
                    yield line_no, raw[: MAX_RAW_CHARS * 4], "a quoted value is never closed"
                    continue
                if not raw.endswith(b"\n") and not self.complete:
                    self.held_back = fh.tell() - self.end
                    return
            self.end, self.lines = self.end + len(raw), self.lines + lines  # (no tell(): hot loop)
            if b"\x00" in raw:
                yield line_no, raw, "NUL byte in line"
            else:
                yield line_no, raw, None

    @staticmethod
    def _skip_rest(fh: IO[bytes], length: int) -> tuple[int, bool]:
        while True:
            piece = fh.readline(MAX_LINE_BYTES)
            length += len(piece)
            if not piece:
                return length, False
            if piece.endswith(b"\n"):
                return length, True

    def _parse(self, block: list[tuple[int, bytes]], bad: list[tuple[int, str, bytes]]) -> Chunk:
        if self.fmt == "csv":
            frames, numbers, more_bad = self._csv(block)
        else:
            frames, numbers, more_bad = self._jsonl(block)
        bad = sorted(bad + more_bad)
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames or [pd.DataFrame()])[0]
        rejected = Rejected(
            positions=list(range(len(bad))),
            reasons=[r for _, r, _ in bad],
            rows=[{"line": _shown(raw)} for _, _, raw in bad],
            timestamps=[None] * len(bad),
            locations=[f"line {n}" for n, _, _ in bad],
        )
        lines = np.concatenate(numbers) if numbers else np.empty(0, dtype=np.int64)
        return Chunk(frame=frame.reset_index(drop=True), lines=lines, bad=rejected)

    def _csv(
        self, block: list[tuple[int, bytes]]
    ) -> tuple[list[pd.DataFrame], list[np.ndarray], list[tuple[int, str, bytes]]]:
        if not block:
            return [], [], []
        try:
            frame = self._read_csv([raw for _, raw in block])
        except Exception as exc:  # any parser error: find the bad lines by halving
            if len(block) == 1:
                line_no, raw = block[0]
                parts = raw.splitlines(keepends=True)
                if len(parts) > 1:  # a quoted value spanning lines that does not parse: line by line
                    return self._csv([(line_no + i, part) for i, part in enumerate(parts)])
                return [], [], [(line_no, _reason(exc), raw)]
            mid = len(block) // 2
            left, right = self._csv(block[:mid]), self._csv(block[mid:])
            return left[0] + right[0], left[1] + right[1], left[2] + right[2]
        return [frame], [np.array([n for n, _ in block], dtype=np.int64)], []

    def _read_csv(self, records: list[bytes]) -> pd.DataFrame:
        data = self.header + b"".join(records)
        # No usecols (with it pandas accepts a line with too many fields); index_col=False and
        # the warning as an error: else extra fields on a block's first line become an index.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                frame = pd.read_csv(
                    io.BytesIO(data),
                    dtype={self.model.id_column: "string"},
                    low_memory=False,
                    skip_blank_lines=False,
                    index_col=False,
                )
            except pd.errors.ParserWarning:
                raise ValueError("more fields than the header has") from None
        if len(frame) != len(records):
            raise ValueError(f"{len(records)} line(s) gave {len(frame)} row(s)")
        wanted = set(self.wanted)
        return frame[[c for c in frame.columns if c in wanted]]

    def _jsonl(
        self, block: list[tuple[int, bytes]]
    ) -> tuple[list[pd.DataFrame], list[np.ndarray], list[tuple[int, str, bytes]]]:
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        bad: list[tuple[int, str, bytes]] = []
        for line_no, raw in block:
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                bad.append((line_no, _json_reason(exc, raw), raw))
                continue
            if not isinstance(obj, dict):
                bad.append((line_no, f"not a JSON object (a {type(obj).__name__})", raw))
                continue
            rows.append(obj)
            numbers.append(line_no)
        if not rows:
            return [], [], bad
        return [records_frame(rows, self.wanted)], [np.array(numbers, dtype=np.int64)], bad
