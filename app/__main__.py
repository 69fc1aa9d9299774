"""Entry point: `python -m app migrate|serve|selfcheck`, the image's ENTRYPOINT commands.

`selfcheck` runs, once, what `POST /ready/probe` runs (app/api.py, probe_steps: the notes endpoints' own
queries on a marker note, in one transaction that is always rolled back) and exits 0, or 1 naming the
step and the database's words: whether this code works on the schema of the database it is given.
"""

import argparse
import gc
import logging
import os
import signal

from app.log import configure_logging
from app.migrate import MigrationError, migrate
from app.settings import ConfigError, Settings, load_settings

log = logging.getLogger("app")

# Above the ALB's 60 s idle timeout, so the balancer, not us, closes idle connections (else: 502s).
KEEP_ALIVE_SECONDS = 65


def serve(settings: Settings) -> None:
    # Imported here so that `migrate`, which every task may run at once, starts faster.
    import uvicorn

    from app.api import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our JSON logging
        access_log=False,  # app.api.RequestLog writes one line per request instead
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )
    server = uvicorn.Server(config)

    def on_sigterm(*_) -> None:
        # Before uvicorn takes the signal over (say, while migrating on start), stop at once.
        # After its graceful shutdown uvicorn raises the SIGTERM again, which by default would
        # end the process with 143: being stopped on request is a clean exit, so ignore it.
        if not server.started:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    if settings.migrate_on_start:
        migrate(settings)
    # What start-up built (modules, the app, its schemas) lives as long as the process: keep it out of
    # every collection the requests' garbage triggers.
    gc.collect()
    gc.freeze()
    server.run()
    log.info("serve.stopped")


def selfcheck(settings: Settings) -> int:
    import asyncio

    from app.api import PROBE_STEPS, probe_steps, reason
    from app.pool import Pool

    async def check() -> int:
        db, checked, step = Pool(settings), [], PROBE_STEPS[0]
        await db.open()
        try:
            async with db.rolled_back() as transaction:
                async for step in probe_steps(transaction, settings.default_page_size):
                    checked.append(step)
        except Exception as e:  # noqa: BLE001 - the failing step and the database's words are the answer
            log.error("selfcheck.failing", extra={"step": step, "reason": f"{type(e).__name__}: {reason(e)}"})
            return 1
        finally:
            await db.close()
        log.info("selfcheck.ok", extra={"checked": checked})
        return 0

    return asyncio.run(check())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app")
    parser.add_argument("command", choices=["migrate", "serve", "selfcheck"])
    command = parser.parse_args(argv).command
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as e:
        log.error(str(e))
        return 2
    logging.getLogger().setLevel(settings.log_level)
    log.info(f"{command}.start", extra={"database": _describe_database(settings)})
    try:
        if command == "selfcheck":
            return selfcheck(settings)
        serve(settings) if command == "serve" else migrate(settings)
    except MigrationError as e:
        log.error("migrate.failed", extra={"reason": str(e)})
        return 1
    except Exception as e:
        log.exception(f"{command}.failed", extra={"reason": type(e).__name__})
        return 1
    return 0


def _describe_database(settings: Settings) -> str:
    return settings.database_url_object().render_as_string(hide_password=True)


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # A request cut off at the graceful-shutdown bound may leave its worker thread blocked (on the
    # database, say); exit without waiting for it, or ECS would have to SIGKILL us at stopTimeout.
    os._exit(code)
