"""What the tests' HTTP stand-ins (an app, GitHub's API, a load balancer) share: a JSON answer."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def answer_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Send `body` as the JSON answer of the request `handler` serves, with `status`."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
