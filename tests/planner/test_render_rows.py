"""planner.render_rows prints plain rows exactly as planner.render prints a DataFrame of them (the quick commands
`inferplan models`, `gpus`, `quants` use the first without pandas; their output must not depend on which).
"""

import math

import pandas as pd
import pytest

from planner import render
from planner.render_rows import emit_rows, frame_kinds
from profiler import catalogue
from profiler.tables import gpus_rows, gpus_terminal_rows, models_rows, quants_rows

# Columns pandas infers differently: ints with a gap become floats, bools with a gap objects, all-gap objects.
EDGE_ROWS = [
    {"id": "a", "n": 1, "gap_int": 3, "ratio": 0.25, "flag": True, "maybe_flag": None, "nothing": None,
     "monthly_cost": 1234.5, "memory_bytes": 2**31, "mixed": 1, "text": 'says "hi", twice'},
    {"id": "b", "n": 2, "gap_int": None, "ratio": 1, "flag": False, "maybe_flag": True, "nothing": None,
     "monthly_cost": math.nan, "memory_bytes": 2**33, "mixed": "x", "text": "line\nbreak"},
    {"id": "c", "n": 30_000, "ratio": 1e16, "flag": True, "maybe_flag": False, "nothing": None,
     "monthly_cost": 0.0, "memory_bytes": 0, "mixed": None, "text": ""},  # no gap_int key at all
]


def both(capsys, rows, fmt, **kw) -> tuple[str, str]:
    emit_rows(rows, fmt, **kw)
    plain = capsys.readouterr().out
    render.emit(pd.DataFrame(rows), fmt, **kw)
    return plain, capsys.readouterr().out


def test_frame_kinds_are_the_dtypes_pandas_infers():
    kinds = frame_kinds(EDGE_ROWS)
    pandas = {c: ("int" if pd.api.types.is_integer_dtype(t) else "bool" if pd.api.types.is_bool_dtype(t)
                  else "float" if pd.api.types.is_float_dtype(t) else "object")
              for c, t in pd.DataFrame(EDGE_ROWS).dtypes.items()}
    assert kinds == pandas
    assert kinds["gap_int"] == "float" and kinds["maybe_flag"] == "object" and kinds["nothing"] == "object"


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_edge_rows_print_as_their_dataframe_does(capsys, fmt):
    plain, frame = both(capsys, EDGE_ROWS, fmt, title="Edges", columns=["id", "gap_int", "flag", "memory_bytes"])
    assert plain == frame and plain


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
@pytest.mark.parametrize("rows", [lambda: models_rows(catalogue.load_models()),
                                  lambda: quants_rows(catalogue.load_quants()),
                                  lambda: gpus_rows(catalogue.load_gpus()),
                                  lambda: gpus_terminal_rows(gpus_rows(catalogue.load_gpus()))],
                         ids=["models", "quants", "gpus", "gpus-terminal"])
def test_catalogue_rows_print_as_their_dataframe_does(capsys, rows, fmt):
    plain, frame = both(capsys, rows(), fmt, title="Catalogue")
    assert plain == frame and plain
