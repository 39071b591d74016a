"""Tiny models for the measured-path tests (built on the CPU in milliseconds)."""

import pytest

TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512,
        "tie_word_embeddings": False}
TINY_TIED = {**TINY, "tie_word_embeddings": True}
TINY_MOE = {"model_type": "qwen3_moe", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
            "num_experts": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 256, "max_position_embeddings": 512}


def spec(name, fields):
    from profiler import catalogue

    return catalogue.spec_from_hf_config(name, fields, "test fixture")


@pytest.fixture(scope="session")
def tiny():
    return spec("tiny-llama", TINY)


@pytest.fixture(scope="session")
def tiny_tied():
    return spec("tiny-llama-tied", TINY_TIED)


@pytest.fixture(scope="session")
def tiny_moe():
    return spec("tiny-moe", TINY_MOE)


@pytest.fixture(scope="session")
def cpu():
    torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    return torch.device("cpu")
