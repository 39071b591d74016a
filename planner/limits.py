"""The largest inputs inferplan plans for: each bound stated once, with why it sits where it does.

Beyond these the numbers stop describing a deployment anyone can buy, and the work to size them grows without
limit (a replica count of 10^20 is an array of 10^20 failure probabilities). Inputs past a bound are refused with
one line naming the bound, before any work (README, "Limits").
"""

from __future__ import annotations

# Input + output tokens per day one plan sizes: 10^12 (~11.6M tokens/s). Google reported 480 trillion tokens a
# month across all its products (I/O, 20 May 2025: ~1.6e13 a day); one model's deployment sized here is at most a
# sixteenth of that. The crossover search scans volumes up to the same bound.
MAX_TOKENS_PER_DAY = 1e12
# Mean tokens per request, input or output: 10^8, ten times the longest published context window (Llama 4 Scout,
# 10M tokens; Meta, 5 Apr 2025). A longer request fits no model.
MAX_REQUEST_TOKENS = 1e8
# Peak request rate / mean rate: 100 = a whole day's traffic in 14.4 minutes. An hourly profile peaks at most 24x
# (every request in one hour); burstiness within an hour is the simulator's arrival cv, not this ratio.
MAX_PEAK_TO_AVERAGE = 100.0
# Replicas at peak of one deployment: 10^5. The largest GPU clusters built hold ~2x10^5 GPUs (xAI Colossus, 2025);
# a candidate needing more is reported as infeasible, with its count, rather than sized.
MAX_REPLICAS = 100_000
# Failure domains to spread over: 64. AWS's largest region has 6 availability zones (us-east-1); 64 leaves room for
# spreading over every zone of ten regions and refuses typos such as 99999999999999999999999.
MAX_ZONES = 64

__all__ = ["MAX_TOKENS_PER_DAY", "MAX_REQUEST_TOKENS", "MAX_PEAK_TO_AVERAGE", "MAX_REPLICAS", "MAX_ZONES"]
