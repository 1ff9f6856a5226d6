#!/usr/bin/env python3
"""An independent peer for the step programs, written for this book's tests.

It speaks the same tiny protocol as the Rust steps (16 bytes each way) but
shares no code with them, so a Rust step that talks to it proves it follows
the protocol, not merely its own conventions. Output lines use the Rust
programs' address format (host:port) so that tests can parse both alike.
"""

import argparse
import socket
import sys

REQUEST = b"Hi there, server"
REPLY = b"Goodbye, client!"


def receive_exactly(conn, count):
    pieces = []
    have = 0
    while have < count:
        piece = conn.recv(count - have)
        if not piece:
            raise EOFError(f"peer closed after {have} of {count} bytes")
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


def address(pair):
    host, port = pair[0], pair[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(host, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    print("Listening at", address(listener.getsockname()), flush=True)
    while True:
        conn, peer = listener.accept()
        # A client that hangs up early (EOFError) or resets the connection
        # (ConnectionResetError, BrokenPipeError: OSErrors) costs one line.
        with conn:
            try:
                request = receive_exactly(conn, len(REQUEST))
                print("python server received", repr(request), "from", address(peer), flush=True)
                conn.sendall(REPLY)
            except (EOFError, OSError) as error:
                print("error:", error, file=sys.stderr, flush=True)


def ask(host, port):
    with socket.create_connection((host, port)) as conn:
        conn.sendall(REQUEST)
        reply = receive_exactly(conn, len(REPLY))
    print("python client received", repr(reply), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=1060)
    args = parser.parse_args()
    (serve if args.role == "server" else ask)(args.host, args.port)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C is how a reader stops the server: no traceback for it.
        sys.exit(130)
