"""The one JSON Lines reader and writer of the files nextevent writes.

Every file of ours with one JSON object a line (``records.jsonl``, ``failures.jsonl``,
``usage.jsonl``, a benchmark, a T3 file, ``responses.jsonl``, the failures files beside
an output) is read with `read_jsonl` and written with `write_jsonl` (whole file,
atomically) or `append_jsonl` (one line, flushed and fsynced). Reading splits on
``\\n`` only (a JSON string may hold U+2028, which `str.splitlines` would cut), decodes
each line as UTF-8 on its own, skips blank lines and counts lines from 1, so an error
names the line a text editor shows.

A bad line raises `JSONLError`, a `nextevent.records.NextEventError` (stage and hint for
the CLI's one error line) that is also a `ValueError` (what pydantic's
``ValidationError`` is, so callers that caught that keep working).

Annotation files of other datasets are not read here (`nextevent.sources` reads them,
with their own per-entry failures).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from nextevent.atomic import atomic_path
from nextevent.records import NextEventError

M = TypeVar("M", bound=BaseModel)

DEFAULT_HINT = "check that the file was written by nextevent and not edited by hand"


class JSONLError(NextEventError, ValueError):
    """A line of a JSON Lines file that is not what it should be.

    Args:
        stage: the stage reading the file (``report``, ``bench``, ``t3``, ...).
        message: ``<file> line <n> is not <what>: <why>``.
        hint: what to do about it.
        path: the file.
        line: the 1-based line number.
    """

    def __init__(self, stage: str, message: str, hint: str, path: Path, line: int) -> None:
        super().__init__(stage, message, hint)
        self.path = path
        self.line = line


def _first_error(err: ValidationError) -> str:
    """``loc: message`` of a validation error's first problem (and how many more)."""
    errors = err.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic always lists one
        return str(err).splitlines()[0]
    first = errors[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    text = f"{loc}: {first['msg']}" if loc else str(first["msg"])
    return text + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")


def decode_line(raw: bytes | str, model: type[M] | None = None, *, path: str | Path,
                number: int, what: str = "a JSON object", stage: str = "read",
                hint: str = DEFAULT_HINT, name: str | None = None) -> dict[str, Any] | M:
    """One line of a JSON Lines file as a dict, or as ``model`` when given.

    Args:
        raw: the line, without or with its ``\\n``.
        model: a pydantic model to validate the object as (JSON mode, as
            ``model_validate_json``); None returns the dict.
        path: the file the line is from.
        number: the 1-based line number.
        name: the file as the message names it; default ``path``.
        what: what the line should be, for the message (``"a NEP record"``).
        stage, hint: of the error.

    Raises:
        JSONLError: when the line is not UTF-8, not JSON (or nested too deeply to read),
            not an object, or does not match ``model``.
    """
    def bad(why: str) -> JSONLError:
        label = name if name is not None else str(path)
        return JSONLError(stage, f"{label} line {number} is not {what}: {why}", hint,
                          Path(path), number)

    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise bad(f"not UTF-8 text (byte {err.start} of the line)") from err
    if model is None:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise bad(f"invalid JSON ({err.msg} at column {err.colno})") from err
        except ValueError as err:  # an integer of more digits than Python converts
            raise bad(f"an integer too long to read ({str(err).split(';')[0]})") from None
        except RecursionError:
            raise bad("JSON nested too deeply to read") from None
        if not isinstance(obj, dict):
            raise bad(f"a JSON {type(obj).__name__}, not an object")
        return obj
    try:
        return model.model_validate_json(raw)
    except RecursionError:  # a model with a recursive field, nested past Python's limit
        raise bad("JSON nested too deeply to read") from None
    except ValidationError as err:
        errors = err.errors(include_url=False)
        invalid = [e for e in errors if e["type"] == "json_invalid"]
        if invalid:
            detail = str(invalid[0]["msg"]).split(": ", 1)[-1]
            why = f"invalid JSON ({detail})"
        elif all(e["type"] == "model_type" and not e["loc"] for e in errors):
            why = "a JSON value that is not an object"
        else:
            why = _first_error(err)
        raise bad(why) from err


def cut_torn_tail(path: str | Path) -> bool:
    """Cut a last line without its ``\\n`` (a writer killed mid-line) off ``path``.

    Returns:
        True when a partial line was cut; False when the file ends whole or is missing.

    Raises:
        OSError: when the file cannot be rewritten.
    """
    path = Path(path)
    if not path.is_file():
        return False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end == len(data):
        return False
    with path.open("r+b") as f:
        f.truncate(end)
    return True


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """``(1-based line number, raw line)`` of every non-blank line of ``path``, split on
    ``\\n`` only, a leading UTF-8 byte-order mark dropped.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
    """
    with Path(path).open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a byte-order mark some editors add
            if raw.strip():
                yield number, raw


@overload
def read_jsonl(path: str | Path, model: None = None, *, what: str = ...,
               stage: str = ..., hint: str = ..., name: str | None = ...,
               skip_invalid: bool = ...) -> Iterator[dict[str, Any]]: ...
@overload
def read_jsonl(path: str | Path, model: type[M], *, what: str = ..., stage: str = ...,
               hint: str = ..., name: str | None = ...,
               skip_invalid: bool = ...) -> Iterator[M]: ...
def read_jsonl(path: str | Path, model: type[M] | None = None, *,
               what: str = "a JSON object", stage: str = "read",
               hint: str = DEFAULT_HINT, name: str | None = None,
               skip_invalid: bool = False) -> Iterator[dict[str, Any]] | Iterator[M]:
    """Yield the objects of a JSON Lines file, one per non-blank line, in file order.

    Args:
        path: the file.
        model: validate each line as this pydantic model (``model_validate_json``);
            None yields plain dicts.
        what: what a line should be, for the message (``"a FutureBench item"``).
        stage: stage of the error (``report``, ``bench``, ...).
        hint: what the error tells the user to do.
        name: the file as the message names it (e.g. ``"--bench bench.jsonl"``); default
            the path.
        skip_invalid: skip lines that are not UTF-8 JSON objects (a log whose lines a
            crash may have cut) instead of raising; lines that are JSON objects but do
            not match ``model`` still raise.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        JSONLError: naming the file and the 1-based line, for the first bad line (see
            `decode_line`).
    """
    path = Path(path)
    for number, raw in iter_lines(path):
        if skip_invalid:
            try:
                decode_line(raw, path=path, number=number)
            except JSONLError:
                continue
        yield decode_line(raw, model, path=path, number=number,  # type: ignore[misc]
                          what=what, stage=stage, hint=hint, name=name)


def dump_line(obj: BaseModel | dict[str, Any]) -> str:
    """One JSON line of ``obj``, without the ``\\n``: a pydantic model as its
    ``model_dump_json()`` (compact, UTF-8), a dict as ``json.dumps`` (``", "`` and
    ``": "`` separators, non-ASCII escaped). Each file keeps the form it always had.

    Raises:
        TypeError: when a dict holds a value JSON cannot hold.
    """
    return obj.model_dump_json() if isinstance(obj, BaseModel) else json.dumps(obj)


def write_jsonl(path: str | Path, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines to ``path`` atomically (`nextevent.atomic.atomic_path`:
    a killed writer leaves the old file or none, never half of one); creates the folder.

    Returns:
        The number of lines written.

    Raises:
        OSError: when the folder or file cannot be written; TypeError as `dump_line`.
    """
    n = 0
    with atomic_path(Path(path)) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(dump_line(row) + "\n")
            n += 1
        handle.flush()
        os.fsync(handle.fileno())
    return n


def append_jsonl(handle: IO[str], obj: BaseModel | dict[str, Any]) -> None:
    """Append one line (`dump_line`) to an open text file, then flush and fsync it, so a
    line a writer returned from survives a crash.

    Raises:
        OSError: when the write or the sync fails; TypeError as `dump_line`.
    """
    handle.write(dump_line(obj) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
