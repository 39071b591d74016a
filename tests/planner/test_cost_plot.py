"""Issue 13: cost.png highlights the API the verdict rests on and the planned volume (planner.plots.cost_figure).

The figure is checked through its matplotlib artists: the reference API's line (label, width, colour), the other
APIs muted, the vertical line at the planned volume with a point on the self-hosted curve, the break-even marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib", reason="drawing cost.png needs matplotlib (the report and dev extras install it)")

from planner.plots import REFERENCE_COLOUR, REFERENCE_SAYS, VOLUME_COLOUR, cost_figure, plan_cost_plot  # noqa: E402

REF, OTHER, DEAR = "acme / same-weights", "other / cheap", "dear / api"
# A synthetic plan: self-hosting $12,588/month up to 100M tokens/day, then $20,000; the reference API costs
# $5.27e-6/month per token/day (6M tokens/day -> $31.62/month), the cheap one half of that, the dear one 1e-3.
SLOPES = {REF: 31.62 / 6e6, OTHER: 31.62 / 12e6, DEAR: 1e-3}


def _curve() -> pd.DataFrame:
    v = np.logspace(6, 10, 33)
    df = pd.DataFrame({"tokens_per_day": v, "self_host_monthly": np.where(v < 1e8, 12_588.0, 20_000.0),
                       "self_host_replicas": np.where(v < 1e8, 1, 2), "replica_step": np.isclose(v, 1e8)})
    for api, slope in SLOPES.items():
        df[api] = slope * v
    return df


def _crossovers(ref_at: float = np.nan) -> pd.DataFrame:
    # DEAR: 1e-3 x v = 12,588 at v = 12.6M tokens/day
    return pd.DataFrame({"api": [REF, OTHER, DEAR], "crossover_tokens_per_day": [ref_at, np.nan, 12.588e6],
                         "comparison": ["same weights", "same tier", "other tier (frontier)"],
                         "monthly_cost": [31.62, 15.81, 6_000.0]})


def _lines(fig) -> dict[str, object]:
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


@pytest.fixture
def close():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_the_reference_api_is_thick_strong_and_labelled_the_others_muted(close):
    fig = cost_figure(_curve(), _crossovers(), volume=6e6, reference=REF, self_host_at_volume=12_588)
    lines = _lines(fig)
    ref = lines[f"{REF}\n{REFERENCE_SAYS}"]
    assert ref.get_linewidth() == 3.0 and ref.get_color() == REFERENCE_COLOUR and ref.get_zorder() == 5
    assert np.allclose(ref.get_ydata(), SLOPES[REF] * _curve()["tokens_per_day"])
    for api in (OTHER, DEAR):  # muted: thin and half transparent
        assert lines[api].get_linewidth() == 1.0 and lines[api].get_alpha() == pytest.approx(0.45)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["self-hosted (full monthly bill)", "replicas added"]
    assert legend[2] == f"{REF}\n{REFERENCE_SAYS}"
    assert legend[-2:] == [DEAR, OTHER]  # the other APIs last: those self-hosting crosses first, then the cheapest


def test_the_planned_volume_is_a_vertical_line_and_a_point_on_the_self_hosted_curve(close):
    fig = cost_figure(_curve(), _crossovers(), volume=6e6, reference=REF, self_host_at_volume=12_588)
    lines = _lines(fig)
    vline = lines["planned volume: 6M tokens/day"]
    assert list(vline.get_xdata()) == [6e6, 6e6] and vline.get_color() == VOLUME_COLOUR
    point = lines["self-hosted there: $12,588/month"]
    assert (list(point.get_xdata()), list(point.get_ydata())) == ([6e6], [12_588])
    # 12,588 / 31.62 = 398 -> "400×": the note says how far apart the two sides are at the planned volume
    assert "self-hosted $12,588/month (400× the API)" in _texts(fig)
    assert "API $31.62/month" in _texts(fig)


def test_the_reference_break_even_is_marked_and_annotated(close):
    fig = cost_figure(_curve(), _crossovers(ref_at=80e6), volume=6e6, reference=REF, self_host_at_volume=12_588)
    mark = _lines(fig)["break-even with it: ~80M tokens/day"]
    assert mark.get_xdata()[0] == 80e6 and mark.get_ydata()[0] == pytest.approx(SLOPES[REF] * 80e6)
    assert "break-even ~80M tokens/day" in _texts(fig)


def test_without_a_named_reference_the_cheapest_same_weights_row_is_it(close):
    fig = cost_figure(_curve(), _crossovers(), volume=6e6)
    assert f"{REF}\n{REFERENCE_SAYS}" in _lines(fig)
    # without a given bill, the point sits on the curve's step at the volume
    assert _lines(fig)["self-hosted there: $12,588/month"].get_ydata()[0] == 12_588


def test_a_dedicated_reference_is_said_not_drawn(close):
    fig = cost_figure(_curve(), _crossovers(), volume=6e6, reference="together / dedicated endpoint h100-sxm")
    assert not any(label.endswith(REFERENCE_SAYS) for label in _lines(fig))
    assert "dedicated endpoint h100-sxm, billed per hour: not drawn" in fig.axes[0].get_legend().get_title().get_text()


def test_a_plan_draws_its_own_reference_and_bill(seed_plan, tmp_path, close):
    path = tmp_path / "cost.png"
    plan_cost_plot(seed_plan, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = cost_figure(seed_plan.curve, seed_plan.api.rename(columns={"label": "api"}),
                      volume=seed_plan.workload.tokens_per_day, reference=seed_plan.reference_api,
                      self_host_at_volume=seed_plan.monthly_total_cost)
    lines = _lines(fig)
    assert lines[f"{seed_plan.reference_api}\n{REFERENCE_SAYS}"].get_linewidth() == 3.0
    assert "planned volume: 6M tokens/day" in lines
    # the plan's own bill, $12,588/month (tests/planner/test_plan_seed_scenario.py), on the self-hosted curve
    point = lines[f"self-hosted there: ${seed_plan.monthly_total_cost:,.0f}/month"]
    assert point.get_ydata()[0] == pytest.approx(seed_plan.monthly_total_cost)
    at_6m = seed_plan.curve[seed_plan.curve["tokens_per_day"] <= 6e6]["self_host_monthly"].iloc[-1]
    assert at_6m == pytest.approx(seed_plan.monthly_total_cost, rel=1e-6)  # the curve agrees with the plan there
