"""Every request the emulator receives, one JSON line each: what security/authorization.py judges against
the CI roles (moto itself checks no IAM, so the calls must be seen to be judged).

A WSGI middleware around moto's application. Each line holds what AWS authorizes a call on: the signing
service and region (from the SigV4 credential scope), the access key id, the HTTP method, path and query, the
JSON target (`X-Amz-Target`), the body when it is a JSON or form document (S3 object bodies are left out), the
server-side-encryption headers of the request and of the answer, and the status code. `label` is the name of
who is calling, set by whoever drives the emulator (`POST /_record/label?name=...`, answered by the
middleware and never recorded) for callers that cannot choose their own credentials, such as Terraform with
the emulator's baked-in key.
"""
from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

LABEL_PATH = "/_record/label"
# Bodies worth keeping: the parameters of JSON and query-protocol calls. Larger ones are cut (never a parameter).
KEPT_BODY_TYPES = ("application/x-amz-json", "application/json", "application/x-www-form-urlencoded")
MAX_BODY = 256 * 1024
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
SSE_HEADER = "x-amz-server-side-encryption"


class Recorder:
    """Wraps a WSGI app; appends one JSON line per request to `path` (thread-safe: moto serves threads)."""

    def __init__(self, app: Callable, path: str | Path) -> None:
        self.app = app
        self.path = Path(path)
        self.label = ""
        self._lock = threading.Lock()
        self._seq = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == LABEL_PATH:
            self.label = parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
            start_response("204 No Content", [])
            return [b""]
        body = _read_body(environ)
        entry = _request(environ, body)
        entry["label"] = self.label
        answer: dict[str, Any] = {}

        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            answer["status"] = int(status.split()[0])
            answer["sse"] = {k.lower(): v for k, v in headers if k.lower().startswith(SSE_HEADER)}
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, recording_start_response)
        entry.update(status=answer.get("status"), response_sse=answer.get("sse", {}))
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")
        return result


def _read_body(environ: dict) -> bytes:
    """The request body, put back for moto to read again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _request(environ: dict, body: bytes) -> dict[str, Any]:
    found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, region, service = found.groups() if found else ("", "", "")
    content_type = environ.get("CONTENT_TYPE", "")
    # S3 takes its parameters from the path, query and headers: its bodies (objects, the state) are never kept.
    kept = service != "s3" and (content_type.startswith(KEPT_BODY_TYPES) or b"Action=" in body[:2048])
    sse = {name[5:].lower().replace("_", "-"): value for name, value in environ.items()
           if name.startswith("HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION")}
    return {
        "key": key, "region": region, "service": service,
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""), "query": environ.get("QUERY_STRING", ""),
        "target": environ.get("HTTP_X_AMZ_TARGET", ""), "content_type": content_type,
        "body": body[:MAX_BODY].decode("utf-8", "replace") if kept else "",
        "sse": sse,
    }


def read(path: str | Path) -> list[dict[str, Any]]:
    """The recorded requests, in the order they were answered."""
    lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).exists() else []
    return sorted((json.loads(line) for line in lines if line.strip()), key=lambda r: r["seq"])


def set_label(endpoint: str, name: str) -> None:
    """Tell a recording emulator who the next requests come from."""
    import urllib.parse
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{endpoint}{LABEL_PATH}?{urllib.parse.urlencode({'name': name})}",
                                     method="POST", data=b"")
    direct.open(request, timeout=10).close()
