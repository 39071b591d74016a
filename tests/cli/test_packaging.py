"""A non-editable install finds the catalogues: build the wheel, check its files, import from it."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return next(out.glob("inferplan-*.whl"))


def test_wheel_ships_every_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("profiler/catalogues/models.yaml", "profiler/catalogues/gpus.yaml", "profiler/catalogues/quants.yaml",
              "planner/catalogues/gpu_prices.yaml", "planner/catalogues/api_prices.yaml",
              "planner/catalogues/tco_defaults.yaml"):
        assert f in names, f"{f} missing from {wheel.name}"
    assert any(n.endswith("entry_points.txt") for n in names)


def test_installed_package_loads_catalogues_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("from profiler import catalogue; import planner.prices as p; "
            "m = catalogue.load_models(); g = catalogue.load_gpus(); "
            "assert 'llama-3.1-8b' in m and 'h100-sxm' in g; "
            "assert len(p.load_api_prices()) > 5; print(catalogue.__file__)")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr
    assert str(site) in res.stdout
