"""Task instructions are Markdown (``# Task``, backticks, lists); the portal shows them rendered,
and safely: a task family is code the platform runs, but its text is shown to every expert, so
raw HTML is not passed through (it is shown as text), links go only to http, https and mailto
addresses, and images are not loaded (they could call out to anywhere). Headings move down two
levels (``#`` becomes ``<h3>``), so the instructions sit under the page's own title and its
"Instructions" heading, and a page keeps one ``<h1>``."""

from functools import lru_cache
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markupsafe import Markup

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
HEADING_SHIFT = 2


def safe_link(url: str) -> bool:
    """Only absolute http(s) and mailto links (no javascript:, data:, or portal paths)."""
    cleaned = "".join(ch for ch in url if ch.isprintable() and not ch.isspace())
    return urlsplit(cleaned).scheme.lower() in SAFE_SCHEMES


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough").disable("image")
    md.validateLink = safe_link

    def link_open(renderer, tokens, idx, options, env):
        # Links leave the portal: a new tab, and no referrer or window handle for the target.
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        tokens[idx].attrSet("target", "_blank")
        return renderer.renderToken(tokens, idx, options, env)

    def heading(renderer, tokens, idx, options, env):
        level = min(int(tokens[idx].tag[1]) + HEADING_SHIFT, 6)
        tokens[idx].tag = f"h{level}"
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    return md


def render(text: str) -> Markup:
    """The Markdown as HTML that is safe to put in a page as it is."""
    return Markup(_parser().render(text or ""))
