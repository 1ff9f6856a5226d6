#!/usr/bin/env python3
"""An independent peer for the step programs, written for this book's tests.

It speaks the same tiny protocol as the Rust steps (16 bytes each way) but
shares no code with them, so a Rust step that talks to it proves it follows
the protocol, not merely its own conventions. Output lines use the Rust
programs' address format (host:port) so that tests can parse both alike.

With --framing it speaks instead the protocols of the chapter "Messages of
any length": `length` (each message after its length, 4 bytes big-endian,
as the `framed` program sends it) or `line` (each message ended by a
newline, as `lines` sends it); the client sends --message, --repeat times
over, and the server answers with a reply of its own.
"""

import argparse
import socket
import struct
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


def describe(message):
    """A message as the Rust programs print it: its length, then its bytes,
    only the first and last 20 if it is longer than 64."""
    if len(message) <= 64:
        return f"{len(message)} bytes, {message!r}"
    return f"{len(message)} bytes, {message[:20]!r} ... {message[-20:]!r}"


def receive_frame(conn, limit):
    (length,) = struct.unpack("!I", receive_exactly(conn, 4))
    if length > limit:
        raise ValueError(f"refused a message of {length} bytes, longer than {limit}")
    return receive_exactly(conn, length)


def send_frame(conn, message):
    conn.sendall(struct.pack("!I", len(message)) + message)


def receive_line(rfile, limit):
    # One byte more than the limit: a whole line of `limit` bytes ends in
    # its newline, and anything longer shows without one.
    line = rfile.readline(limit + 1)
    if line.endswith(b"\n"):
        return line[:-1]
    if len(line) > limit:
        raise ValueError(f"refused a line longer than {limit} bytes")
    raise EOFError(f"peer closed after {len(line)} bytes of a line")


def send_line(wfile, message):
    wfile.write(message + b"\n")
    wfile.flush()


def reply_to(message):
    return f"Goodbye from python: {len(message)} bytes received".encode()


def address(pair):
    host, port = pair[0], pair[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host, port, backlog):
    """A listening IPv4 socket at (host, port), with SO_REUSEADDR as tcp.py
    sets it, once it has printed where it listens. The other Python peers
    (peer_deadlock.py, peer_halfclose.py) start their servers with it too."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(backlog)
    print("Listening at", address(listener.getsockname()), flush=True)
    return listener


def answer(conn, framing, limit):
    """Receives one message and answers it; returns the message."""
    if framing == "length":
        message = receive_frame(conn, limit)
        send_frame(conn, reply_to(message))
    else:
        with conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
            message = receive_line(rfile, limit)
            send_line(wfile, reply_to(message))
    return message


def serve(host, port, framing, limit):
    listener = listen(host, port, 1)
    while True:
        conn, peer = listener.accept()
        # A client that hangs up early (EOFError) or resets the connection
        # (ConnectionResetError, BrokenPipeError: OSErrors) costs one line.
        with conn:
            try:
                if framing == "fixed":
                    request = receive_exactly(conn, len(REQUEST))
                    print("python server received", repr(request), "from", address(peer), flush=True)
                    conn.sendall(REPLY)
                else:
                    message = answer(conn, framing, limit)
                    print("python server received", describe(message), "from", address(peer), flush=True)
            except (EOFError, OSError, ValueError) as error:
                print("error:", error, file=sys.stderr, flush=True)


def ask(host, port, framing, limit, message):
    with socket.create_connection((host, port)) as conn:
        if framing == "fixed":
            conn.sendall(REQUEST)
            reply = receive_exactly(conn, len(REPLY))
        elif framing == "length":
            send_frame(conn, message)
            reply = receive_frame(conn, limit)
        else:
            with conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
                send_line(wfile, message)
                reply = receive_line(rfile, limit)
    if framing == "fixed":
        print("python client received", repr(reply), flush=True)
    else:
        print("python client received", describe(reply), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=1060)
    parser.add_argument("--framing", choices=["fixed", "length", "line"], default="fixed")
    parser.add_argument("--max", type=int, default=64 * 1024 * 1024,
                        help="longest message accepted, in bytes")
    parser.add_argument("--message", default="Hi there, server")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.role == "server":
        serve(args.host, args.port, args.framing, args.max)
    else:
        message = args.message.encode() * args.repeat
        ask(args.host, args.port, args.framing, args.max, message)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C is how a reader stops the server: no traceback for it.
        sys.exit(130)
