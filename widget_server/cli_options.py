"""Options that every command of the command line shares."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from widget_server.config import CONFIG_ENV


def config_option(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """``--config``, at the top level and on every command (``defaults``: see ``build_parser``)."""
    env_default = Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None
    parser.add_argument(
        "--config",
        type=Path,
        default=env_default if defaults else argparse.SUPPRESS,
        help=f"the TOML configuration file (default: ${CONFIG_ENV}, else none: the demo and ./data)",
    )
