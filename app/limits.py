"""What one request may cost, bounded before it is parsed: the size of its body."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

TOO_LARGE = {"detail": "Content Too Large"}


class DeclaredBodyLimit:
    """413 at once for a Content-Length above the bound: nothing of the body is read.

    Starlette's RequestBodyLimitMiddleware answers that case too, but in plain text; this keeps
    every error of the API in JSON. (uvicorn has already refused a Content-Length that is not a number;
    anything else is left to the inner middleware.)
    """

    def __init__(self, app, max_body_size: int):
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            # isascii: str.isdigit() is also true for digits int() refuses, such as "²"
            if declared.isascii() and declared.isdigit() and int(declared) > self.max_body_size:
                return await JSONResponse(TOO_LARGE, status_code=413)(scope, receive, send)
        await self.app(scope, receive, send)


def install(app: FastAPI, max_body_bytes: int) -> None:
    # Starlette's middleware counts a body without a length (chunked) as it arrives and stops it
    # as soon as it passes the bound, so an oversized body is never read into memory either.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=max_body_bytes)
    app.add_middleware(DeclaredBodyLimit, max_body_size=max_body_bytes)
