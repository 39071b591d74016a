"""Serving benchmark reports read as measured profiles: ``vllm bench serve`` results, guidellm reports and
``inferplan endpoint --format json`` documents.

``inferplan plan --profile``, ``simulate --profile`` and ``calibrate`` take these JSON files where they take a
profile: :func:`profiler.schema.read_profile` recognises them (:func:`is_report`) and hands them here. How a load
point becomes profile rows is :mod:`profiler.interop.serving`; the formats are read by
:mod:`profiler.interop.vllm_bench`, :mod:`profiler.interop.guidellm` and :mod:`profiler.interop.endpoint_doc`,
whose docstrings cite the tools' source.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from profiler import userfile
from profiler.errors import CatalogueError
from profiler.interop import endpoint_doc, guidellm, vllm_bench
from profiler.interop.serving import ReportError, ServingContext, catalogue_model_id, report_profile
from profiler.schema import ProfileMeta

__all__ = ["ReportError", "ServingContext", "catalogue_model_id", "from_report", "is_report", "parse_json",
           "read_report"]


def parse_json(text: str, file: str) -> Any:
    """The JSON document of `text`; several objects one after another (``vllm bench serve --append-result``, or
    saved results concatenated) come back as a list when every one is a vLLM result. Anything else that is not one
    JSON document raises the JSON error (file:line)."""
    try:
        return userfile.parse_json(text, file)
    except CatalogueError as exc:
        if "Extra data" not in str(exc):
            raise
        first = exc
    docs, pos, decoder = [], 0, json.JSONDecoder()
    with userfile.no_recursion_error(file, "JSON"):
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            try:
                _, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                raise first from None
            docs.append(userfile.parse_json(text[pos:end], file))  # within the depth bound, like any file
            pos = end
    if not all(vllm_bench.is_result(d) for d in docs):
        raise first
    return docs


def is_report(doc: Any) -> bool:
    """Whether a parsed JSON document is a guidellm report (``benchmarks``), vLLM result(s)
    (``request_throughput`` / ``mean_ttft_ms``) or an ``inferplan endpoint`` document (``inferplan_endpoint``)
    rather than an inferplan profile (``rows``)."""
    if isinstance(doc, list):
        return bool(doc) and all(vllm_bench.is_result(d) for d in doc)
    return guidellm.is_report(doc) or vllm_bench.is_result(doc) or endpoint_doc.is_document(doc)


def read_report(doc: Any, file: str):
    """The parsed report as a :class:`profiler.interop.serving.Report` (points and what the file says)."""
    if endpoint_doc.is_document(doc):
        return endpoint_doc.read(doc, file)
    return guidellm.read(doc, file) if guidellm.is_report(doc) else vllm_bench.read(doc, file)


def from_report(doc: Any, file: str, serving: ServingContext | None = None) -> tuple[pd.DataFrame, ProfileMeta]:
    """A report (:func:`is_report`) as profile rows and metadata; `serving` fills what the file does not say."""
    return report_profile(read_report(doc, file), serving, file)


def is_report_meta(meta: ProfileMeta | None) -> bool:
    """Whether a profile's metadata is that of a report read here."""
    return meta is not None and isinstance(meta.environment.get("report"), dict)
