"""What one request may cost, bounded before it is parsed: the size of its body."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

TOO_LARGE = {"detail": "Content Too Large"}


class DeclaredBodyLimit:
    """The body-size bound in one layer, which costs a request without a body next to nothing.

    - A Content-Length above the bound: 413 at once, nothing of the body is read. (Starlette's
      RequestBodyLimitMiddleware answers that case too, but in plain text; this keeps every error of
      the API in JSON.) A body cannot outgrow its declared length: uvicorn frames it by that length,
      and has already refused a Content-Length that is not a number.
    - A body without a length (Transfer-Encoding: chunked): Starlette's middleware counts it as it
      arrives and stops it as soon as it passes the bound, so it is never read into memory either.
    - Neither header: the request has no body (RFC 9112, section 6.3), and goes straight through.
    """

    def __init__(self, app, max_body_size: int):
        self.app = app
        self.max_body_size = max_body_size
        self.counted = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared, chunked = None, False
        for name, value in scope["headers"]:  # ASGI header names are lower-case bytes
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        # bytes.isdigit() is true for ASCII digits only: "²" (b"\xb2" in latin-1) is not a number here
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            return await JSONResponse(TOO_LARGE, status_code=413)(scope, receive, send)
        if chunked or (declared is not None and not declared.isdigit()):
            return await self.counted(scope, receive, send)
        await self.app(scope, receive, send)


def install(app: FastAPI, max_body_bytes: int) -> None:
    app.add_middleware(DeclaredBodyLimit, max_body_size=max_body_bytes)
