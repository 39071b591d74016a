"""Every third-party module the core imports at module level is a declared core dependency.

The test install has more packages than the light one (torch, transformers, click through other packages...),
so an import that works here can still fail after `pip install inferplan`; this catches it statically.
Imports inside functions are the optional extras' lazy imports (torch, matplotlib, openpyxl), each behind a
clear error, and are not counted; so is `profiler/measure/`, the [gpu] extra's code.
"""

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:  # module level only, including `if TYPE_CHECKING:`-free try blocks
        for sub in ast.walk(node) if isinstance(node, (ast.Try, ast.If)) else (node,):
            if isinstance(sub, ast.Import):
                names |= {a.name.split(".")[0] for a in sub.names}
            elif isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module:
                names.add(sub.module.split(".")[0])
    return names


def test_core_imports_are_core_dependencies():
    core = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in requires("inferplan") or [] if "extra ==" not in r}
    dists = packages_distributions()
    own = {"planner", "profiler"}
    missing = {}
    for path in [*ROOT.glob("planner/**/*.py"), *ROOT.glob("profiler/**/*.py")]:
        if "measure" in path.relative_to(ROOT).parts:
            continue
        for mod in _module_level_imports(path) - own - set(sys.stdlib_module_names) - {"__future__"}:
            providers = {d.lower().replace("_", "-") for d in dists.get(mod, [mod])}
            if not providers & core:
                missing.setdefault(mod, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported at module level but not a core dependency: {missing}"
