"""quants.yaml ``fallback`` and ``tensor_formats`` (llama.cpp GGUF block formats and mixes), checked into specs.

    parse_fallback(value, group_size, entry, resolve, source)  -> QuantScheme | None   (QuantScheme.fallback)
    parse_tensor_formats(value, entry, resolve, source)        -> tuple[TensorFormat, ...]
    QuantResolver(build, entries, packaged)                    -> builds a file's entries, each once, in the
                                                                  order they are first named

A format is a quant id (``q6_k``: its block layout and fallback; its keep and tensor_formats do not apply) or an
inline mapping of FORMAT_FIELDS. Ids resolve in the same file first, then in the packaged catalogue. Every error is
a CatalogueError naming the entry and the field path (``tensor_formats.2.layers``); profiler.catalogue adds the
file and line. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from profiler.errors import CatalogueError, did_you_mean
from profiler.specs import LAYER_SELECTIONS, LINEAR_TENSOR_NAMES, WHEN_FIELDS, QuantScheme, TensorFormat

FORMAT_FIELDS = ("weight_bits", "group_size", "scale_bits", "zero_bits", "fallback")
RULE_FIELDS = ("tensors", "layers", "when", "format")
Resolve = Callable[[str, str, str], QuantScheme]  # (quant id, entry naming it, field) -> the scheme
_WHEN_TYPES = {"model_type": (str, "a string"), "num_layers": (int, "an integer"), "num_experts": (int, "an integer"),
               "tie_word_embeddings": (bool, "true or false")}


def _error(entry: str, field: str, message: str) -> CatalogueError:
    exc = CatalogueError(message, entry=entry, field=field)
    exc.detail = message
    return exc


def _mapping(value: Any, entry: str, field: str, allowed: tuple[str, ...], must: str, owner: str) -> None:
    """Refuse a `value` that is not a mapping, or one with a key outside `allowed` (naming the closest)."""
    if not isinstance(value, dict):
        raise _error(entry, field, f"must be {must} of {', '.join(allowed)}, got {value!r}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise _error(entry, f"{field}.{unknown[0]}", f"unknown field{did_you_mean(unknown[0], allowed)}; {owner} "
                                                     f"has {', '.join(allowed)}")


def _int(value: Any, entry: str, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _error(entry, field, f"must be an integer >= {minimum}, got {value!r}")
    return value


def parse_format(value: Any, entry: str, field: str, resolve: Resolve, source: str) -> QuantScheme:
    """A block format: a quant id naming a single format (not a mix), or an inline mapping of FORMAT_FIELDS."""
    if isinstance(value, str):  # only its block layout and fallback apply here, not its keep or its own mix
        return replace(resolve(value, entry, field), keep=frozenset(), keep_layers=(), tensor_formats=())
    _mapping(value, entry, field, FORMAT_FIELDS, "a quant id or a mapping", "a format")
    if "weight_bits" not in value:
        raise _error(entry, f"{field}.weight_bits", "is required (bits per stored value)")
    bits = _int(value["weight_bits"], entry, f"{field}.weight_bits", 1)
    if bits > 32:
        raise _error(entry, f"{field}.weight_bits", f"must be at most 32, got {bits}")
    sizes = {k: _int(value[k], entry, f"{field}.{k}", 0) for k in ("group_size", "scale_bits", "zero_bits")
             if k in value}
    fallback = parse_fallback(value.get("fallback"), sizes.get("group_size", 0), entry, resolve, source,
                              f"{field}.fallback")
    return QuantScheme(id=f"{entry}:{field}", weight_bits=bits, fallback=fallback, source=source, **sizes)


def parse_fallback(value: Any, group_size: int, entry: str, resolve: Resolve, source: str,
                   field: str = "fallback") -> QuantScheme | None:
    """The format for rows that do not fill whole blocks of `group_size` inputs (None when not given)."""
    if value is None:
        return None
    if not group_size:
        raise _error(entry, field, "a fallback stores rows that do not fill whole blocks of group_size inputs: "
                                   "set group_size (the block size, e.g. 256 for the K-quants)")
    return parse_format(value, entry, field, resolve, source)


def _tensors(value: Any, entry: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(x, str) for x in value):
        raise _error(entry, field, f"must be a non-empty list of tensor names such as "
                                   f"[layers.self_attn.v_proj.weight], got {value!r}")
    for name in value:
        if name not in LINEAR_TENSOR_NAMES:
            raise _error(entry, field, f"'{name}' is not a linear weight inferplan models"
                                       f"{did_you_mean(name, LINEAR_TENSOR_NAMES)}; names are "
                                       f"{', '.join(LINEAR_TENSOR_NAMES)}")
    return tuple(value)


def _layers(value: Any, entry: str, field: str) -> str | tuple[int, ...]:
    if isinstance(value, str) and value in LAYER_SELECTIONS:
        return value
    if isinstance(value, list) and value and all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return tuple(value)
    raise _error(entry, field, f"must be one of {', '.join(LAYER_SELECTIONS)} or a list of layer indices "
                               f"(-1 = the last), got {value!r}")


def _when(value: Any, entry: str, field: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(value, dict) or not value:
        raise _error(entry, field, f"must be a mapping of conditions ({', '.join(WHEN_FIELDS)}: a value or a list "
                                   f"of values), got {value!r}")
    out = []
    for key, allowed in value.items():
        if key not in WHEN_FIELDS:
            raise _error(entry, f"{field}.{key}", f"unknown condition{did_you_mean(key, WHEN_FIELDS)}; conditions "
                                                  f"are {', '.join(WHEN_FIELDS)}")
        kind, words = _WHEN_TYPES[key]
        values = allowed if isinstance(allowed, list) else [allowed]
        if not values or any(not isinstance(v, kind) or (kind is int and isinstance(v, bool)) for v in values):
            raise _error(entry, f"{field}.{key}", f"must be {words} or a list of them, got {allowed!r}")
        out.append((key, tuple(values)))
    return tuple(out)


def _rule(item: Any, entry: str, field: str, resolve: Resolve, source: str) -> TensorFormat:
    _mapping(item, entry, field, RULE_FIELDS, "a mapping", "an entry")
    if "format" not in item:
        raise _error(entry, f"{field}.format", "is required: a quant id (q6_k) or a mapping of "
                                               f"{', '.join(FORMAT_FIELDS)}")
    tensors = _tensors(item.get("tensors"), entry, f"{field}.tensors")
    layers = _layers(item.get("layers", "all"), entry, f"{field}.layers")
    when = _when(item["when"], entry, f"{field}.when") if "when" in item else ()
    fmt = parse_format(item["format"], entry, f"{field}.format", resolve, source)
    return TensorFormat(tensors=tensors, format=fmt, layers=layers, when=when)


def parse_tensor_formats(value: Any, entry: str, resolve: Resolve, source: str) -> tuple[TensorFormat, ...]:
    """The overrides in file order (a later entry wins where two select the same tensor and layer)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _error(entry, "tensor_formats", f"must be a non-empty list of {{{', '.join(RULE_FIELDS)}}} mappings, "
                                              f"got {value!r}")
    return tuple(_rule(item, entry, f"tensor_formats.{i}", resolve, source) for i, item in enumerate(value))


class QuantResolver:
    """Builds one file's quant entries, each once, an entry named by another before its own turn first.

    `build(id, fields, resolve)` makes one QuantScheme; `packaged()` gives the packaged catalogue's schemes (for a
    user file; None while the packaged file itself is read). A chain of names that comes back to itself is an
    error naming the chain."""

    def __init__(self, build: Callable[[str, dict, Resolve], QuantScheme], entries: dict[str, dict],
                 packaged: Callable[[], dict[str, QuantScheme]] | None):
        self._build, self._entries, self._packaged = build, entries, packaged
        self._built: dict[str, QuantScheme] = {}
        self._chain: list[str] = []

    def entry(self, key: str) -> QuantScheme:
        if key not in self._built:
            self._chain.append(key)
            try:
                self._built[key] = self._build(key, self._entries[key], self.resolve)
            finally:
                self._chain.pop()
        return self._built[key]

    def resolve(self, ref: str, entry: str, field: str) -> QuantScheme:
        if ref in self._chain:
            loop = " -> ".join([*self._chain[self._chain.index(ref):], ref])
            raise _error(entry, field, f"'{ref}' names a format that leads back to itself ({loop})")
        if ref in self._entries:
            return self.entry(ref)
        known = self._packaged() if self._packaged is not None else {}
        if ref in known:
            return known[ref]
        raise _error(entry, field, f"unknown quant id '{ref}'{did_you_mean(ref, [*self._entries, *known])}; name a "
                                   "quant of this file or of the catalogue (inferplan quants)")
