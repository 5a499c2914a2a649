"""Hatch build hook: bundle the widget's front end into ``chatdf/static/``.

Runs on every wheel build, editable installs included (``pip install -e .``):
``npm ci`` in ``js/`` when ``node_modules`` is missing or older than
``package-lock.json``, then ``npm run build`` (esbuild) when the bundle is
missing or older than any source. The bundle is gitignored and reaches the
wheel through ``artifacts`` in ``pyproject.toml``.

Set ``CHATDF_SKIP_JS_BUILD=1`` to skip it (lint-only jobs, or a machine that
already has the bundle).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MIN_NODE = 20
BUNDLE = ("loader.js", "widget.js", "widget.css", "editor.js", "chart.js")
"""What ``npm run build`` writes: the ``_esm`` loader, the UI, and the chunks the UI
fetches over the comm on demand (the code editor, the chart renderer)."""
NO_NPM = (
    "chatdf's widget is built with npm, which is not on PATH: install Node.js "
    f"{MIN_NODE} or newer with npm (https://nodejs.org/en/download), then install chatdf "
    "again (or set CHATDF_SKIP_JS_BUILD=1 to install it without the widget)."
)


class CustomBuildHook(BuildHookInterface):
    """Build ``chatdf/static/`` (``BUNDLE``: the loader, the UI and its on-demand chunks)
    before packaging."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        # The sdist ships js/ sources; the wheel built from it runs this hook.
        if self.target_name != "wheel":
            return
        if os.environ.get("CHATDF_SKIP_JS_BUILD", "").strip().lower() in {"1", "true", "yes"}:
            self.app.display_info("chatdf: CHATDF_SKIP_JS_BUILD is set, not building the widget")
            return
        root = Path(self.root)
        js = root / "js"
        bundle = [root / "chatdf" / "static" / name for name in BUNDLE]
        if not (js / "package.json").is_file():
            if all(path.is_file() for path in bundle):
                return  # built elsewhere, sources not shipped alongside
            raise RuntimeError(
                f"chatdf: neither the widget bundle nor its sources (js/) were found in {root}."
            )
        if _up_to_date(bundle, js):
            self.app.display_info("chatdf: widget bundle is up to date")
            return

        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(NO_NPM)
        _check_node()
        if _needs_install(js):
            self.app.display_info("chatdf: npm ci (installing the widget's JS dependencies)")
            _run([npm, "ci", "--no-audit", "--no-fund"], js)
        self.app.display_info("chatdf: npm run build (bundling the widget)")
        _run([npm, "run", "build"], js)
        missing = [str(path) for path in bundle if not path.is_file()]
        if missing:
            raise RuntimeError(
                f"chatdf: npm run build finished but did not write {', '.join(missing)}."
            )


def _sources(js: Path) -> list[Path]:
    """Everything whose change means the bundle must be rebuilt."""
    files = [p for p in (js / "src").rglob("*") if p.is_file()]
    for name in ("package.json", "package-lock.json", "build.mjs", "tsconfig.json"):
        if (js / name).is_file():
            files.append(js / name)
    return files


def _up_to_date(bundle: list[Path], js: Path) -> bool:
    if not all(path.is_file() for path in bundle):
        return False
    built = min(path.stat().st_mtime for path in bundle)
    return all(src.stat().st_mtime <= built for src in _sources(js))


def _needs_install(js: Path) -> bool:
    # npm rewrites this hidden lockfile on every install, so its age is the install's age.
    installed = js / "node_modules" / ".package-lock.json"
    if not installed.is_file():
        return True
    return installed.stat().st_mtime < (js / "package-lock.json").stat().st_mtime


def _check_node() -> None:
    node = shutil.which("node")
    version = ""
    if node is not None:
        result = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
        version = result.stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_NODE:
        found = f"found {version}" if version else "node is not on PATH"
        raise RuntimeError(
            f"chatdf's widget needs Node.js {MIN_NODE} or newer ({found}): install it from "
            "https://nodejs.org/en/download, then install chatdf again (or set "
            "CHATDF_SKIP_JS_BUILD=1 to install it without the widget)."
        )


def _run(command: list[str], cwd: Path) -> None:
    # Output goes straight through so `pip install -v` shows npm's own messages.
    result = subprocess.run(command, cwd=cwd, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"chatdf: `{' '.join(['npm', *command[1:]])}` failed with exit code "
            f"{result.returncode} in {cwd}; see npm's output above."
        )
