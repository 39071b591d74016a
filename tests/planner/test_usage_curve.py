"""Issue 14 item 8: a usage log's diurnal curve (planner.usage_log), besides its volumes and busiest hour.

The synthetic logs put a known number of requests in each clock hour, spread evenly inside the hour, so the expected
curve is that shape over its mean, exactly.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from planner.workload import DEFAULT_WORKLOAD
from tests.helpers import cli_error, cli_json, write_trace

DAY = 86_400
# requests in clock hours 0-23 (UTC): a business-day shape, quiet at night, flat 11:00-14:00
SHAPE = (2, 1, 1, 1, 1, 2, 4, 6, 8, 10, 12, 12, 12, 12, 12, 10, 8, 8, 6, 6, 4, 4, 3, 2)
MIDNIGHT = 1_767_225_600  # 2026-01-01T00:00:00Z, Unix epoch seconds


def _rows(start: float, hours: range, shape=SHAPE, first_clock_hour: int = 0, phase: float = 0.5):
    """(t, 1000 in, 200 out) rows: shape[clock hour] requests evenly inside each hour of `hours` after `start`
    (`phase` 0: the first at the hour's start)."""
    rows = []
    for h in hours:
        k = shape[(first_clock_hour + h) % 24]
        rows += [(start + h * 3600 + (i + phase) * 3600 / k, 1000, 200) for i in range(k)]
    return rows


def _expected_curve(shape=SHAPE):
    mean = sum(shape) / len(shape)
    return [k / mean for k in shape]


def test_three_days_give_the_hourly_shape_and_the_volumes(tmp_path):
    from planner.usage_log import workload_from_usage_log

    rows = _rows(MIDNIGHT, range(72))
    w = workload_from_usage_log(write_trace(tmp_path / "u.csv", rows), DEFAULT_WORKLOAD)
    assert w.daily_curve == pytest.approx(_expected_curve(), rel=1e-12)
    assert w.load_curve == w.daily_curve  # no hourly profile given: the measured curve is the load curve
    assert w.peak_to_average == pytest.approx(max(SHAPE) / (sum(SHAPE) / 24))  # busiest hour: every day the same
    days = (rows[-1][0] - rows[0][0]) / DAY  # first to last arrival
    assert w.requests_per_day == pytest.approx(len(rows) / days)
    assert w.requests_per_day == pytest.approx(sum(SHAPE), rel=0.01)  # 147 a day, 3 days
    assert w.tokens_in_per_day == pytest.approx(1000 * len(rows) / days)
    assert w.tokens_out_per_day == pytest.approx(200 * len(rows) / days)
    assert "UTC clock hours" in w.volume_source and "busiest hour 1.96x" in w.volume_source
    assert "daily curve" in w.volume_source


def test_a_busy_hour_on_one_day_raises_the_peak_above_the_mean_day():
    import numpy as np

    from planner.usage_log import daily_curve, hour_slots

    rows = _rows(MIDNIGHT, range(72))
    rows += [(MIDNIGHT + DAY + 10 * 3600 + 60 * i + 30, 1000, 200) for i in range(36)]  # day 2, 10:00: 36 more
    t = np.sort(np.array([r[0] for r in rows]))
    counts, clock = hour_slots(t - t[0], t[-1] - t[0], t[0])
    curve = daily_curve(counts, clock)
    peak = counts.max() / counts.mean()
    assert counts.max() == 12 + 36 and peak > max(curve)  # sizing keeps the busiest single hour
    assert curve[10] / curve[11] == pytest.approx((12 + 12 + 12 + 36) / 3 / 12)  # hour 10 averages its 3 days


def test_partial_days_average_each_clock_hour_over_the_times_it_occurs(tmp_path):
    from planner.usage_log import workload_from_usage_log

    rows = _rows(MIDNIGHT + 6 * 3600, range(60), first_clock_hour=6)  # 06:00 day 1 to 18:00 day 3: 2.5 days
    w = workload_from_usage_log(write_trace(tmp_path / "u.csv", rows), DEFAULT_WORKLOAD)
    assert w.daily_curve == pytest.approx(_expected_curve(), rel=1e-12)  # hours seen 3 times weigh no more


def test_seconds_from_the_first_request_count_hours_from_it(tmp_path):
    from planner.usage_log import workload_from_usage_log

    rows = _rows(0.0, range(48), phase=0.0)  # not epoch seconds: hour 0 starts at the first request
    w = workload_from_usage_log(write_trace(tmp_path / "u.csv", rows), DEFAULT_WORKLOAD)
    assert w.daily_curve == pytest.approx(_expected_curve(), rel=1e-12)
    assert "hours from the first request" in w.volume_source


def test_iso_timestamps_read_on_the_utc_clock(tmp_path):
    from planner.usage_log import workload_from_usage_log

    rows = _rows(MIDNIGHT + 9 * 3600, range(48), first_clock_hour=9)
    iso = [(datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z"), i, o) for t, i, o in rows]
    w = workload_from_usage_log(write_trace(tmp_path / "u.csv", iso), DEFAULT_WORKLOAD)
    assert w.daily_curve == pytest.approx(_expected_curve(), rel=1e-9)


def test_a_log_shorter_than_a_day_has_no_curve(tmp_path):
    from planner.usage_log import workload_from_usage_log

    w = workload_from_usage_log(write_trace(tmp_path / "u.csv", _rows(MIDNIGHT, range(12))), DEFAULT_WORKLOAD)
    assert w.daily_curve is None and w.load_curve is None
    assert w.peak_to_average == DEFAULT_WORKLOAD.peak_to_average


def test_plan_usage_shows_the_daily_curve_in_the_json_workload(tmp_path):
    path = write_trace(tmp_path / "u.csv", _rows(MIDNIGHT, range(48)))
    d = cli_json("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8", "--usage", path)
    assert d["workload"]["daily_curve"] == pytest.approx(_expected_curve(), rel=1e-9)
    assert d["workload"]["peak_to_average"] == pytest.approx(max(SHAPE) / (sum(SHAPE) / 24))


@pytest.mark.parametrize(("text", "says"), [
    ("timestamp,input_tokens\n0,10\n", "missing column(s) output_tokens"),
    ("timestamp,input_tokens,output_tokens\n0,ten,10\n", "column 'input_tokens'"),
    ("", "the file is empty"),
    ("timestamp,input_tokens,output_tokens\n", "no requests"),
    (f"timestamp,input_tokens,output_tokens\n{MIDNIGHT * 1000},10,10\n{MIDNIGHT * 1000 + 5},10,10\n",
     "epoch milliseconds"),
])
def test_bad_usage_logs_fail_in_one_line(tmp_path, text, says):
    path = tmp_path / "u.csv"
    path.write_text(text)
    assert says in cli_error("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--usage", path)
