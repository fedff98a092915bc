"""Run an ASGI app (a stand-in, or several mounted together) on 127.0.0.1 in a background thread,
for tests and scripts that need a real socket: the SDKs speak blocking HTTP, not ASGI."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn


class StandInServer:
    """`with StandInServer(app) as server: server.base_url` → "http://127.0.0.1:<free port>"."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        # Bind first so the port is known before uvicorn starts, and no other test can take it.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True, name=f"standin-{self.port}")

    def start(self, timeout: float = 10.0) -> StandInServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"stand-in server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
