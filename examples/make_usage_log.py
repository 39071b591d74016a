"""Write examples/usage_log.csv: a SYNTHETIC two-day request log in the usage-log / trace layout
(timestamp [Unix seconds, UTC], input_tokens, output_tokens), for trying `inferplan plan --usage`.

It is not a measurement: arrivals are a Poisson stream whose hourly rate follows a working-day shape (a base load
all day, a morning and an afternoon busy period), 3,000 requests a day on average; prompt and output lengths are
lognormal with means 1,000 and 200 tokens (the seed scenario's request, planner/workload.py) and sigma 0.6 / 0.5.
Run: python examples/make_usage_log.py (seed 0: the same file every time).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

START = 1_767_225_600  # 2026-01-01 00:00:00 UTC
DAYS = 2
REQUESTS_PER_DAY = 3_000
# relative request rate by UTC clock hour (design choice: a base load of 0.3, busy 9-12 h and 13-18 h)
SHAPE = [0.3] * 7 + [0.8, 1.2] + [2.2] * 3 + [1.4] + [2.0] * 5 + [1.0, 0.6] + [0.3] * 4


def main() -> None:
    rng = np.random.default_rng(0)
    mean_shape = sum(SHAPE) / 24
    rows = []
    for day in range(DAYS):
        for hour, weight in enumerate(SHAPE):
            n = rng.poisson(REQUESTS_PER_DAY / 24 * weight / mean_shape)
            t0 = START + day * 86_400 + hour * 3_600
            for t in np.sort(rng.uniform(0, 3_600, n)):
                i = max(1, round(rng.lognormal(math.log(1_000) - 0.6 ** 2 / 2, 0.6)))
                o = max(1, round(rng.lognormal(math.log(200) - 0.5 ** 2 / 2, 0.5)))
                rows.append((round(t0 + t, 3), i, o))
    path = Path(__file__).with_name("usage_log.csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "input_tokens", "output_tokens"])
        w.writerows(rows)
    print(f"wrote {path}: {len(rows):,} requests over {DAYS} days")


if __name__ == "__main__":
    main()
