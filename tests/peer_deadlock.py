#!/usr/bin/env python3
"""An independent peer for the deadlock programs, written for this book's tests.

It shares no code with the Rust `deadlock` program. Its server reads up to
4096 bytes at a time and sends each piece back upper-cased, until the client
closes. Its client sends N lowercase letters and reads them back upper-cased:
by default all of them before reading any (the order that deadlocks), with
--threaded while a second thread reads. Lines use the Rust programs' address
format (host:port), so that tests parse both alike.
"""

import argparse
import socket
import sys
import threading

from peer import address, listen

ALPHABET = b"abcdefghijklmnopqrstuvwxyz"


def serve(host, port):
    listener = listen(host, port, 1)
    while True:
        conn, peer = listener.accept()
        print("python server: connection from", address(peer), flush=True)
        echoed = 0
        with conn:
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data.upper())
                    echoed += len(data)
                print("python server echoed", echoed, "bytes", flush=True)
            except OSError as error:
                print("error:", error, "after echoing", echoed, "bytes",
                      file=sys.stderr, flush=True)


# ANCHOR: send
def send(sock, message, progress):
    """sendall, counting: sendall's timeout error would not say how many."""
    view = memoryview(message)
    while view:
        taken = sock.send(view)
        progress["sent"] += taken
        view = view[taken:]
# ANCHOR_END: send


def receive(sock, count, progress):
    """Reads the reply until `count` bytes have come back."""
    upper = ALPHABET.upper()
    while progress["received"] < count:
        data = sock.recv(min(65536, count - progress["received"]))
        if not data:
            raise EOFError(f"the server closed after {progress['received']} bytes")
        start = progress["received"] % 26
        expected = (upper * (len(data) // 26 + 2))[start:start + len(data)]
        if data != expected:
            raise ValueError("the reply is not the message upper-cased")
        progress["received"] += len(data)


# ANCHOR: naive
def send_then_receive(sock, message, progress):
    send(sock, message, progress)  # sock.sendall(message), counting
    receive(sock, len(message), progress)
# ANCHOR_END: naive


# ANCHOR: threaded
def send_while_receiving(sock, message, progress):
    failures = []

    def reader():
        try:
            receive(sock, len(message), progress)
        except (OSError, EOFError, ValueError) as error:
            failures.append(error)

    receiving = threading.Thread(target=reader)
    receiving.start()
    send(sock, message, progress)
    receiving.join()
    if failures:
        raise failures[0]
# ANCHOR_END: threaded


def ask(host, port, count, threaded, stall_after):
    message = (ALPHABET * (count // 26 + 1))[:count]
    progress = {"sent": 0, "received": 0}
    with socket.create_connection((host, port)) as sock:
        # Each send and recv waits at most this long for any progress.
        sock.settimeout(stall_after)
        print("python client sending", count, "bytes", flush=True)
        way = send_while_receiving if threaded else send_then_receive
        try:
            way(sock, message, progress)
        except TimeoutError:
            print(f"error: stalled: nothing moved for {stall_after} s; the socket had taken "
                  f"{progress['sent']} of {count} bytes, and {progress['received']} had come back",
                  file=sys.stderr, flush=True)
            sys.exit(1)
    print("python client received all", progress["received"], "bytes back", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=1060)
    parser.add_argument("--bytes", type=int, default=100_000)
    parser.add_argument("--threaded", action="store_true")
    parser.add_argument("--stall-after", type=float, default=None)
    args = parser.parse_args()
    if args.role == "server":
        serve(args.host, args.port)
    else:
        ask(args.host, args.port, args.bytes, args.threaded, args.stall_after)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
