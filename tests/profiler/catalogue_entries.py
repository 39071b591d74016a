"""Catalogue ids and small model entries shared by the profiler tests (not a test module; loads nothing).

Tests parametrised over catalogue models use the static ``CATALOGUE_IDS``; tests/profiler/test_catalogue.py
checks it equals the packaged catalogue, so a model added there without being added here fails that test.
"""

from __future__ import annotations

CATALOGUE_IDS = (
    "deepseek-v3", "gemma-2-27b", "gemma-2-9b", "gpt-oss-120b", "gpt-oss-20b", "llama-2-7b", "llama-3.1-405b",
    "llama-3.1-8b", "llama-3.2-1b", "llama-3.3-70b", "mistral-7b-v0.3", "mixtral-8x7b", "phi-3-mini-4k", "qwen2.5-72b",
    "qwen2.5-7b", "qwen3-30b-a3b", "qwen3-8b", "smollm2-135m", "tinyllama-1.1b",
)

# A models.yaml with one tiny llama entry. Written by the write_file fixture (leading newline stripped), `tiny`
# is on line 2 and its fields on lines 3-9 (model_type 3, hidden_size 4, ..., vocab_size 9).
TINY = """
models:
  tiny:
    model_type: llama
    hidden_size: 64
    num_hidden_layers: 2
    num_attention_heads: 4
    num_key_value_heads: 2
    intermediate_size: 128
    vocab_size: 100
"""


def tiny_cfg(**kw) -> dict:
    """The TINY entry as config.json fields, with `kw` added or replaced."""
    cfg = dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, intermediate_size=128, vocab_size=100)
    cfg.update(kw)
    return cfg
