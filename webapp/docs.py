"""API docs served from a bundled Swagger UI: nothing outside is reachable at run time."""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from webapp.security_headers import policy

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _allowing_its_inline_script(page: HTMLResponse) -> HTMLResponse:
    """The portal's policy, plus the page's own start-up script (by its hash, so no other inline
    script runs) and the data: images Swagger UI's stylesheet draws its icons with."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page.body.decode())
    ]
    csp = policy(script_src=" ".join(["'self'", *hashes]), img_src="'self' data:")
    page.headers["Content-Security-Policy"] = csp
    return page


def install(app: FastAPI) -> None:
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Baseliner API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )
        return _allowing_its_inline_script(page)
