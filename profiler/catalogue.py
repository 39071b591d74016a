"""Catalogues: YAML files (and a local config.json) read into frozen specs, checked on the way in.

    load_models(extra) / get_model(name, models_file, config_path) -> ModelSpec   (catalogues/models.yaml;
                                                  name may be a model folder or config.json path)
    load_gpus(extra)   / get_gpu(id)                               -> GpuSpec     (catalogues/gpus.yaml)
    load_quants(extra) / get_quant(id)                             -> QuantScheme (catalogues/quants.yaml)
    resolve_quant_id(id, model)                                    -> the quant id `native` stands for
    catalogue_hashes()                                             -> {file name: sha256[:12]}

The packaged files live in ``profiler/catalogues/`` and are read with importlib.resources, so an
installed wheel finds them. A user file (``--models FILE``) has the same layout (a ``models:``,
``gpus:`` or ``quants:`` mapping, or the entries at the top level); its entries add to the catalogue or
replace an entry of the same id whole. Every error is a CatalogueError naming file, line, entry and
field; an unknown id is an UnknownNameError with the closest names. YAML is read with the safe loader
only, and nothing here touches the network. The Hugging Face config -> ModelSpec mapping is in
:mod:`profiler.hf_mapping` (re-exported here as ``spec_from_hf_config``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from profiler import quant_formats, userfile, yamldoc
from profiler.errors import CatalogueError, InvalidValueError, UnknownNameError
from profiler.hf_mapping import Fields, check_fields, located, spec_from_hf_config
from profiler.specs import COMPUTE_DTYPES, TENSOR_KINDS, GpuSpec, ModelSpec, QuantScheme
from profiler.yamldoc import YamlDoc

__all__ = ["load_models", "get_model", "model_from_config", "spec_from_hf_config", "load_gpus", "get_gpu",
           "load_quants", "get_quant", "load_file", "catalogue_hashes", "check_tp_in_node", "CATALOGUE_FILES",
           "NATIVE", "resolve_quant_id", "check_quants_for_model"]

SCHEMA_VERSION = 1  # the `schema_version:` these loaders read
CATALOGUE_FILES = {"models": "models.yaml", "gpus": "gpus.yaml", "quants": "quants.yaml"}


def _entries(doc: YamlDoc, section: str) -> tuple[dict[str, dict], tuple[str, ...]]:
    """The id -> fields mapping under `section:` (or at the top level), and its key path."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise CatalogueError(f"expected a mapping of {section} at the top level", file=doc.file, line=1)
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise CatalogueError(f"schema_version {version!r} is not supported; this inferplan reads "
                             f"{SCHEMA_VERSION}", file=doc.file, line=doc.line("schema_version"))
    if section in data:
        other = sorted(set(data) - {section, "schema_version"})
        if other:
            raise CatalogueError(f"unexpected top-level key '{other[0]}'; a {section} file holds "
                                 f"'schema_version' and '{section}'", file=doc.file,
                                 line=doc.line(str(other[0])))
        entries, prefix = data[section], (section,)
    else:
        entries, prefix = {k: v for k, v in data.items() if k != "schema_version"}, ()
    if not isinstance(entries, dict):
        raise CatalogueError(f"'{section}' must be a mapping from id to fields", file=doc.file,
                             line=doc.line(*prefix))
    for key, fields in entries.items():
        if not isinstance(key, str) or not isinstance(fields, dict):
            raise CatalogueError("each entry must be an id (a string) mapped to its fields", file=doc.file,
                                 line=doc.line(*prefix, str(key)), entry=str(key))
    return entries, prefix


Builder = Callable[[str, dict, str], Any]


def _build(doc: YamlDoc, section: str, make: Builder, packaged: bool) -> dict[str, Any]:
    entries, prefix = _entries(doc, section)
    out = {}
    if section == "quants":  # an entry may name another (fallback, tensor_formats): built when first named
        make = _quant_maker(doc, entries, packaged)
    for key, fields in entries.items():
        try:
            if packaged and not fields.get("source"):
                raise Fields(key, fields).error("source", "every catalogue entry names its source")
            out[key] = make(key, fields, fields.get("source") or f"user file {doc.file}")
        except CatalogueError as exc:  # an entry built because another named it reports its own line
            where = exc.entry if exc.entry in entries else key
            path = [int(p) if p.isdigit() else p for p in (exc.field or "").split(".")[:2]]  # list items by index
            raise located(exc, doc.file, doc.line(*prefix, where, *path)) from None
    return out


@lru_cache(maxsize=32)
def _load_text(section: str, text: str, file: str, packaged: bool) -> dict[str, Any]:
    doc = (yamldoc.load_packaged(file, text.encode("utf-8"), file, detailed=True) if packaged  # through the cache
           else yamldoc.parse_yaml(text, file, detailed=True))
    return _build(doc, section, _BUILDERS[section], packaged)


def _packaged_bytes(section: str) -> bytes:
    return resources.files("profiler").joinpath("catalogues", CATALOGUE_FILES[section]).read_bytes()


def _packaged_text(section: str) -> tuple[str, str]:
    return _packaged_bytes(section).decode("utf-8"), f"profiler/catalogues/{CATALOGUE_FILES[section]}"


def _read_user(path: str | Path, what: str = "a YAML file") -> tuple[str, str]:
    return userfile.read_text(path, what)


def load_file(section: str, path: str | Path) -> dict[str, Any]:
    """The entries of ONE user file in catalogue layout (`section`: models, gpus or quants), checked."""
    if section not in CATALOGUE_FILES:
        raise InvalidValueError(f"unknown catalogue '{section}'; use one of {', '.join(CATALOGUE_FILES)}")
    text, file = _read_user(path)
    entries = dict(_load_text(section, text, file, False))
    if not entries:  # adds nothing: the wrong file, not "no changes"
        raise CatalogueError(f"holds no {section}; a {section} file maps ids to their fields (as "
                             f"profiler/catalogues/{CATALOGUE_FILES[section]} does)", file=file)
    return entries


def _load(section: str, extra: str | Path | None) -> dict[str, Any]:
    """Packaged catalogue plus an optional user file (adds entries or replaces whole entries)."""
    out = dict(_load_text(section, *_packaged_text(section), True))
    if extra is not None:
        out.update(load_file(section, extra))
    return out


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


def load_models(extra: str | Path | None = None) -> dict[str, ModelSpec]:
    """Every catalogue model by id, plus those of the user file `extra`. Treat hf_config as read-only."""
    return _load("models", extra)


def get_model(name: str, models_file: str | Path | None = None,
              config_path: str | Path | None = None) -> ModelSpec:
    """A model by catalogue id, or from a local config.json / model folder when `config_path` is given.

    Without `config_path`, a `name` that is no catalogue id but an existing folder holding config.json, or a
    path to a .json file, is read as that config (label: the folder's name); a catalogue id wins over a folder
    of the same name in the working directory (write ``./name`` for the folder). No network either way.

    With `config_path`, `name` is only the label of the rows (empty: the folder's name). A label that is
    the id of a catalogue model (or of one in `models_file`) must describe the same architecture as the
    config, or every row would carry the wrong model's name: that is a CatalogueError saying what differs.
    """
    if config_path is not None:
        spec = model_from_config(config_path, name)
        known = load_models(models_file) if name else {}
        if name in known:
            _check_same_model(known[name], spec, config_path)
        return spec
    models = load_models(models_file)
    if name in models:
        return models[name]
    local = _local_config(name)
    if local is None:
        looks_like_path = "/" in name or "\\" in name or name.lower().endswith(".json")
        missing = "No folder or .json file is at that path either. " if looks_like_path else ""
        raise UnknownNameError("model", name, models, extra=f"{missing}A local model folder holding config.json, "
                               "or a config.json path, works too.")
    spec = model_from_config(local)
    if spec.name in models:  # the folder is named like a catalogue model: its rows would carry that id
        _check_same_model(models[spec.name], spec, local, hint="rename the folder")
    return spec


def _local_config(name: str) -> Path | None:
    """The config.json a model argument names when it is an existing folder or file, else None (then it is an
    unknown catalogue id). A folder without config.json, or a file that is no .json, is a CatalogueError."""
    if not name or "\0" in name:
        return None
    path = Path(name).expanduser()
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
        holds = is_dir and (path / "config.json").is_file()
    except (OSError, ValueError):  # a name too long for a path, or one the OS refuses: no local model
        return None
    if is_dir and not holds:
        raise CatalogueError(f"the folder {name} holds no config.json; give a Hugging Face model folder (with its "
                             "config.json), a config.json path, or a catalogue id (inferplan models)")
    if is_file and path.suffix.lower() != ".json":
        raise CatalogueError(f"{name} is a file but no config.json; give a Hugging Face config.json, a model folder "
                             "holding one, or a catalogue id (a models YAML goes with --models FILE)")
    return path / "config.json" if is_dir else path if is_file else None


def _differences(want: Any, got: Any, prefix: str = "") -> list[str]:
    """'field got, not want' for every compared field that differs (nested specs as attention.x)."""
    out = []
    for fld in dataclasses.fields(want):
        if not fld.compare or fld.name in ("name", "source"):
            continue
        a, b = getattr(want, fld.name), getattr(got, fld.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            out += _differences(a, b, f"{prefix}{fld.name}.")
        elif a != b:
            out.append(f"{prefix}{fld.name} {_short(b)}, not {_short(a)}")
    return out


def _short(value: Any) -> str:
    text = repr(value.value if hasattr(value, "value") else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_same_model(catalogued: ModelSpec, spec: ModelSpec, config_path: str | Path, hint: str = "") -> None:
    """`hint` "": the label came from --config's model name; else what fixes a folder named like a catalogue id."""
    diffs, name, file = _differences(catalogued, spec), catalogued.name, _config_file(config_path)
    if diffs:
        more = f" and {len(diffs) - 4} more" if len(diffs) > 4 else ""
        fix = (f"Leave the model name out (the rows are then labelled '{_default_label(file)}') or give a label "
               f"that is no catalogue id; to profile the catalogue's {name}, drop --config." if not hint else
               f"To use this config, {hint} (the rows take its name); for the catalogue's model, give the id {name}.")
        raise CatalogueError(
            f"'{name}' is a catalogue model id, but this config describes a different one "
            f"({'; '.join(diffs[:4])}{more}), so every row would be labelled with the wrong model. {fix}",
            file=str(file), entry=name)


def _config_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    return p / "config.json" if p.is_dir() else p


def _default_label(config_file: Path) -> str:
    """The folder's name: ``./mymodel`` and ``mymodel/config.json`` are 'mymodel' (``config.json`` alone: the
    current folder's name)."""
    return config_file.parent.name or config_file.absolute().parent.name or "model"


def model_from_config(path: str | Path, name: str = "") -> ModelSpec:
    """A ModelSpec from a Hugging Face config.json (or a folder holding one); never downloads."""
    p = _config_file(path)
    text, file = _read_user(p, "a Hugging Face config.json or a model folder holding one")
    cfg = userfile.parse_json(text, file)
    if not isinstance(cfg, dict):
        raise CatalogueError("a config.json holds one JSON object", file=file, line=1)
    name = name or _default_label(p)
    try:
        return spec_from_hf_config(name, cfg, f"config.json at {file}")
    except CatalogueError as exc:
        found = re.search(rf'"{re.escape(exc.field or "")}"\s*:', text) if exc.field else None
        raise located(exc, file, text.count("\n", 0, found.start()) + 1 if found else None) from None


# ------------------------------------------------------------------------------------------------
# GPUs and quantisation schemes
# ------------------------------------------------------------------------------------------------

_GPU_FIELDS = ("name", "memory_gb", "memory_gib", "memory_mib", "hbm_bandwidth_tb_s", "tflops", "interconnect",
               "interconnect_gb_s", "tdp_w", "gpus_per_node", "vendor", "class", "source")
GPU_CLASSES = ("datacenter", "consumer", "local")  # gpus.yaml `class` (default datacenter): GpuSpec.gpu_class


def _gpu_class(f: Fields) -> str | None:
    cls = f.str("class", None)
    if cls is not None and cls not in GPU_CLASSES:
        raise f.error("class", f"'{cls}' is not a GPU class; give one of {', '.join(GPU_CLASSES)}")
    return cls


def _gpu(gpu_id: str, data: dict, source: str) -> GpuSpec:
    f = Fields(gpu_id, data)
    f.only(_GPU_FIELDS)
    gb, gib, mib = f.number("memory_gb", None), f.number("memory_gib", None), f.number("memory_mib", None)
    if sum(v is not None for v in (gb, gib, mib)) != 1:
        raise f.error("memory_gb", "give exactly one of memory_gb (10^9 bytes), memory_gib (2^30 bytes) or "
                                   "memory_mib (2^20 bytes: the total nvidia-smi / cudaMemGetInfo report)")
    if mib is not None:
        gib = mib / 1024
    tflops = f.numbers("tflops")
    unknown = [d for d in tflops if d not in COMPUTE_DTYPES]
    if unknown:
        raise f.error(f"tflops.{unknown[0]}", f"unknown compute dtype '{unknown[0]}'; dtypes are "
                                               f"{', '.join(COMPUTE_DTYPES)} (dense TFLOP/s each)")
    if "bf16" not in tflops:
        raise f.error("tflops", "needs a bf16 entry (used for dtypes the GPU has no faster path for)")
    optional = {k: v for k, v in (("gpus_per_node", f.int("gpus_per_node", None)),
                                  ("vendor", f.str("vendor", None)), ("gpu_class", _gpu_class(f))) if v is not None}
    return GpuSpec(
        id=gpu_id, name=f.str("name"),
        hbm_bytes=round(gb * 1e9) if gb is not None else round(gib * 2**30),  # decimal GB or binary GiB
        hbm_bandwidth_bytes_per_s=f.number("hbm_bandwidth_tb_s") * 1e12,  # TB/s -> bytes/s
        tflops=tflops, interconnect=f.str("interconnect"),
        interconnect_bytes_per_s=f.number("interconnect_gb_s") * 1e9,  # GB/s per direction -> bytes/s
        tdp_w=f.number("tdp_w"), source=source, **optional,
    )


_QUANT_FIELDS = ("weight_bits", "group_size", "scale_bits", "zero_bits", "keep", "unquantised_bits",
                 "compute_dtype", "requires", "vllm_quantization", "keep_layers", "block_rows", "tensor_scale_bits",
                 "fallback", "tensor_formats", "source")


def _quant_dtypes(f: Fields) -> dict[str, str]:
    """compute_dtype (a COMPUTE_DTYPES entry) and requires ("" or the compute dtype: the tensor-core path the
    scheme's GEMMs run on), as given."""
    compute, requires = f.str("compute_dtype", None), f.str("requires", None, empty=True)
    if compute is not None and compute not in COMPUTE_DTYPES:
        raise f.error("compute_dtype", f"unknown compute dtype '{compute}'; dtypes are {', '.join(COMPUTE_DTYPES)}")
    if requires and requires != (compute or "bf16"):
        raise f.error("requires", f"'{requires}' is not a dtype this scheme can use: its GEMMs run in "
                                  f"{compute or 'bf16'} (compute_dtype), so requires is '' (any GPU) or "
                                  f"'{compute or 'bf16'}'")
    return {k: v for k, v in (("compute_dtype", compute), ("requires", requires)) if v is not None}


def _quant_maker(doc: YamlDoc, entries: dict[str, dict], packaged: bool) -> Builder:
    """The quants builder of one file: entries resolve names of one another, then of the packaged catalogue."""
    def build(key: str, fields: dict, resolve: quant_formats.Resolve) -> QuantScheme:
        return _quant(key, fields, fields.get("source") or f"user file {doc.file}", resolve)

    resolver = quant_formats.QuantResolver(build, entries, None if packaged else lambda: _load_text(
        "quants", *_packaged_text("quants"), True))
    return lambda key, fields, source: resolver.entry(key)


def _quant(quant_id: str, data: dict, source: str, resolve: quant_formats.Resolve | None = None) -> QuantScheme:
    f = Fields(quant_id, data)
    f.only(_QUANT_FIELDS)
    keep = f.strs("keep", [])
    unknown = [k for k in keep if k not in TENSOR_KINDS]
    if unknown:
        raise f.error("keep", f"unknown tensor kind '{unknown[0]}'; kinds are {', '.join(TENSOR_KINDS)}")
    optional = {k: v for k, v in (
        ("group_size", f.int("group_size", None, minimum=0)),
        ("scale_bits", f.int("scale_bits", None, minimum=0)),
        ("zero_bits", f.int("zero_bits", None, minimum=0)),
        ("unquantised_bits", f.int("unquantised_bits", None)),
        ("vllm_quantization", f.str("vllm_quantization", None, empty=True)),
        ("block_rows", f.int("block_rows", None, minimum=0)),
        ("tensor_scale_bits", f.int("tensor_scale_bits", None, minimum=0)),
    ) if v is not None}
    bits = f.int("weight_bits")
    if bits > 32:
        raise f.error("weight_bits", f"must be at most 32, got {bits}")
    if optional.get("block_rows") and not optional.get("group_size"):
        raise f.error("block_rows", "2-D block scales need group_size too (the block's width in inputs)")
    keep_layers = tuple(f.ints("keep_layers", []))  # range checked against each model when applied (weights.py)
    resolve = resolve or _no_references
    fallback = quant_formats.parse_fallback(data.get("fallback"), optional.get("group_size", 0), quant_id, resolve,
                                            source)
    formats = quant_formats.parse_tensor_formats(data.get("tensor_formats"), quant_id, resolve, source)
    return QuantScheme(id=quant_id, weight_bits=bits, keep=frozenset(keep), keep_layers=keep_layers, source=source,
                       fallback=fallback, tensor_formats=formats, **optional, **_quant_dtypes(f))


def _no_references(ref: str, entry: str, field: str) -> QuantScheme:
    raise CatalogueError(f"names quant '{ref}', but this entry is read alone", entry=entry, field=field)


def _model(name: str, data: dict, source: str) -> ModelSpec:
    """A catalogue YAML entry: only known fields (a typo is an error, not ignored), then the HF mapping."""
    check_fields(name, data)
    return spec_from_hf_config(name, data, source)


_BUILDERS: dict[str, Builder] = {"models": _model, "gpus": _gpu, "quants": _quant}


def load_gpus(extra: str | Path | None = None) -> dict[str, GpuSpec]:
    """Every catalogue GPU by id, plus those of the user file `extra`."""
    return _load("gpus", extra)


def load_quants(extra: str | Path | None = None) -> dict[str, QuantScheme]:
    """Every quantisation scheme by id, plus those of the user file `extra`."""
    return _load("quants", extra)


def get_gpu(gpu_id: str, gpus_file: str | Path | None = None) -> GpuSpec:
    gpus = load_gpus(gpus_file)
    if gpu_id not in gpus:
        raise UnknownNameError("GPU", gpu_id, gpus)
    return gpus[gpu_id]


def get_quant(quant_id: str, quants_file: str | Path | None = None) -> QuantScheme:
    quants = load_quants(quants_file)
    if quant_id not in quants:
        raise UnknownNameError("quant", quant_id, quants)
    return quants[quant_id]


NATIVE = "native"  # the quant id that stands for a model's own checkpoint format (ModelSpec.checkpoint_quant)


def resolve_quant_id(quant_id: str, model: ModelSpec) -> str:
    """`quant_id`, or for ``native`` the model's checkpoint format (bf16 where models.yaml names none). The one
    place ``native`` is resolved: outputs show the resolved id."""
    return (model.checkpoint_quant or "bf16") if quant_id == NATIVE else quant_id


def check_quants_for_model(model: ModelSpec, quants: Iterable[QuantScheme]) -> None:
    """Every scheme's keep_layers lies inside `model`: a CatalogueError naming the quant, the field and the model
    otherwise (a quants file is checked against the model it is applied to, before any work)."""
    from profiler.analytic.weights import kept_layers

    for quant in quants:
        kept_layers(model, quant)


def check_tp_in_node(gpu: GpuSpec, tp: int) -> None:
    """Tensor parallelism runs inside one node: TP may not exceed the GPU's ``gpus_per_node``.

    The timing model prices the TP all-reduce at ``interconnect_bytes_per_s`` (NVLink, or PCIe inside
    the box); a TP group spanning nodes would run over the network, which inferplan does not model.
    """
    if tp > gpu.gpus_per_node:
        most = 1 << (gpu.gpus_per_node.bit_length() - 1)  # largest power of two that fits in a node
        raise InvalidValueError(
            f"TP={tp} needs {tp} GPUs in one tensor-parallel group, but a {gpu.id} node holds "
            f"{gpu.gpus_per_node} (gpus_per_node in gpus.yaml), joined by {gpu.interconnect}; inferplan "
            f"models tensor parallelism inside one node only. Use --tp {most} or less, a smaller quant, "
            "or a GPU with more memory.")


def catalogue_hashes(*extra: str | Path) -> dict[str, str]:
    """sha256[:12] of each packaged catalogue file (and of any user files given), for profile metadata."""
    out = {name: hashlib.sha256(_packaged_bytes(section)).hexdigest()[:12]
           for section, name in CATALOGUE_FILES.items()}
    for path in extra:
        text, file = _read_user(path)
        out[file] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return out


# ------------------------------------------------------------------------------------------------
# Source keys: the short codes of the catalogue rows' `source:` texts, in words (catalogues/source_keys.yaml)
# ------------------------------------------------------------------------------------------------

SOURCE_KEY_FIELDS = ("name", "publisher", "document", "date")


@dataclasses.dataclass(frozen=True)
class SourceKey:
    key: str  # the code as the rows write it, e.g. AIC
    name: str  # what the code reads as in words, e.g. NVIDIA AIConfigurator
    publisher: str
    document: str
    date: str  # the source's own date ("undated" where it has none)


@lru_cache(maxsize=1)
def load_source_keys() -> dict[str, SourceKey]:
    """The packaged source keys by code; a malformed entry is a CatalogueError naming it."""
    file = "profiler/catalogues/source_keys.yaml"
    raw = resources.files("profiler").joinpath("catalogues", "source_keys.yaml").read_bytes()
    data = yamldoc.load_packaged(file, raw, file).data or {}
    out = {}
    for key, fields in (data.get("source_keys") or {}).items():
        missing = [f for f in SOURCE_KEY_FIELDS if not isinstance(fields, dict) or not fields.get(f)]
        if missing:
            raise CatalogueError(f"source key '{key}' needs {', '.join(missing)}", file=file, entry=str(key))
        out[str(key)] = SourceKey(str(key), *(str(fields[f]) for f in SOURCE_KEY_FIELDS))
    return out


def source_in_words(text: str, keys: dict[str, SourceKey] | None = None) -> tuple[str, tuple[SourceKey, ...]]:
    """`text` with every whole-word source key replaced by its name, and the keys it used, in order of first use."""
    keys = load_source_keys() if keys is None else keys
    if not keys:
        return text, ()
    used: dict[str, SourceKey] = {}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) + r")\b")

    def name(match: re.Match) -> str:
        used.setdefault(match.group(0), keys[match.group(0)])
        return keys[match.group(0)].name

    return pattern.sub(name, text), tuple(used.values())
