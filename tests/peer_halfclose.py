#!/usr/bin/env python3
"""An independent peer for `halfclose`, written for this book's tests.

It speaks halfclose's protocol, and shares no code with it: the client sends
a message of any length and shuts down its sending side; the server reads to
end of file, answers with the message upper-cased and closes; the client reads
the reply to end of file. A Rust program that talks to it proves it follows
the protocol, not merely its own conventions. Addresses are printed as the
Rust programs print them (host:port), so that tests can parse both alike.

    python3 tests/peer_halfclose.py server [HOST] [-p PORT]
    python3 tests/peer_halfclose.py client [HOST] [-p PORT] [-m MESSAGE]
"""

import argparse
import socket
import sys

from peer import address, listen

GREETING = "Hi from Python. This message ends where I shut down my sending side."
# The server reads at most this much; beyond it, it stops serving the client.
MAX_BYTES = 1 << 20


def receive_to_eof(sock, limit):
    """Everything the peer sends until it shuts down its sending side,
    up to limit + 1 bytes."""
    pieces = []
    have = 0
    while have <= limit:
        piece = sock.recv(min(65536, limit + 1 - have))
        if not piece:
            break
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


def serve(host, port):
    listener = listen(host, port, 5)
    while True:
        conn, peer = listener.accept()
        with conn:
            try:
                conn.settimeout(10)
                message = receive_to_eof(conn, MAX_BYTES)
                if len(message) > MAX_BYTES:
                    raise ValueError(f"more than {MAX_BYTES} bytes")
                print("python server received", len(message), "bytes from",
                      address(peer), "then end of file", flush=True)
                conn.sendall(message.upper())
            except (OSError, ValueError) as error:
                print("error:", error, file=sys.stderr, flush=True)


# ANCHOR: client
def ask(host, port, message):
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(message)
        # The end of the message: a FIN after its last byte. The socket
        # stays open for reading.
        sock.shutdown(socket.SHUT_WR)
        print("python client sent", len(message), "bytes, then SHUT_WR",
              flush=True)
        reply = receive_to_eof(sock, len(message))
    print("The server said", repr(reply), flush=True)
# ANCHOR_END: client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=1060)
    parser.add_argument("-m", "--message", default=GREETING)
    args = parser.parse_args()
    try:
        if args.role == "server":
            serve(args.host, args.port)
        else:
            ask(args.host, args.port, args.message.encode())
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as error:
        print("error:", error, file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
