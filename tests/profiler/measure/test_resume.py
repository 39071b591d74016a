"""A sweep killed part-way resumes from its journal: no point repeated, none lost; a finished sweep resumes to
nothing; --no-resume starts afresh; a journal of another model is refused. Points are timed by the fixed timer:
what is tested is the journal, so two sweeps measure the grid once between them."""

import pytest

torch = pytest.importorskip("torch", reason="the measured profiler needs torch (the dev extra installs it)")

from profiler.errors import ProfilerError  # noqa: E402
from profiler.measure import build  # noqa: E402
from profiler.measure.journal import journal_path  # noqa: E402
from profiler.measure.sweep import run_measured_profile  # noqa: E402
from profiler.schema import KEY_COLUMNS, read_profile  # noqa: E402


class NotBuilt(Exception):
    """Raised instead of building a model: the sweep got as far as measuring."""


def test_resume_after_a_kill_neither_repeats_nor_loses_a_point(tiny, tmp_path, monkeypatch, fixed_timer):
    out = tmp_path / "r.csv"
    grid = dict(model=tiny, gpu_id=None, quants=["bf16"], kv_dtypes=["bf16"], batches=[1, 2], contexts=[16, 32],
                device="cpu", out=out, progress=False, max_batch_cap=2)  # 2 phases x 2 batches x 2 contexts = 8
    seen = []

    def kill_after_three(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_measured_profile(**grid, on_point=kill_after_three)  # sweep 1: killed after its third point
    first, _ = read_profile(out)  # the profile on disk is valid and holds what was finished
    assert list(first[list(KEY_COLUMNS)].itertuples(index=False, name=None)) == \
        [tuple(r[k] for k in KEY_COLUMNS) for r in seen]
    with journal_path(out).open("a") as fh:
        fh.write('{"type": "row", "row": {"model": "tiny')  # a line cut mid-write by the kill
    again = []
    df, _ = run_measured_profile(**grid, on_point=again.append)  # sweep 2: the other five
    keys = [tuple(r[k] for k in KEY_COLUMNS) for r in seen + again]
    assert len(df) == 8 and len(again) == 5 and len(set(keys)) == 8
    assert set(df[list(KEY_COLUMNS)].itertuples(index=False, name=None)) == set(keys)
    assert len(fixed_timer) == 8  # every point was timed exactly once over the two sweeps

    # Neither of the next two runs gets as far as building a model.
    monkeypatch.setattr(build, "build_model", lambda *a, **k: (_ for _ in ()).throw(NotBuilt()))
    redo = []
    finished, _ = run_measured_profile(**grid, on_point=redo.append)
    assert redo == [] and finished.equals(df)  # a finished sweep resumes to nothing and returns the same table
    with pytest.raises(NotBuilt):  # without resume the first point is measured again
        run_measured_profile(**{**grid, "resume": False})
    assert journal_path(out).read_text().count('"type": "row"') == 0  # the old journal was started afresh


def test_a_journal_of_another_model_is_not_resumed(tiny, tiny_moe, tmp_path, monkeypatch):
    out = tmp_path / "x.csv"
    monkeypatch.setattr(build, "build_model", lambda *a, **k: (_ for _ in ()).throw(NotBuilt()))
    with pytest.raises(NotBuilt):  # the journal's header is written before the first build
        run_measured_profile(tiny, None, ["bf16"], ["bf16"], [1], [16], device="cpu", out=out, progress=False)
    with pytest.raises(ProfilerError, match="belongs to a sweep of model 'tiny-llama', not 'tiny-moe'"):
        run_measured_profile(tiny_moe, None, ["bf16"], ["bf16"], [1], [16], device="cpu", out=out, progress=False)
