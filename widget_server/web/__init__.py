"""The web layer: the Starlette app, its pages, and the websockets of visitors and agents."""
