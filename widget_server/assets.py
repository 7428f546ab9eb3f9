"""Where the static files and templates are: inside the package when installed from a wheel, next to it
in a source checkout (an editable install)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"widget_server's {name}/ folder is missing from the installation")


STATIC = _find("static")
TEMPLATES = _find("templates")
