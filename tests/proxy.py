"""A loopback TCP proxy that can be partitioned: the test stand-in for a network
between Claybridge and PostgreSQL that stops carrying packets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class PartitionableProxy:
    """Forwards 127.0.0.1:<port> to ``target``. :meth:`partition` stops forwarding in
    both directions and holds every connection (old and new) open and silent, as a
    network that drops packets does; :meth:`heal` closes those connections (they died
    during the partition) and forwards new ones again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def partition(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        with self._lock:
            held, self._sockets = self._sockets, []
        for sock in held:
            _close(sock)
        self._open.set()

    def close(self) -> None:
        self._closed = True
        _close(self.listener)
        self.heal()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._open.wait()  # a connection made during a partition goes nowhere
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.append(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._open.wait()  # held, not delivered, while partitioned
                sink.sendall(data)
        except OSError:
            pass
        _close(sink)
        _close(source)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def running_proxy(target: tuple[str, int]) -> Iterator[PartitionableProxy]:
    """A started proxy to ``target``, closed at the end."""
    proxy = PartitionableProxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
