"""Print the lowest versions pyproject.toml allows for chatdf's direct dependencies.

    python .ci/lowest_pins.py > lowest.txt      # then: uv pip install -e .[test] -c lowest.txt

uv resolves the runtime dependencies with ``--resolution lowest-direct`` (the
floor of every direct dependency, the newest of everything else that fits);
only the direct dependencies' pins are printed, so the test tools and the
transitive packages stay as new as the floors allow. CI runs the unit suite
in a second environment built from these pins, which keeps the lower bounds
in pyproject.toml true.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def direct_names(requirements: list[str]) -> set[str]:
    return {_canonical(re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0]) for req in requirements}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"]
    with tempfile.NamedTemporaryFile("w", suffix=".in") as spec:
        spec.write("\n".join(requirements) + "\n")
        spec.flush()
        resolved = subprocess.run(
            [
                sys.executable, "-m", "uv", "pip", "compile", spec.name,
                "--resolution", "lowest-direct",
                "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}",
                "--no-header", "--no-annotate", "--quiet",
            ],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    wanted = direct_names(requirements)
    for line in resolved.splitlines():
        name = line.split("==", 1)[0].strip()
        if "==" in line and _canonical(name) in wanted:
            print(line.strip())


if __name__ == "__main__":
    main()
