"""A TCP relay on 127.0.0.1 that a test can freeze: a database that stops answering (its
processes stopped, a path that silently drops packets) without touching the database's processes.

    with Relay(("127.0.0.1", 5432)) as relay:   # relay.port forwards to the server
        relay.freeze()                           # bytes stop moving; every socket stays open
        relay.thaw()                             # what was held is forwarded, and the rest
        relay.cut()                              # the connections open now never move a byte
                                                 # again; new ones flow (a failover)

Frozen, the relay's kernel still takes what the client sends (as a stopped server's kernel
does): the client waits for an answer, it gets no error. New connections are accepted and held
the same way. Everything here is threads of the test's own process, ended by `close()`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class Relay:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self._closing = threading.Event()
        self._closed = False
        self._generation = 0  # of the connections accepted since the last cut
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._start(self._accept)

    def __enter__(self) -> Relay:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        with self._lock:
            self._generation += 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._flowing.set()  # a pump holding bytes lets go, finds its socket closed, ends
        self._closing.set()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
                generation = self._generation
            self._start(self._pump, client, server, generation)
            self._start(self._pump, server, client, generation)

    def _pump(self, source: socket.socket, sink: socket.socket, generation: int) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                if generation != self._generation:  # cut: held until the relay closes
                    self._closing.wait()
                if self._closed:
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
