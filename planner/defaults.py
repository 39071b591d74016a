"""Defaults of the planner that `inferplan` shows in its --help text or fills in while parsing flags, defined here, in
a module that imports nothing, so that the CLI declares and checks its options without loading the planner
(planner.simulate_api and planner.verdict import them from here).
"""

DEFAULT_INPUT_TOKENS = 1000.0  # mean prompt of a --rate run [tokens]: a chat turn with context (our choice)
DEFAULT_OUTPUT_TOKENS = 250.0  # mean output [tokens]: a chat answer (our choice)
DEFAULT_SIGMA = 0.6  # lognormal sigma of both lengths: p99 / mean ≈ 3.4 (our choice; 0 = fixed lengths)
DEFAULT_CV = 1.0  # inter-arrival coefficient of variation: Poisson arrivals
SELF_HOST_MARGIN = 2.0  # seed §4 step 4: "API cost at least 2x the true TCO" (plan --margin's default)
