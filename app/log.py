"""Structured logging: one JSON object per line on stdout, for CloudWatch Logs."""

import asyncio
import json
import logging
import sys
import time
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else was passed with `extra=` and becomes a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    # What a line does not show need not be collected for every record (the logging documentation's
    # "Optimization" section): the caller's frame, thread, process and multiprocessing names.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class RequestLine:
    """The request log's line, `{"time", "level", "logger", "event": "request", "method", "path", "status",
    "duration_ms"}`, in the JsonFormatter's format but without a LogRecord: written for every request, the
    logging machinery (record, filters, formatter) cost about as much CPU as serving /health itself.

    Honours the `app.request` logger's level, and writes to the root logger's handlers' streams (stdout,
    as configured above) under their locks, so that lines never interleave. The streams are flushed once
    the event loop has run the callbacks that are ready: under load one write() carries the lines of
    many requests, and a line never waits longer than one turn of the loop.
    """

    def __init__(self, name: str = "app.request"):
        self.logger = logging.getLogger(name)
        self._head = f'"level": "INFO", "logger": {json.dumps(name)}, "event": "request", "method": '
        self._second, self._time = -1, ""
        self._flush_pending = False

    def __call__(self, method: str, path: str, status: int, duration_ms: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        now = time.time()
        second = int(now)
        if second != self._second:  # the date and time to the second, formatted once a second
            self._second = second
            self._time = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        millis = int((now - second) * 1000)
        line = (f'{{"time": "{self._time}.{millis:03d}+00:00", {self._head}{json.dumps(method)}, '
                f'"path": {json.dumps(path)}, "status": {status}, "duration_ms": {duration_ms}}}\n')
        for handler in logging.getLogger().handlers:
            stream = getattr(handler, "stream", None)
            if stream is None:  # not a stream handler: give it a record the usual way
                self.logger.info("request", extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms})
                continue
            with handler.lock:
                stream.write(line)
        if not self._flush_pending:
            try:
                asyncio.get_running_loop().call_soon(self._flush)
                self._flush_pending = True
            except RuntimeError:  # no event loop: at once
                self._flush()

    def _flush(self) -> None:
        self._flush_pending = False
        for handler in logging.getLogger().handlers:
            handler.flush()
