"""The serving path's connection pool: psycopg_pool's AsyncConnectionPool, plus what the app adds to it.

The library (`psycopg[pool]`, maintained with the driver) keeps DB_POOL_SIZE connections open
(min_size = max_size: steady load opens none), opens them in the background from start-up (the app
starts, and /health answers, with the database down), replaces a connection returned broken, and
makes a request wait at most DB_POOL_TIMEOUT_SECONDS for one (then PoolTimeout: a 503).

What this module adds:
- No round trip on checkout. A connection the server closed (a restart, a failover, an idle timeout)
  has data or EOF waiting on its socket while it sits idle: a zero-timeout poll() sees that for the
  price of a system call. Only a connection idle for more than DB_POOL_CHECK_IDLE_SECONDS (whose
  peer may have vanished without a word) is pinged first. A stale connection is handed back to the
  pool, which opens a replacement, and the request takes the next one at once. (Not the pool's own
  `check=` hook: after a failed check the library sleeps 1 s, then 2, 4...: after a restart, with
  every pooled connection dead, a request would time out walking through them.)
- Connections run in autocommit: each of the app's statements is one round trip and its own
  transaction (no BEGIN/COMMIT around a single-row read).
- A connection lost during a statement: idempotent statements are retried once on another
  connection (see `run`).
- `rolled_back()`: one connection in a transaction that is always rolled back, which the note
  queries take in place of the pool (POST /ready/probe runs the endpoints' own queries in it).
- Credentials refused at connect time are re-read from the secret (DB_SECRET_ARN), once for all the
  connection attempts that saw the refusal, and the connect is retried once with them.
- While the database is down the pool retries in the background with a short backoff, and a request
  gets a 503 within DOWN_WAIT_SECONDS (not after DB_POOL_TIMEOUT_SECONDS) whose logged reason names
  the last connection error; once the database is back, the next attempt (within about 2 s, or at
  once for a waiting request) refills the pool: no restart.
"""

import asyncio
import logging
import select
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import psycopg
import psycopg_pool

from app.db import DatabaseUnavailable, is_auth_failure, read_secret
from app.settings import Settings

log = logging.getLogger("app.db")
# The library logs every checkout at INFO: one line per request. Its warnings (failed connection
# attempts, discarded connections) stay.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)

T = TypeVar("T")

# How long a slot whose connection cannot be opened keeps retrying (after 1 s, 2 s, 2 s) before it is
# given up and reopened on demand by the next request that waits: the library's default (5 minutes,
# with the backoff doubling up to minutes) would leave the pool empty long after the database is back.
RECONNECT_SECONDS = 5
# While the last connection attempt failed, a request waits this long for a connection, not
# DB_POOL_TIMEOUT_SECONDS: a 503 at once rather than after seconds, and the wait still makes the pool
# try again (a waiting request is what makes it open a connection), so the first requests after the
# database is back find one.
DOWN_WAIT_SECONDS = 0.25


class PoolTimeout(Exception):
    """No connection became free (or could be opened) within DB_POOL_TIMEOUT_SECONDS."""


def closed_by_server(connection: psycopg.AsyncConnection) -> bool:
    """Whether an idle connection was closed or told to go away by the server, without a round trip."""
    if connection.closed or connection.broken:
        return True
    # Idle, the server sends nothing unless it is ending the session (a FATAL notice, then EOF).
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class Credentials:
    """The user and password that new connections use; replaced from the secret when the database refuses them."""

    def __init__(self, settings: Settings, user: str, password: str):
        self.arn = settings.db_secret_arn
        self.current = (user, password)
        self.generation = 0  # bumped when they are re-read
        self._refreshing = asyncio.Lock()

    async def refresh(self, failed_generation: int) -> None:
        async with self._refreshing:
            if self.generation != failed_generation:
                return  # another attempt re-read them while this one waited
            log.warning("db.credentials_rejected", extra={"secret_arn": self.arn, "action": "re-reading the secret"})
            credentials = await asyncio.to_thread(read_secret, self.arn)
            changed, self.current = credentials != self.current, credentials
            self.generation += 1
            log.info("db.credentials_refreshed", extra={"secret_arn": self.arn, "changed": changed})


def connection_class(credentials: Credentials, pool: "Pool") -> type[psycopg.AsyncConnection]:
    """The pool's connection class: connects with the current credentials, re-reading them once if refused."""

    class Connection(psycopg.AsyncConnection):
        idle_since = 0.0  # when it was last handed back to the pool

        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs) -> "Connection":
            try:
                connection = await cls._connect_as_current(conninfo, kwargs)
            except (psycopg.Error, DatabaseUnavailable) as e:
                pool.last_connect_error = first_line(e)
                raise
            pool.last_connect_error = None
            connection.idle_since = time.monotonic()
            return connection

        @classmethod
        async def _connect_as_current(cls, conninfo: str, kwargs: dict) -> "Connection":
            generation = credentials.generation
            user, password = credentials.current
            try:
                return await super().connect(conninfo, **kwargs, user=user, password=password)
            except psycopg.OperationalError as e:
                if not (credentials.arn and is_auth_failure(e)):
                    raise
            await credentials.refresh(generation)
            user, password = credentials.current
            return await super().connect(conninfo, **kwargs, user=user, password=password)

    return Connection


class Transaction:
    """One connection inside one transaction (see Pool.rolled_back). It has the pool's `run`, so the note
    queries take it in the pool's place and run, unchanged, inside the transaction."""

    def __init__(self, connection: psycopg.AsyncConnection):
        self.connection = connection

    async def run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]], idempotent: bool) -> T:
        # Never retried: another connection would be outside the transaction.
        return await work(self.connection)


class Pool:
    def __init__(self, settings: Settings):
        self.settings = settings
        url = settings.database_url_object()
        credentials = Credentials(settings, url.username or "", url.password or "")
        self.last_connect_error: str | None = None  # for the 503's logged reason
        self._pool = psycopg_pool.AsyncConnectionPool(
            url.set(drivername="postgresql", username=None, password=None).render_as_string(),
            connection_class=connection_class(credentials, self),
            kwargs={"autocommit": True, "connect_timeout": settings.db_connect_timeout_seconds},
            min_size=settings.db_pool_size, max_size=settings.db_pool_size, open=False, name="app",
            timeout=settings.db_pool_timeout_seconds, reconnect_timeout=RECONNECT_SECONDS,
        )  # fmt: skip

    async def open(self) -> None:
        """Starts opening the connections in the background; never fails, whether the database is there or not."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close(timeout=1)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection in autocommit, handed back afterwards (the pool replaces it if it is unusable)."""
        connection = await self._checkout()
        try:
            yield connection
        finally:
            connection.idle_since = time.monotonic()
            await self._pool.putconn(connection)

    @asynccontextmanager
    async def rolled_back(self) -> AsyncIterator[Transaction]:
        """One pooled connection in a transaction that is rolled back at the end whatever happened in it:
        nothing done through the Transaction is committed, nor ever seen by another session."""
        async with self.connection() as connection, connection.transaction(force_rollback=True):
            yield Transaction(connection)

    async def run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]], idempotent: bool) -> T:
        """`work(connection)` on a pooled connection; if the connection is lost meanwhile, once more
        on another one when the work is idempotent (else the error stands: it may have been applied)."""
        used = None
        try:
            async with self.connection() as used:
                return await work(used)
        except psycopg.OperationalError:
            if not (idempotent and used is not None and used.broken):
                raise
            log.info("db.connection_lost", extra={"action": "retrying on another connection"})
        async with self.connection() as connection:
            return await work(connection)

    async def _checkout(self) -> psycopg.AsyncConnection:
        timeout = self.settings.db_pool_timeout_seconds
        deadline = time.monotonic() + timeout
        while True:
            wait = deadline - time.monotonic()
            if self.last_connect_error is not None:
                wait = min(wait, DOWN_WAIT_SECONDS)
            try:
                connection = await self._pool.getconn(max(wait, 0.001))
            except psycopg_pool.PoolTimeout:
                if self.last_connect_error is not None:
                    raise PoolTimeout(f"the database is unavailable; last connection attempt: {self.last_connect_error}") from None
                raise PoolTimeout(f"no connection within {timeout} s (DB_POOL_TIMEOUT_SECONDS, DB_POOL_SIZE)") from None
            if not await self._stale(connection):
                return connection
            await connection.close()  # returned closed, the pool replaces it
            await self._pool.putconn(connection)

    async def _stale(self, connection: psycopg.AsyncConnection) -> bool:
        if closed_by_server(connection):
            return True
        if time.monotonic() - connection.idle_since <= self.settings.db_pool_check_idle_seconds:
            return False
        try:
            await psycopg_pool.AsyncConnectionPool.check_connection(connection)  # one round trip
            return False
        except psycopg.Error:
            return True


__all__ = ["DatabaseUnavailable", "Pool", "PoolTimeout", "Transaction"]
