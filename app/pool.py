"""The serving path's connection pool: a fixed number of psycopg 3 async connections, kept open.

Why not a library: psycopg_pool (the maintained choice, `psycopg[pool]`) is not in Pipfile.lock, and
SQLAlchemy's async engine adds about 200 µs of CPU per statement here (greenlet hops, result wrapping:
measured 310-340 µs against 120-125 µs for the bare driver). This pool is the small part of
psycopg_pool the app needs; swap it for `psycopg_pool.AsyncConnectionPool` once that is installed.

What it promises:
- DB_POOL_SIZE connections, opened at start (`fill`; else on first need) and then kept: steady load
  opens none.
- No round trip on checkout. A connection the server closed (a restart, a failover, an idle timeout)
  has data or EOF waiting on its socket while it sits idle: a zero-timeout poll() sees that for the
  price of a system call. Only a connection idle for more than DB_POOL_CHECK_IDLE_SECONDS (whose
  peer may have vanished without a word) is pinged first. A connection lost during a statement is
  dropped; idempotent statements are retried once on another connection (see `run`).
- Connections run in autocommit: each of the app's statements is one round trip and its own
  transaction (no BEGIN/ROLLBACK around a single-row read).
- Credentials refused at connect time are re-read from the secret (DB_SECRET_ARN), once for all the
  requests that saw the refusal, and the connect is retried once.
- A request waits at most DB_POOL_TIMEOUT_SECONDS for a connection, then PoolTimeout (a 503).
"""

import asyncio
import logging
import select
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from app.db import DatabaseUnavailable, is_auth_failure, read_secret
from app.settings import Settings

log = logging.getLogger("app.db")

T = TypeVar("T")


class PoolTimeout(Exception):
    """Every pooled connection stayed busy for DB_POOL_TIMEOUT_SECONDS."""


def closed_by_server(connection: psycopg.AsyncConnection) -> bool:
    """Whether an idle connection was closed or told to go away by the server, without a round trip."""
    if connection.closed or connection.broken:
        return True
    # Idle, the server sends nothing unless it is ending the session (a FATAL notice, then EOF).
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class Pool:
    def __init__(self, settings: Settings):
        self.settings = settings
        url = settings.database_url_object()
        self._conninfo = url.set(drivername="postgresql", username=None, password=None).render_as_string()
        self._credentials = (url.username or "", url.password or "")
        self._generation = 0  # bumped when the credentials are replaced
        self._refreshing = asyncio.Lock()
        self._idle: deque[tuple[psycopg.AsyncConnection, float]] = deque()
        self._slots = asyncio.Semaphore(settings.db_pool_size)
        self._closing: set[asyncio.Task] = set()  # references, so that pending closes are not collected
        self._count = 0  # connections open or being opened, idle or in use

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection in autocommit, returned to the pool afterwards (or closed if it is unusable)."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self.settings.db_pool_timeout_seconds):
                    await self._slots.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no free connection within {self.settings.db_pool_timeout_seconds} s "
                                  "(DB_POOL_TIMEOUT_SECONDS, DB_POOL_SIZE)") from None
        else:
            await self._slots.acquire()  # does not suspend: a slot is free
        connection = None
        try:
            connection = await self._checkout()
            yield connection
        finally:
            if connection is not None:
                self._checkin(connection)
            self._slots.release()

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

    async def fill(self) -> None:
        """Opens the pool's connections ahead of need; if the database is not there yet, requests open them later."""
        try:
            while self._count < self.settings.db_pool_size:
                self._idle.appendleft((await self._open(), time.monotonic()))
        except (psycopg.Error, DatabaseUnavailable) as e:
            log.warning("db.pool_not_filled", extra={"reason": str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})

    async def close(self) -> None:
        while self._idle:
            await self._discard(self._idle.pop()[0])

    async def _discard(self, connection: psycopg.AsyncConnection) -> None:
        self._count -= 1
        await connection.close()

    async def _checkout(self) -> psycopg.AsyncConnection:
        check_after = self.settings.db_pool_check_idle_seconds
        while self._idle:
            connection, since = self._idle.pop()  # the most recently used: warm, and least likely stale
            if closed_by_server(connection):
                await self._discard(connection)
                continue
            if time.monotonic() - since > check_after and not await self._answers(connection):
                continue
            return connection
        return await self._open()

    def _checkin(self, connection: psycopg.AsyncConnection) -> None:
        # A statement cut off (by cancellation, say) leaves the connection mid-query: not reusable.
        # (One more than DB_POOL_SIZE may be open while `fill` races a request: it goes here.)
        unusable = connection.closed or connection.broken or connection.info.transaction_status != TransactionStatus.IDLE
        if unusable or self._count > self.settings.db_pool_size:
            task = asyncio.ensure_future(self._discard(connection))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        self._idle.append((connection, time.monotonic()))

    async def _answers(self, connection: psycopg.AsyncConnection) -> bool:
        try:
            await connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            await self._discard(connection)
            return False

    async def _open(self) -> psycopg.AsyncConnection:
        self._count += 1
        try:
            return await self._open_uncounted()
        except BaseException:
            self._count -= 1
            raise

    async def _open_uncounted(self) -> psycopg.AsyncConnection:
        generation = self._generation
        try:
            return await self._connect()
        except psycopg.OperationalError as e:
            if not (self.settings.db_secret_arn and is_auth_failure(e)):
                raise
        await self._refresh_credentials(generation)
        return await self._connect()

    async def _connect(self) -> psycopg.AsyncConnection:
        user, password = self._credentials
        return await psycopg.AsyncConnection.connect(
            self._conninfo, user=user, password=password, autocommit=True,
            connect_timeout=self.settings.db_connect_timeout_seconds,
        )  # fmt: skip

    async def _refresh_credentials(self, failed_generation: int) -> None:
        async with self._refreshing:
            if self._generation != failed_generation:
                return  # another request refreshed them while this one waited
            arn = self.settings.db_secret_arn
            log.warning("db.credentials_rejected", extra={"secret_arn": arn, "action": "re-reading the secret"})
            credentials = await asyncio.to_thread(read_secret, arn)
            changed = credentials != self._credentials
            self._credentials = credentials
            self._generation += 1
            if changed:
                await self.close()  # idle connections opened with the old password go rather than linger
            log.info("db.credentials_refreshed", extra={"secret_arn": arn, "changed": changed})


__all__ = ["DatabaseUnavailable", "Pool", "PoolTimeout"]
