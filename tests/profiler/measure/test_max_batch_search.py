"""The largest batch that fits: the analytic bracket, the search over probes, and a probe held to a budget."""

import pytest

from profiler.measure import maxbatch

MIB = 2**20


@pytest.mark.parametrize("true_max", [0, 1, 2, 7, 40, 41, 100, 999])
@pytest.mark.parametrize("predicted", [0, 1, 35, 41, 60, 5000])
def test_search_finds_the_boundary_from_any_bracket(true_max, predicted):
    res = maxbatch.search_max_batch(lambda b: b <= true_max, predicted, cap=1000)
    assert res.max_batch == true_max and not res.capped
    assert all(ok == (b <= true_max) for b, ok in res.probes)
    assert len(res.probes) <= 2 * 11 + 2  # bracket + bisection, logarithmic (2^10 >= 1000)


def test_search_stops_at_the_cap_and_says_so():
    # from 10 in steps of 10 // 8 = 1, doubling: 10, 11, 13, 17, 25, 41, then 73 clipped to the cap 64
    res = maxbatch.search_max_batch(lambda b: True, 10, cap=64)
    assert (res.max_batch, res.capped) == (64, True)
    assert [b for b, _ in res.probes] == [10, 11, 13, 17, 25, 41, 64]


def test_a_close_prediction_needs_few_probes():
    # 400 fits, 400 + 400 // 8 = 450 does not; bisecting [400, 450): 425, 412, 406 no, 403 yes, 404 no
    res = maxbatch.search_max_batch(lambda b: b <= 403, 400, cap=4096)
    assert res.max_batch == 403
    assert res.probes == ((400, True), (450, False), (425, False), (412, False), (406, False), (403, True),
                          (404, False))


def test_analytic_bracket():
    # (available - resident - activations) // per sequence: (1000 - 200 - 50) // 100 = 7
    assert maxbatch.predict_max_batch(1000, 200, 100, 50) == 7
    assert maxbatch.predict_max_batch(100, 200, 100, 50) == 0  # less than nothing left: 0, never negative


def test_budget_and_probe_turn_an_excess_into_an_oom_boundary():
    torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    from profiler.measure.device import MeasuredOOM, is_oom

    budget = maxbatch.Budget(10 * MIB, "test")
    budget.check(10 * MIB, "exactly the budget")  # at the limit: fits
    with pytest.raises(MeasuredOOM) as err:
        budget.check(10 * MIB + 1, "predicted need")
    assert is_oom(err.value)
    assert str(err.value) == "predicted need 10,485,761 B exceeds the memory budget of 10,485,760 B (test)"
    cpu = torch.device("cpu")
    # 4 MiB resident + the probe's one tensor, counted exactly by the live-tensor census
    small = maxbatch.probe_fits(lambda: torch.empty(2 * MIB, dtype=torch.uint8), cpu, budget, 4 * MIB, 4 * MIB)
    big = maxbatch.probe_fits(lambda: torch.empty(8 * MIB, dtype=torch.uint8), cpu, budget, 4 * MIB, 4 * MIB)
    refused = maxbatch.probe_fits(lambda: pytest.fail("must not run"), cpu, budget, 4 * MIB, 12 * MIB)
    assert small == (True, 6 * MIB) and big == (False, 12 * MIB) and refused == (False, 0)


def test_a_probe_error_that_is_not_an_oom_propagates():
    torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")
    with pytest.raises(ValueError, match="bug"):
        maxbatch.probe_fits(lambda: (_ for _ in ()).throw(ValueError("bug")), torch.device("cpu"),
                            maxbatch.Budget(None, "x"), 0, 0)
