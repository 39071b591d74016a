"""Tiny models for the measured-path tests (built on the CPU in milliseconds) and their sizes counted by hand.

A helper module, not a test module: test modules (here and in tests/cli) import from it, never from one another.
Nothing here imports torch or loads a catalogue at import time.
"""

from __future__ import annotations

TINY = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256, "max_position_embeddings": 512,
        "tie_word_embeddings": False}
TINY_TIED = {**TINY, "tie_word_embeddings": True}
TINY_MOE = {"model_type": "qwen3_moe", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
            "num_experts": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 256, "max_position_embeddings": 512}

# TINY counted by hand (head_dim = 64 / 4 heads = 16; K and V are 2 KV heads x 16 = 32 wide):
#   embedding 256 x 64 = 16,384; lm_head (untied) 16,384
#   per layer: q 64x64 = 4,096, k 64x32 = 2,048, v 2,048, o 4,096, gate/up/down 64x128 = 8,192 each (24,576),
#              two norms 2 x 64 = 128  -> 36,992; the final norm 64
#   total 16,384 + 16,384 + 2 x 36,992 + 64 = 106,816 parameters; bf16: 213,632 B
TINY_PARAMS = 106_816
TINY_BF16_BYTES = 2 * TINY_PARAMS
TINY_LINEAR_ROWS_PER_LAYER = 64 + 32 + 32 + 64 + 128 + 128 + 64  # q, k, v, o, gate, up, down output rows: 512
TINY_LINEAR_PARAMS_PER_LAYER = 4_096 + 2_048 + 2_048 + 4_096 + 3 * 8_192  # 36,864
# KV cache: 2 (K, V) x 2 KV heads x 16 dims x 2 B = 128 B per token per layer; 256 B per token over 2 layers.
TINY_KV_BYTES_PER_TOKEN_LAYER = 128
TINY_KV_BYTES_PER_TOKEN = 2 * TINY_KV_BYTES_PER_TOKEN_LAYER

TINY_RESIDENT_BYTES = TINY_BF16_BYTES + 2 * 8 * 4  # + the rotary inv_freq and original_inv_freq: 8 float32 each

# Bytes and FLOPs of one tiny-llama bf16 step, counted by hand:
#   weights streamed = every weight but the embedding table, plus the B x hidden rows gathered from it:
#                      2 B x (106,816 - 16,384) + tokens x 64 x 2 B = 180,864 B + 128 B per token of the step
#   decode KV        = B sequences x 2 layers x (context + 1) slots read x 128 B, plus B x 256 B written
#                      (an HF static cache attends all its context + 1 slots)
#   prefill KV       = B x T x 256 B written, none read
#   FLOPs            = 2 x (every GEMM weight but the embedding: 90,432 - the 2 x 128 + 64 = 320 norm weights
#                      = 90,112) per token (norms are elementwise, not multiply-adds; prefill runs the 256 x 64
#                      lm_head for the last position only) + attention 2 x 4 heads x (16 + 16) = 256 per
#                      (query token, attended token, layer); a causal prefill of T tokens attends T (T + 1) / 2
#                      per layer
_LAYERS, _HIDDEN, _VOCAB = 2, 64, 256
_STREAMED = 2 * (TINY_PARAMS - _VOCAB * _HIDDEN)  # 180,864 B
_FLOPS_PER_TOKEN = 2 * (TINY_PARAMS - _VOCAB * _HIDDEN - 320)  # 180,224
_ATTN_FLOPS = 2 * 4 * (16 + 16)  # 256


def decode_by_hand(batch: int, context: int) -> tuple[int, int]:
    """(bytes, FLOPs) of one decode step of `batch` sequences at `context` on a static cache."""
    attended = context + 1
    nbytes = (_STREAMED + batch * _HIDDEN * 2 + batch * _LAYERS * attended * TINY_KV_BYTES_PER_TOKEN_LAYER
              + batch * TINY_KV_BYTES_PER_TOKEN)
    return nbytes, batch * _FLOPS_PER_TOKEN + batch * _LAYERS * attended * _ATTN_FLOPS


def prefill_by_hand(batch: int, prompt: int) -> tuple[int, int]:
    """(bytes, FLOPs) of a prefill of `batch` prompts of `prompt` tokens, logits for the last position only."""
    tokens = batch * prompt
    nbytes = _STREAMED + tokens * _HIDDEN * 2 + tokens * TINY_KV_BYTES_PER_TOKEN
    head = 2 * _VOCAB * _HIDDEN
    causal = prompt * (prompt + 1) // 2
    return nbytes, tokens * (_FLOPS_PER_TOKEN - head) + batch * head + batch * _LAYERS * causal * _ATTN_FLOPS


def spec(name: str, fields: dict):
    """A ModelSpec from Hugging Face config fields, as a user models file would give it."""
    from profiler import catalogue

    return catalogue.spec_from_hf_config(name, fields, "test fixture")
