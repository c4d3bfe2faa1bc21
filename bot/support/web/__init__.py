"""The support web console (`restructure-bot support`).

app           `create_app`: every route in one list, the middleware, error pages
gate          what every request passes: security headers and body limit (`Shield`),
              default-deny sessions and the agent's language (`Gate`)
console       the services handlers share (`Console`: store, render) and request helpers
login         signing in and out
search        finding a conversation
conversation  one conversation: transcript, answers, plans, notes, revealing personal data
handoff       the queue of those waiting for a person, the live view, replying, closing
templates/ static/  the pages (Jinja2, autoescaped) and their one stylesheet (no scripts)
"""

from __future__ import annotations

from bot.support.web.app import create_app

__all__ = ["create_app"]
