"""Staff console: Jinja2 + htmx, its own ASGI app."""
