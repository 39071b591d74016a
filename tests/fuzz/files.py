"""The files bad inputs read: written from a case's text, or generated from the name when too large to list.

``tests/data/bad_inputs.jsonl`` (copied from ``shared/reference/bad_inputs.jsonl``, the fuzzing report behind
issue 12) gives each file either as text, with undecodable bytes written as ``\\xNN`` escapes, or as a
placeholder ``<N bytes; generated file ...>`` for the large or binary ones: deep nesting, billion-laughs
aliases, random bytes, an oversized field and profiles with one bad number. :func:`generated` rebuilds those from
the name, at the sizes the report gives.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

# Two analytic rows and two measured rows of a smollm2-135m profile (the columns of profiler.schema), the base the
# `prof_<source>_<column>_<inf|neg>.csv` files corrupt one cell of.
PROFILE_HEADER = ("model,gpu,quant,kv_dtype,tp,phase,batch,context,latency_ms,tokens_per_s,weights_bytes,"
                  "kv_bytes_per_token,peak_bytes,kv_capacity_tokens,max_batch,mbu,mfu,source,status,note,"
                  "latency_ms_spread,power_w,energy_j_per_token")
PROFILE_ROWS = (
    "smollm2-135m,h100-sxm,bf16,bf16,1,prefill,1,1024,1.30016769400364,787590.7121232726,269030016,23040,"
    "843256448,3290704,3213,0.06718375059802685,0.19734836148608226,{source},ok,memory-bound,,,",
    "smollm2-135m,h100-sxm,bf16,bf16,1,prefill,8,1024,5.341902571969633,1533536.0182317023,269030016,23040,"
    "1104745088,3290704,3213,0.025580560977402408,0.38426154069545226,{source},ok,compute-bound,,,",
    "smollm2-135m,h100-sxm,bf16,bf16,1,decode,1,1024,0.15,6666.67,269030016,23040,"
    "300000000,3290704,3213,0.6,0.001,{source},ok,memory-bound,,,",
    "smollm2-135m,h100-sxm,bf16,bf16,1,decode,8,1024,0.17,47058.8,269030016,23040,"
    "310000000,3290704,3213,0.6,0.008,{source},ok,memory-bound,,,",
)
PROFILE_COLUMN_NAMES = tuple(PROFILE_HEADER.split(","))


def profile_csv(source: str = "analytic", column: str | None = None, value: str = "inf") -> str:
    """A small profile CSV of `source` rows; with `column`, its first row's cell holds `value`."""
    lines = [PROFILE_HEADER]
    for k, row in enumerate(PROFILE_ROWS):
        cells = row.format(source=source).split(",")
        if column is not None and k == 0:
            cells[PROFILE_COLUMN_NAMES.index(column)] = value
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def deep_seq(depth: int = 20_000) -> str:
    """``[[[ ... ]]]``: 20,000 nested flow sequences (40,001 bytes), valid YAML and JSON."""
    return "[" * depth + "]" * depth + "\n"


def deep_map(depth: int = 20_000) -> str:
    """``{a: {a: ... 1}}``: 20,000 nested flow mappings (100,002 bytes)."""
    return "{a: " * depth + "1" + "}" * depth + "\n"


def laughs_seq(depth: int = 9) -> str:
    """Billion laughs: each anchor a list of nine aliases to the one above, `depth` levels (9**9 leaves)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnopqrstuvwxyz"
    for k in range(1, depth):
        prev, cur = names[k - 1], names[k]
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def laughs_map(depth: int = 9) -> str:
    """Billion laughs through mappings: each anchor a mapping of nine keys aliasing the one above."""
    lines = ["a: &a {k0: lol, k1: lol, k2: lol, k3: lol, k4: lol, k5: lol, k6: lol, k7: lol, k8: lol}"]
    names = "abcdefghijklmnopqrstuvwxyz"
    for k in range(1, depth):
        prev, cur = names[k - 1], names[k]
        lines.append(f"{cur}: &{cur} {{" + ", ".join(f"k{j}: *{prev}" for j in range(9)) + "}")
    return "\n".join(lines) + "\n"


def huge_yaml(n_bytes: int = 11_377_787) -> str:
    """A flat YAML list of small mappings about `n_bytes` long (the report's 11 MB file)."""
    item = "- {id: m{k}, hidden_size: 4096, layers: 32}\n"
    out, size, k = [], 0, 0
    while size < n_bytes:
        line = item.replace("{k}", str(k))
        out.append(line)
        size += len(line)
        k += 1
    return "".join(out)


def long_field(n: int = 200_000) -> str:
    """A trace CSV whose one field is `n` characters: past the csv module's 131,072-character field limit."""
    return "timestamp,input_tokens,output_tokens\n0," + "9" * n + ",1\n"


def random_bytes(n: int = 4000, seed: int = 12) -> bytes:
    return random.Random(seed).randbytes(n)


def generated(name: str) -> bytes | str:
    """The content of a generated file, chosen by its name as the report names them."""
    stem = Path(name).stem
    if stem.startswith("prof_"):  # prof_<analytic|measured>_<column>_<inf|neg>
        _, source, rest = stem.split("_", 2)
        column, kind = rest.rsplit("_", 1)
        return profile_csv(source, column, "inf" if kind == "inf" else "-5")
    makers = {"deep_seq": deep_seq, "deep_map": deep_map, "laughs": laughs_seq, "laughs_map": laughs_map,
              "huge": huge_yaml, "longkey": long_field, "binary": random_bytes}
    for prefix, make in makers.items():
        if stem == prefix:
            return make()
    raise KeyError(f"no generator for {name!r}")


def content(name: str, text: str) -> bytes:
    """The bytes of file `name` given the report's `text` (a placeholder, or text with ``\\xNN`` escapes)."""
    if text.startswith("<") and "generated file" in text:
        made = generated(name)
        return made if isinstance(made, bytes) else made.encode("utf-8")
    if "\\x" in text:  # undecodable bytes were written as escapes; real control characters pass through
        return codecs.escape_decode(text.encode("latin-1"))[0]
    return text.encode("utf-8")


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(name, text))
