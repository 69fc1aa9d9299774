"""Error answers that are small whatever the request was: they never echo its input."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

# A validation error names at most this many problems, each in at most this many characters:
# FastAPI's default answer repeats the whole input (a 20 MB title gave a 20 MB answer, and input
# JSON cannot encode, such as NaN or a lone surrogate, gave a 500 instead).
MAX_ERRORS = 10
MAX_CHARS = 200


def bounded(text: str) -> str:
    """At most MAX_CHARS characters that UTF-8 can encode (a field name may be a lone surrogate)."""
    text = text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


async def validation_failed(request: Request, error: RequestValidationError) -> JSONResponse:
    detail = [
        {
            "type": bounded(str(e["type"])),
            "loc": [part if isinstance(part, int) else bounded(str(part)) for part in e["loc"]],
            "msg": bounded(str(e["msg"]).removeprefix("Value error, ")),
        }
        for e in error.errors()[:MAX_ERRORS]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def method_not_allowed(request: Request, error: HTTPException) -> JSONResponse:
    # Starlette names only the first route that matched the path; RFC 9110 wants all of them.
    allowed = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= route.methods
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(405, method_not_allowed)
