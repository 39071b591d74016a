"""A non-editable install holds every module and catalogue: build the wheel, check its files, import from it.

The wheel is built from a fresh copy of the packaged sources, so files left in the checkout's build/ by an earlier
build cannot stand in for ones the packaging rules leave out, and nothing is written into the checkout. Where the
installed setuptools can build wheels itself (70.1 added bdist_wheel) the build uses it, without an isolated build
environment: no download, well under a second.
"""

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("planner", "profiler")


def _setuptools_builds_wheels() -> bool:
    try:
        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


def _source_files() -> set[str]:
    """The files a wheel must ship: every module and every catalogue under the packages, as wheel paths."""
    return {p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", *isolation,
                          "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return next(out.glob("inferplan-*.whl"))


def test_wheel_ships_every_module_and_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.split("/")[0] in PACKAGES}
    assert _source_files() - shipped == set(), "in the source tree but not in the wheel"
    for f in ("profiler/catalogues/models.yaml", "profiler/catalogues/gpus.yaml", "profiler/catalogues/quants.yaml",
              "planner/catalogues/gpu_prices.yaml", "planner/catalogues/api_prices.yaml",
              "planner/catalogues/tco_defaults.yaml"):
        assert f in names, f"{f} missing from {wheel.name}"


def test_wheel_installs_the_inferplan_command(wheel):
    wheel_zip = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in wheel_zip.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel_zip.read(entry_points).decode()
    # pyproject.toml [project.scripts]: inferplan = "planner.cli:main"
    assert "[console_scripts]" in text and "inferplan = planner.cli:main" in text.splitlines()


def test_installed_package_loads_catalogues_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("from profiler import catalogue; import planner.prices as p; "
            "m = catalogue.load_models(); g = catalogue.load_gpus(); "
            "print(len(m), len(g), len(p.load_api_prices()), catalogue.__file__)")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr
    n_models, n_gpus, n_api_prices, loaded_from = res.stdout.split()
    # as many entries as the source tree's catalogues hold, read here straight from the YAML
    assert int(n_models) == len(yaml.safe_load((ROOT / "profiler/catalogues/models.yaml").read_text())["models"])
    assert int(n_gpus) == len(yaml.safe_load((ROOT / "profiler/catalogues/gpus.yaml").read_text())["gpus"])
    api_rows = yaml.safe_load((ROOT / "planner/catalogues/api_prices.yaml").read_text())["models"]
    assert int(n_api_prices) == len({(r["provider"], r["model"]) for r in api_rows})  # one row per provider/model
    assert loaded_from.startswith(str(site))  # the installed copy, not the checkout
