"""THE contract between the profiler and the planner: the Profile table and its metadata.

A profile is a pandas DataFrame with exactly the columns of :data:`PROFILE_COLUMNS`, analytic
(``source == "analytic"``), measured (``"measured"``; ``"vllm-bench-serve"`` / ``"guidellm"`` when read from a
serving benchmark's report by :mod:`profiler.interop`, ``"endpoint"`` when ``inferplan endpoint`` measured a running
server) or calibrated (``"calibrated"``): the planner
cannot tell them apart and never needs to. Byte and token counts are **per GPU** (a TP shard).

Rows are one (model, gpu, quant, kv_dtype, tp, phase, batch, context) point:

- ``phase == "prefill"``: ``batch`` prompts of ``context`` tokens processed at once;
  ``latency_ms`` is the time to the first token, ``tokens_per_s`` = batch × context / latency.
- ``phase == "decode"``: one engine step generating one token for each of ``batch`` sequences that
  each attend over ``context`` tokens; ``tokens_per_s`` = batch / latency.

``status`` is ``ok``, ``oom`` (the point does not fit: a boundary, not an error) or
``unsupported`` (the quant/GPU/stack cannot run it; ``note`` says why). Numeric columns of a
non-``ok`` row may be empty (NaN); :func:`validate` rejects an ``ok`` row with a missing value
instead of letting a zero stand in for it.

Written as CSV (the table) plus JSON (metadata: tool version, catalogue hashes, environment, date,
efficiency used, command line) beside it, or as one JSON document holding both.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from profiler.errors import CatalogueError, ProfilerError

if TYPE_CHECKING:
    from profiler.interop import ServingContext


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype
    unit: str
    meaning: str
    required: bool = True  # must be present (non-NaN) on status == "ok" rows


PROFILE_COLUMNS: tuple[Column, ...] = (
    Column("model", "string", "", "catalogue id of the model"),
    Column("gpu", "string", "", "catalogue id of the GPU"),
    Column("quant", "string", "", "weight quantisation scheme id (bf16, fp8, int8, int4, mxfp4)"),
    Column("kv_dtype", "string", "", "KV-cache dtype (bf16, fp8)"),
    Column("tp", "int64", "GPUs", "tensor-parallel degree; byte counts are per GPU"),
    Column("phase", "string", "", "prefill or decode"),
    Column("batch", "int64", "sequences", "sequences processed together"),
    Column("context", "int64", "tokens", "prompt length (prefill) or attended context (decode)"),
    Column("latency_ms", "float64", "ms", "prefill: time to first token; decode: one step"),
    Column("tokens_per_s", "float64", "tokens/s", "prefill: batch·context/latency; decode: batch/latency"),
    Column("weights_bytes", "int64", "B", "resident weight bytes per GPU, quantisation metadata included"),
    Column("kv_bytes_per_token", "int64", "B", "KV bytes one token adds per GPU, all layers, bf16/fp8"),
    Column("peak_bytes", "int64", "B", "peak device memory per GPU for this point"),
    Column("kv_capacity_tokens", "int64", "tokens", "KV tokens the engine budget holds per replica"),
    Column("max_batch", "int64", "sequences", "most sequences of this context that fit"),
    Column("mbu", "float64", "fraction", "bytes moved / latency / datasheet HBM bandwidth"),
    Column("mfu", "float64", "fraction", "FLOPs / latency / datasheet dense FLOP/s"),
    Column("source", "string", "", "analytic, measured, calibrated, or a serving benchmark read as a profile: "
           "vllm-bench-serve, guidellm or endpoint (a running server measured by `inferplan endpoint`)"),
    Column("status", "string", "", "ok, oom or unsupported"),
    Column("note", "string", "", "why a point is oom/unsupported; harness details", required=False),
    Column("latency_ms_spread", "float64", "ms", "measured: IQR of repeats; analytic: error band",
           required=False),
    Column("power_w", "float64", "W", "mean board power while measuring (NVML)", required=False),
    Column("energy_j_per_token", "float64", "J/token", "energy / tokens produced", required=False),
    Column("allreduce_bytes", "int64", "B", "TP > 1: bytes of one of this step's all-reduces (tokens x hidden, "
           "bf16), per GPU", required=False),
    Column("allreduce_ms", "float64", "ms", "TP > 1, measured: median time of one all-reduce of allreduce_bytes "
           "over the TP group, timed alone on it", required=False),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in PROFILE_COLUMNS)
KEY_COLUMNS: tuple[str, ...] = ("model", "gpu", "quant", "kv_dtype", "tp", "phase", "batch", "context")
PHASES = ("prefill", "decode")
STATUSES = ("ok", "oom", "unsupported")
# Rows read from a serving benchmark's report (profiler.interop): measured from the server's client, not per step.
SERVING_SOURCES = ("vllm-bench-serve", "guidellm", "endpoint")
SOURCES = ("analytic", "measured", "calibrated", *SERVING_SOURCES)
MEASURED_SOURCES = ("measured", *SERVING_SOURCES)  # rows a calibration may fit


class SchemaError(ProfilerError):
    """A profile table that breaks the contract."""


@dataclass(frozen=True)
class ProfileMeta:
    """What a profile file carries beside its rows."""

    tool_version: str
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    catalogues: dict[str, str] = field(default_factory=dict)  # file name -> sha256 prefix
    environment: dict[str, Any] = field(default_factory=dict)  # GPU, driver, CUDA, torch, ...
    efficiency: dict[str, Any] = field(default_factory=dict)  # Efficiency used, per (gpu, quant)
    command: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileMeta:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def empty_profile() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=_nullable(c.dtype)) for c in PROFILE_COLUMNS})


def _nullable(dtype: str) -> str:
    return {"int64": "Int64", "float64": "float64", "string": "string"}[dtype]


def normalise(rows: pd.DataFrame | list[dict[str, Any]]) -> pd.DataFrame:
    """Return a DataFrame with every schema column, in order, with the schema's (nullable) dtypes."""
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    for col in PROFILE_COLUMNS:
        if col.name not in df.columns:
            df[col.name] = pd.NA
    extra = [c for c in df.columns if c not in COLUMN_NAMES]
    if extra:
        raise SchemaError(f"profile has columns outside the schema: {', '.join(map(str, extra))}")
    df = df[list(COLUMN_NAMES)]
    for col in PROFILE_COLUMNS:
        target = _nullable(col.dtype)
        try:
            if target == "string":
                df[col.name] = df[col.name].astype("string")
                continue
            values = pd.to_numeric(df[col.name]).astype("float64")
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"column '{col.name}' cannot be read as {col.dtype}: {exc}") from None
        infinite = np.isinf(values.to_numpy())
        if infinite.any():  # a measurement is a finite number or missing (NaN); inf is neither
            raise SchemaError(f"row {int(np.argmax(infinite))}: column '{col.name}' is {values[infinite].iloc[0]}, "
                              "not a finite number")
        df[col.name] = values.round().astype("Int64") if target == "Int64" else values
    return df.reset_index(drop=True)


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check the contract; return the normalised table. Raises SchemaError naming row and column."""
    df = normalise(df)
    for name, allowed in (("phase", PHASES), ("status", STATUSES), ("source", SOURCES)):
        bad = df[~df[name].isin(allowed)]
        if len(bad):
            raise SchemaError(f"row {bad.index[0]}: {name} '{bad[name].iloc[0]}' not one of {allowed}")
    ok = df["status"] == "ok"
    for col in PROFILE_COLUMNS:
        if not col.required:
            continue
        missing = df[ok & df[col.name].isna()]
        if len(missing):
            raise SchemaError(f"row {missing.index[0]}: column '{col.name}' is missing on an ok row "
                              "(a missing measurement is recorded with status, never as zero)")
    for name in ("batch", "context", "tp"):
        bad = df[df[name] < 1]
        if len(bad):
            raise SchemaError(f"row {bad.index[0]}: {name} must be >= 1")
    for col in PROFILE_COLUMNS:  # times, rates, byte counts and utilisations are never negative
        if col.dtype == "string" or col.name in ("batch", "context", "tp"):
            continue
        bad = df[df[col.name].fillna(0) < 0]
        if len(bad):
            raise SchemaError(f"row {bad.index[0]}: {col.name} is {bad[col.name].iloc[0]}; it cannot be negative")
    bad = df[ok & (df["latency_ms"] <= 0)]
    if len(bad):
        raise SchemaError(f"row {bad.index[0]}: latency_ms must be > 0 on an ok row, got {bad['latency_ms'].iloc[0]}")
    return df


# ------------------------------------------------------------------------------------------------
# Files. Writes are atomic (temp file + rename) so an interrupted run never leaves half a file.
# ------------------------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_CREATE_MODE = 0o666 & ~_umask()


class OutputPathError(ProfilerError, OSError):
    """A file the user asked for cannot be written there; the message names the path they gave (never a temp
    file) and why. Also an OSError, so callers that tolerate unwritable files (a cache) keep doing so."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.message, self.errno = message, errno

    def __str__(self) -> str:
        return self.message


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of `path` that exists (something always does: the root or the working folder)."""
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(".")


def _check_folder(path: Path, create_folders: bool = False) -> None:
    """The folder `path` goes into exists (or, with `create_folders`, can be made: every existing ancestor is a
    folder). A user's output path never creates folders: a typo in ``-o`` is refused, not made into a tree."""
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder, not a file; name a file inside it")
    anchor = _existing_ancestor(path)
    if not anchor.is_dir():
        raise OutputPathError(f"cannot write {path}: {anchor} is a file, not a folder")
    if not create_folders and anchor != path.parent:
        raise OutputPathError(f"cannot write {path}: the folder {path.parent} does not exist; create it first "
                              f"(mkdir -p {shlex.quote(str(path.parent))})")


def _os_error(path: Path, exc: OSError, creating: bool) -> OutputPathError:
    reason = exc.strerror or str(exc)
    if creating:
        return OutputPathError(f"cannot write {path}: cannot create files in {path.parent} ({reason})",
                               exc.errno)
    return OutputPathError(f"cannot write {path}: {reason}", exc.errno)


def check_writable(path: str | os.PathLike[str], create_folders: bool = False) -> Path:
    """Raise OutputPathError unless `path` could be written now: its folder exists (with `create_folders`: can be
    made, the nearest existing ancestor being a writable folder), is a folder, and accepts new files. Commands call
    it BEFORE long work, so a typo in ``-o`` fails in a second, not after the sweep. Creates nothing that stays."""
    path = Path(path).expanduser()
    _check_folder(path, create_folders)
    folder = path.parent if path.parent.exists() else _existing_ancestor(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
    except OSError as exc:
        raise _os_error(path, exc, creating=True) from None
    os.close(fd)
    os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, create_folders: bool = False) -> None:
    """Write `text` to `path` via a temp file beside it and a rename, so a reader never sees half a file. A path
    that cannot be written raises OutputPathError naming `path` (not the temp file). Missing folders are made only
    with `create_folders` (inferplan's own files under $INFERPLAN_HOME), never for a path the user gave."""
    path = Path(path)
    _check_folder(path, create_folders)
    try:
        if create_folders:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _os_error(path, exc, creating=True) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _CREATE_MODE)  # mkstemp makes 0600; give the file the mode open() would have
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error(path, exc, creating=False) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def meta_path(csv_path: str | os.PathLike[str]) -> Path:
    """Where the metadata of a CSV profile lives: ``profile.csv`` -> ``profile.meta.json``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".meta.json")


def to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON-able dicts (NaN -> None)."""
    out = []
    for rec in normalise(df).astype(object).to_dict(orient="records"):
        out.append({k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v)
                    for k, v in rec.items()})
    return out


def check_profile_path(path: str | os.PathLike[str]) -> Path:
    """Raise unless `path` is a ``.csv`` or ``.json`` profile file that :func:`check_writable` accepts."""
    path = Path(path).expanduser()
    if path.suffix not in (".csv", ".json"):
        raise SchemaError(f"{path}: profile files are .csv or .json")
    meta = meta_path(path)
    if path.suffix == ".csv" and meta.exists() and not _is_profile_meta(meta):
        raise OutputPathError(f"cannot write {path}: its metadata goes to {meta}, which exists and is not a "
                              "profile's metadata; move that file or choose another -o")
    return check_writable(path)


def _is_profile_meta(path: Path) -> bool:
    """Whether `path` holds metadata write_profile wrote (a JSON object with tool_version), safe to replace."""
    try:
        with path.open("rb") as fh:
            doc = json.loads(fh.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "tool_version" in doc


def write_profile(df: pd.DataFrame, path: str | os.PathLike[str], meta: ProfileMeta) -> None:
    """Write ``.csv`` (+ ``.meta.json`` beside it) or ``.json`` (rows and metadata in one document)."""
    df = validate(df)
    path = Path(path)
    if path.suffix == ".json":
        doc = {"meta": asdict(meta), "columns": [asdict(c) for c in PROFILE_COLUMNS], "rows": to_records(df)}
        atomic_write_text(path, json.dumps(doc, indent=1, default=str))
    elif path.suffix == ".csv":
        atomic_write_text(path, df.to_csv(index=False))
        atomic_write_text(meta_path(path), json.dumps(asdict(meta), indent=1, default=str))
    else:
        raise SchemaError(f"{path}: profile files are .csv or .json")


# 64 MiB: a profile row is ~300 bytes as CSV, so ~200,000 points, ~100x the largest sweep `profile --measure` runs
# (the default grid is 12 points per quant); pandas reads it in about a second.
MAX_PROFILE_BYTES = 64 << 20
_PROFILE_WHAT = ("a profile (.csv or .json) written by `inferplan profile`, or a `vllm bench serve` or guidellm "
                 "JSON report")


def read_profile(path: str | os.PathLike[str],
                 serving: ServingContext | None = None) -> tuple[pd.DataFrame, ProfileMeta | None]:
    """Read a profile written by :func:`write_profile` (or any CSV with the schema's columns). Anything else (an
    empty file, a JSON document without ``rows``, a number that is not finite) is a SchemaError naming the file.

    A ``vllm bench serve`` result or a guidellm report (JSON) is read as a measured profile by
    :mod:`profiler.interop`; `serving` (the command's model, GPU, quant, KV dtype, TP) fills what it does not say."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: no such profile file")
    try:
        return _read_profile(path, serving)
    except CatalogueError as exc:  # unreadable bytes, malformed JSON: the file's own problem, said as a profile's
        raise SchemaError(f"{exc} (so not a profile file)") from None


def _read_profile(path: Path, serving: ServingContext | None = None) -> tuple[pd.DataFrame, ProfileMeta | None]:
    from profiler import interop, userfile

    text, file = userfile.read_text(path, _PROFILE_WHAT, MAX_PROFILE_BYTES)
    if not text.strip():
        raise SchemaError(f"{file}: the file is empty; give {_PROFILE_WHAT}")
    if path.suffix.lower() == ".json":
        doc = interop.parse_json(text, file)
        if interop.is_report(doc):  # a serving benchmark's report (vllm bench serve, guidellm)
            return interop.from_report(doc, file, serving)
        rows = doc.get("rows") if isinstance(doc, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise SchemaError(f"{file}: not a profile file: a JSON profile is an object whose 'rows' is a list of "
                              "row objects (as `inferplan profile -o FILE.json` writes)")
        df, meta = pd.DataFrame(rows), _meta(doc.get("meta", {}), file)
    else:
        try:
            df = pd.read_csv(io.StringIO(text), low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SchemaError(f"{file}: not a profile CSV ({reason})") from None
        mp = meta_path(path)
        meta = _meta(userfile.parse_json(*userfile.read_text(mp, "the profile's .meta.json")), str(mp)) \
            if mp.exists() else None
    try:
        return validate(df), meta
    except SchemaError as exc:
        raise SchemaError(f"{file}: {exc}") from None


def _meta(data: Any, file: str) -> ProfileMeta:
    if not isinstance(data, dict):
        raise SchemaError(f"{file}: the profile's metadata must be a JSON object")
    try:
        return ProfileMeta.from_dict(data)
    except TypeError as exc:
        raise SchemaError(f"{file}: the profile's metadata cannot be read ({exc})") from None


def schema_markdown() -> str:
    """The column table for docs/profile_schema.md (generated, never hand-edited)."""
    lines = ["| column | dtype | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.unit} | {c.meaning} |" for c in PROFILE_COLUMNS]
    return "\n".join(lines) + "\n"
