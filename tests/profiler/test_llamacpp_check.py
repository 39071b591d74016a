"""benchmarks/llamacpp_check.py: the published llama.cpp rows, the fit that only reads the FITTING split, and the
Apple / GGUF constants in the code being exactly what the fit gives (nobody tunes them by hand)."""

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data" / "llamacpp_published.yaml"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("llamacpp_check", ROOT / "benchmarks" / "llamacpp_check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rows(check):
    got, skipped = check.load_rows()
    assert not skipped, skipped  # every row's model and quant is in the catalogue
    return got


def test_every_published_row_has_a_source_and_a_split_by_chip_generation():
    doc = yaml.safe_load(DATA.read_text())
    for r in doc["rows"]:
        assert r["source"].strip() and r["tokens_per_s"] > 0
        generation = doc["chips"][r["chip"]]["generation"]
        independent = r["source"] in ("NB40", "NB3", "LF1031")  # later sources with URLs: validation on any chip
        assert r["split"] == ("fitting" if generation in ("M1", "M2") and not independent else "validation"), r


def test_the_code_holds_the_constants_the_fit_gives(check, rows):
    fitted, code = check.fit(rows).rounded(), check.code_constants()
    assert fitted == code  # rerun `python benchmarks/llamacpp_check.py --fit` and copy its values if this fails


def test_the_fit_never_reads_validation_rows(check, rows):
    base = check.fit(rows)
    moved = [replace(r, published=r.published * 3) if r.split == "validation" else r for r in rows]
    assert check.fit(moved) == base
    i = next(i for i, r in enumerate(rows) if r.split == "fitting" and r.phase == "tg")
    nudged = rows[:i] + [replace(rows[i], published=rows[i].published * 1.5)] + rows[i + 1:]
    assert check.fit(nudged) != base  # and it does read the fitting rows


def test_the_default_estimates_are_the_profile_rows(check, rows):
    from profiler.api import ProfileRequest, profile

    row = next(r for r in rows if r.chip == "m4-max" and r.phase == "tg")
    df, _ = profile(ProfileRequest(model=row.model, gpu="m4-max", quants=(row.quant,), batches=(1,),
                                   contexts=(row.tokens // 2,)))
    decode = df[df["phase"] == "decode"].iloc[0]
    assert math.isclose(decode["tokens_per_s"], check.default_predict(row), rel_tol=1e-9)


def test_the_report_gives_median_and_worst_error_per_split(check, rows):
    lines = check.report(rows, check.default_predict)
    assert any(x.startswith("fitting: n=") and "median |error|" in x and "worst" in x for x in lines)
    assert any(x.startswith("validation: n=") for x in lines)
