"""Raw HTTP/1.1 for the tests that need bytes no client library sends: framing faults,
slow or partial writes, pipelining. Each call uses a fresh connection to a Server."""
import re
import socket
import time


def connect(srv, timeout=10):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def read_all(s):
    """Everything the server sends until it closes (or resets, or the timeout passes)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        out += chunk
    return out


def raw(srv, *parts, pause=0.0, timeout=10):
    """Send the parts on a fresh connection (pausing between them); all the server answers."""
    s = connect(srv, timeout)
    try:
        for i, p in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            s.sendall(p)
        return read_all(s)
    finally:
        s.close()


def status_of(out):
    assert out.startswith(b"HTTP/1.1 "), out[:200]
    return int(out.split(b" ", 2)[1])


def statuses(out):
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]
