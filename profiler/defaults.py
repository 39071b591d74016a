"""Defaults of the profiler that `inferplan` shows in its --help text, defined here, in a module that imports
nothing, so that the CLI can declare its options without loading pandas (profiler.api and profiler.analytic.memory
import them from here).
"""

# The GPU an analytic profile describes when none is named. A measured profile never defaults to it: its GPU is
# the card it ran on, detected from the device name (profiler.measure.environment.machine_spec).
DEFAULT_GPU = "h100-sxm"

# vLLM engine defaults used when a caller does not set them (profiler.analytic.memory's accounting).
DEFAULT_CHUNK_TOKENS = 8192  # vLLM v1 max_num_batched_tokens for the OpenAI server (chunked prefill on)
DEFAULT_MAX_NUM_SEQS = 256  # vLLM --max-num-seqs default
