"""The server's secret key: signs resume tokens and session cookies.

Given by the environment variable WIDGET_SERVER_SECRET_KEY (several processes of one deployment must
share it), or generated on first start and kept in the data dir, readable by the owner only.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV = "WIDGET_SERVER_SECRET_KEY"
FILE = "secret_key"


def load_secret_key(data_dir: Path) -> str:
    given = os.environ.get(ENV)
    if given:
        if len(given) < 32:
            raise ValueError(f"{ENV} must be at least 32 characters long")
        return given
    return read_or_create_private_file(data_dir / FILE, lambda: secrets.token_urlsafe(48))


def read_or_create_private_file(path: Path, make: Callable[[], str]) -> str:
    """Return the file's content, creating it with mode 0600 first if it does not exist.

    The value is written to a private temporary file and hard-linked into place, which fails if the name
    exists: two processes starting together agree on one value, and nobody reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(make() + "\n")
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text(encoding="utf-8").strip()
