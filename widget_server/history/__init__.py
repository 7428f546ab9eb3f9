"""Chat history exposed in the shape of Zendesk Chat's Chats REST API (``/api/v2/chat/...``)."""
