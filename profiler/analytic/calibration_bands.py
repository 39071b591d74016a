"""Extrapolation bands of a calibration fit: how wrong the fitted analytic model is where it was not fitted.

- :func:`point_holdout` (other batch sizes and contexts): fit on the small points (batch and context at or
  below their medians), score the others; leave-one-out when too few points are small.
- :func:`model_holdout` (other models of the same family): for each model with a measured sibling of the same
  ``model_type`` in the group, fit on the siblings and score it. NaN with one model per family, saying what
  to measure.

Both are the p90 of the absolute relative latency error, as a fraction (0.05 = ±5 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from profiler.analytic.calibration import fit_terms, predict
from profiler.errors import ProfilerError
from profiler.specs import Efficiency


def _p90_error(rows: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    return np.abs(predict(rows, eff) - rows["t"].to_numpy()) / rows["t"].to_numpy()


def point_holdout(terms: pd.DataFrame, base: Efficiency) -> tuple[float, str]:
    """p90 abs error on points held out of the fit: fit on small (batch and context <= medians), score the rest."""
    small = (terms["batch"] <= terms["batch"].median()) & (terms["context"] <= terms["context"].median())
    try:
        if (~small).sum() == 0:
            raise ProfilerError("nothing to hold out")
        eff, _ = fit_terms(terms[small], base)
        held = terms[~small]
        method = f"fit on {int(small.sum())} points with batch <= {terms['batch'].median():g} and context <= " \
                 f"{terms['context'].median():g}, scored on the other {len(held)}"
        return float(np.percentile(_p90_error(held, eff), 90)), method
    except ProfilerError:
        errs = []
        for i in range(len(terms)):
            try:
                eff, _ = fit_terms(terms.drop(terms.index[i]), base)
            except ProfilerError:
                continue
            row = terms.iloc[[i]]
            errs.append(abs(predict(row, eff)[0] - row["t"].iloc[0]) / row["t"].iloc[0])
        if not errs:
            return float("nan"), "too few points to hold any out"
        return float(np.percentile(errs, 90)), f"leave-one-out over {len(errs)} points"


def model_holdout(terms: pd.DataFrame, base: Efficiency) -> tuple[float, str]:
    """p90 abs error on each model when the fit uses only the other models of its family (module docstring)."""
    errs: list[np.ndarray] = []
    held: list[str] = []
    for _, rows in terms.groupby("family"):
        names = sorted(rows["model"].unique())
        for name in names if len(names) > 1 else ():
            try:
                eff, _ = fit_terms(rows[rows["model"] != name], base)
            except ProfilerError:
                continue
            errs.append(_p90_error(rows[rows["model"] == name], eff))
            held.append(f"{name} from {', '.join(n for n in names if n != name)}")
    if not errs:
        models = ", ".join(sorted(terms["model"].unique()))
        return float("nan"), (f"one model per family measured ({models}); measure a second model of the same "
                              "family (e.g. llama-3.2-1b beside llama-3.1-8b) for a cross-model band")
    return float(np.percentile(np.concatenate(errs), 90)), "fit without, scored on: " + "; ".join(held)
