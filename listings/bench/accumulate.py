#!/usr/bin/env python3
"""Receives SIZE bytes on a loopback port and reports how long it took.

Started by the book's bench (listings/src/bin/bench/), which connects and
sends the bytes. WAY chooses how the bytes are accumulated:

  bytes      data += more on an immutable bytes object, as tcp.py's recvall
             does: every += copies everything received so far.
  bytearray  the same loop on a bytearray, which grows in place.

Prints "port N" once listening, then "ms T" once all bytes are in.
"""

import socket
import sys
import time


def receive(conn, size, data):
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            raise EOFError(f"only {len(data)} of {size} bytes arrived")
        data += more
    return data


def main():
    way, size = sys.argv[1], int(sys.argv[2])
    start_with = {"bytes": bytes, "bytearray": bytearray}[way]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print("port", listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    started = time.perf_counter()
    receive(conn, size, start_with())
    elapsed = time.perf_counter() - started
    conn.close()
    print("ms", elapsed * 1000, flush=True)


if __name__ == "__main__":
    main()
