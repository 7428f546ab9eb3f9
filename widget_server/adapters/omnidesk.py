"""Omnidesk's Chat controller (seed 004, reference D): a visitor chat becomes an Omnidesk chat session.

(Being written: see issue 7. This skeleton only registers the backend's settings.)
"""

from __future__ import annotations

from widget_server.config import Setting, env_name, http_url

SETTINGS: dict[str, Setting] = {
    "base_url": Setting(str, required=True, check=http_url, doc="https://ACCOUNT.omnidesk.com"),
    "api_key_env": Setting(str, required=True, check=env_name, doc="the variable holding the API key"),
    "chat_account_token": Setting(str, required=True),
    "chat_server": Setting(str, required=True, check=http_url, doc="our hookpoint base URL, with its secret"),
    "channel_id": Setting(int, default=8),
    "policy_source": Setting(bool, default=False),
}
