"""Run the service in a background thread on 127.0.0.1: for tests, benchmarks, notebooks.

Example:
    >>> from extractor.service.serving import ServiceThread  # doctest: +SKIP
    >>> with ServiceThread(ServiceConfig(data=folder, settings=settings)) as service:
    ...     httpx.get(f"{service.url}/healthz").json()  # doctest: +SKIP
    {'status': 'ok'}
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn

from extractor.service.app import create_app
from extractor.service.config import ServiceConfig

__all__ = ["ServiceThread"]


class ServiceThread:
    """The service for ``config`` in a thread, on a free port of 127.0.0.1 (``url``).

    Starting waits until the engine has started (jobs resumed); stopping runs the
    lifespan's shutdown, as Ctrl-C on ``extractor serve`` does.
    """

    def __init__(self, config: ServiceConfig, *, start_timeout: float = 60.0) -> None:
        self.config = config
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config)
        uv_config = uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                   timeout_graceful_shutdown=5)  # fmt: skip
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._run,
            name=f"extractor-service:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._socket.close()
                error = getattr(self.app.state, "startup_error", None)
                raise RuntimeError(f"the service did not start: {error or 'see the log'}")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"the service did not start within {start_timeout:g} s")
            time.sleep(0.01)

    def _run(self) -> None:
        # uvicorn exits when the app fails to start; the constructor reports why.
        with contextlib.suppress(SystemExit):
            self._server.run(sockets=[self._socket])

    def close(self) -> None:
        """Stop serving and wait for the engine to close; safe to call twice."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> ServiceThread:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
