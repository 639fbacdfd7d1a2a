"""More templates."""

TEMPLATES: list = []
