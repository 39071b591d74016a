"""vLLM's KV-cache accounting by engine version, the (1 - utilisation) headroom and the startup log lines."""

from dataclasses import replace

from profiler.analytic import memory
from profiler.analytic.memory import EngineVersion
from profiler.specs import GpuSpec, KvDtype
from tests.profiler.analytic.specs import BF16, EFF, H100, gemma_like, llama8b

# a 24 GiB card (RTX 4090 / L4 class): 25,769,803,776 B
CARD_24G = GpuSpec("card-24g", "24 GiB card", hbm_bytes=24 * 2**30, hbm_bandwidth_bytes_per_s=1e12,
                   tflops={"bf16": 165}, interconnect_bytes_per_s=32e9, interconnect="PCIe", tdp_w=450)


def test_tp2_charges_half_the_model_and_keeps_nccl_outside_the_share():
    m = llama8b()
    b = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 2, EFF)
    # per rank at TP 2 (v0.21+):
    #   requested   0.9 x 85,899,345,920                                        = 77,309,411,328
    #   weights     half the GEMMs and embedding rows, norms whole (test_tp_shards...) =  8,030,527,488
    #   torch peak  forward 8,192 x (8,192 + q 2,048 + k,v 1,024 + 3 x 7,168) x 2 B = 536,870,912 is below the
    #               sampler phase: hidden 67,108,864 + 256 x 128,256 (whole vocab: v1 all-gathers logits) x 16 B
    #               525,336,576                                                 =    592,445,440
    #   inside      non-torch 134,217,728 + graphs 536,870,912                  =    671,088,640
    #   KV          77,309,411,328 - 8,030,527,488 - 592,445,440 - 671,088,640  = 68,015,349,760
    assert (b.weights_bytes, b.activation_bytes, b.kv_budget_bytes) == (8_030_527_488, 592_445_440, 68_015_349_760)
    # NCCL buffers (342 MB at TP2) are in the baseline snapshot, outside the share, with the CUDA context
    assert b.outside_util == {"cuda_context": 536_870_912, "nccl": 342_000_000, "cuda_graphs": 0}
    assert b.reserves["nccl"] == 0 and b.headroom_short_bytes == 0
    # 68,015,349,760 / 65,536 B per token per rank = 1,037,831.9 -> 1,037,824 tokens in whole blocks
    assert b.kv_capacity_tokens == 1_037_824


def test_small_card_new_rule_holds_more_kv_than_the_old_one():
    m = llama8b()
    b = memory.memory_budget(m, CARD_24G, BF16, KvDtype.FP8, 1, EFF)
    # requested int(0.9 x 25,769,803,776) = 23,192,823,398; weights 16,060,522,496; torch peak 939,524,096;
    # inside 671,088,640 -> KV = 5,521,688,166 B; fp8 KV 65,536 B/token -> 84,254.3 -> 84,240 tokens.
    assert b.kv_budget_bytes == 5_521_688_166 and b.kv_capacity_tokens == 84_240
    # The rule before issue 9 subtracted context 512 MiB + graphs 512 MiB + safety 150 MiB = 1,231,028,224 and an
    # activation sum of 1,070,858,240: 23,192,823,398 - 16,060,522,496 - 1,070,858,240 - 1,231,028,224
    # = 4,830,414,438 B (73,706 tokens): the new accounting holds 14.3% more.
    assert b.kv_budget_bytes - 4_830_414_438 == 691_273_728
    # v0.9.2 to v0.20 captured graphs in the headroom: 512 MiB more KV, 6,058,559,078 B (+25.4% on the old rule)
    before_graph_profiling = memory.memory_budget(m, CARD_24G, BF16, KvDtype.FP8, 1, EFF,
                                                  engine=EngineVersion.V1_NCCL_IN_BASELINE)
    assert before_graph_profiling.kv_budget_bytes == 5_521_688_166 + 536_870_912
    # v1 <= 0.9.1 charged the CUDA context (non-torch since process start) to the share instead of the graphs
    legacy = memory.memory_budget(m, CARD_24G, BF16, KvDtype.FP8, 1, EFF, engine=EngineVersion.V1_LEGACY)
    assert legacy.reserves["cuda_context"] == 536_870_912 and legacy.kv_budget_bytes == 5_521_688_166


def test_util_098_on_a_24g_card_fails_at_startup_and_096_at_graph_capture():
    m = llama8b(num_layers=8)
    at_98 = replace(EFF, gpu_memory_utilization=0.98)
    b = memory.memory_budget(m, CARD_24G, BF16, KvDtype.BF16, 1, at_98)
    # requested int(0.98 x 25,769,803,776) = 25,254,407,700 -> headroom 515,396,076 B < CUDA context 536,870,912:
    # init_device sees free memory below the requested share and refuses to start; short by 21,474,836 B
    assert (b.headroom_short_bytes, b.headroom_failure) == (21_474_836, "startup")
    at_96 = replace(EFF, gpu_memory_utilization=0.96)
    # requested int(0.96 x 25,769,803,776) = 24,739,011,624 -> headroom 1,030,792,152 B holds the context; before
    # v0.21 the 512 MiB graph pool is captured there too: 1,073,741,824 needed, 42,949,672 short -> OOM at capture
    old = memory.memory_budget(m, CARD_24G, BF16, KvDtype.BF16, 1, at_96, engine=EngineVersion.V1_NCCL_IN_BASELINE)
    assert (old.headroom_short_bytes, old.headroom_failure) == (42_949_672, "cuda-graph-capture")
    # v0.21+ charges the graph estimate inside the share, so the same setting starts; so does --enforce-eager
    assert memory.memory_budget(m, CARD_24G, BF16, KvDtype.BF16, 1, at_96).headroom_failure == ""
    eager = memory.memory_budget(m, CARD_24G, BF16, KvDtype.BF16, 1, at_96, cuda_graphs=False,
                                 engine=EngineVersion.V1_NCCL_IN_BASELINE)
    assert eager.headroom_short_bytes == 0


def test_log_lines_for_a_uniform_model_match_vllm_formats():
    m = llama8b()
    b = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 1, EFF)
    # num_blocks = 59,638,276,096 // (16 tokens x 4,096 B page) // 32 layers = 28,437 x 16 = 454,992 tokens;
    # a 32,768-token request takes cdiv(32,768, 16) = 2,048 blocks -> 28,437 / 2,048 = 13.885 -> "13.89x"
    assert memory.engine_kv_numbers(b, m, KvDtype.BF16, 1, 32768) == (28_437, 454_992, 28_437 / 2048)
    assert memory.engine_log_lines(b, m, KvDtype.BF16, 1, 32768) == [
        "Model loading took 14.96 GiB memory",  # 16,060,522,496 / 2^30 = 14.957
        "Available KV cache memory: 55.54 GiB",  # 59,638,276,096 / 2^30 = 55.542
        "GPU KV cache size: 454,992 tokens",
        "Maximum concurrency for 32,768 tokens per request: 13.89x",
    ]


def test_log_lines_for_a_sliding_window_hybrid_sum_blocks_over_groups():
    m = gemma_like()  # 2 sliding (window 100) + 2 full layers, 4 KV heads of 64 + 64 dims, bf16
    page = 16 * 4 * (64 + 64) * 2  # 16,384 B per layer-block
    b = memory.MemoryBudget(hbm_bytes=0, usable_bytes=0, weights_bytes=0, activation_bytes=0, reserves={},
                            kv_budget_bytes=page * 2 * 254 + 5, kv_bytes_per_token=0)
    # groups of min(2 full, 2 sliding) = 2 layers: [full], [sliding]; num_blocks = 8,323,077 // 16,384 // 2 = 254;
    # size line 254 // 2 groups x 16 = 2,032 tokens. A 1,000-token request: full cdiv(1,000, 16) = 63 blocks;
    # sliding cdiv(min(100 - 1 + 8,192, 1,000), 16) + 1 = 64 -> 127 blocks -> 254 / 127 = 2.00x
    assert memory.engine_kv_numbers(b, m, KvDtype.BF16, 1, 1000) == (254, 2032, 2.0)
    # with a 16-token chunk the sliding group needs cdiv(min(115, 1,000), 16) + 1 = 9 blocks -> 254 / 72 = 3.53x
    lines = memory.engine_log_lines(b, m, KvDtype.BF16, 1, 1000, chunk_tokens=16)
    assert lines[2:] == ["GPU KV cache size: 2,032 tokens", "Maximum concurrency for 1,000 tokens per request: 3.53x"]
