"""HelpCrunch (seed 002, reference B): a visitor chat becomes a HelpCrunch customer and chat.

(Being written: see issue 7. This skeleton only registers the backend's settings.)
"""

from __future__ import annotations

from widget_server.config import Setting, env_name, http_url

SETTINGS: dict[str, Setting] = {
    "base_url": Setting(str, default="https://api.helpcrunch.com/v1", check=http_url),
    "api_key_env": Setting(str, required=True, check=env_name, doc="the variable holding the API key"),
    "application": Setting(int, required=True, doc="the HelpCrunch application id"),
    "department": Setting(int, doc="optional department id"),
    "assignee": Setting(int, doc="optional agent id"),
    "webhook_secret_env": Setting(str, check=env_name, doc="enables POST /hooks/helpcrunch/{site}"),
}
