#!/usr/bin/env python3
"""What Python's two receive-side helpers return, case by case.

The chapter "Step 4: recvall" says what `sock.recv(n, socket.MSG_WAITALL)`
and `sock.makefile("rb").read(n)` do when the peer closes early, sends more
than n bytes, or leaves a message unfinished while signals arrive.
`tests/step4_recvall.rs` runs this script and checks every line it prints.
Linux only: MSG_WAITALL's behaviour with signals is the kernel's.
"""

import signal
import socket


def connected_pair():
    """Both ends of a fresh connection on 127.0.0.1: (peer, conn)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    peer = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    listener.close()
    return peer, conn


def in_kernel(conn):
    """What is waiting in conn's receive buffer, without waiting for more."""
    try:
        return conn.recv(64, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


# A peer that sends 5 bytes and closes: both helpers return the 5 bytes and
# raise nothing.
peer, conn = connected_pair()
peer.sendall(b"Hi th")
peer.close()
print("MSG_WAITALL, early close:", conn.recv(16, socket.MSG_WAITALL))

peer, conn = connected_pair()
peer.sendall(b"Hi th")
peer.close()
print("makefile, early close:", conn.makefile("rb").read(16))

# A peer that sends 20 bytes in one call and stays connected. MSG_WAITALL
# leaves the last 4 in the kernel; the file object has already read them
# into its own buffer, where conn.recv cannot see them.
peer, conn = connected_pair()
peer.sendall(b"Hi there, servermore")
message = conn.recv(16, socket.MSG_WAITALL)
print("MSG_WAITALL, 20 bytes:", message, "then in the kernel:", in_kernel(conn))

peer, conn = connected_pair()
peer.sendall(b"Hi there, servermore")
file = conn.makefile("rb")
message = file.read(16)
print(
    "makefile, 20 bytes:",
    message,
    "then in the kernel:",
    in_kernel(conn),
    "in the file:",
    file.peek(),
)

# A peer that sends 10 bytes and then nothing, while a timer sends a signal
# every 50 ms. MSG_WAITALL returns the 10 bytes at the first signal that
# finds them copied; the file object goes on waiting, here until a timeout
# that stands in for "forever".
signal.signal(signal.SIGALRM, lambda *_: None)
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
peer, conn = connected_pair()
peer.sendall(b"Hi there, ")
print("MSG_WAITALL, signals:", conn.recv(16, socket.MSG_WAITALL))

peer, conn = connected_pair()
peer.sendall(b"Hi there, ")
conn.settimeout(0.5)
try:
    print("makefile, signals:", conn.makefile("rb").read(16))
except TimeoutError:
    print("makefile, signals: still waiting at the timeout")
signal.setitimer(signal.ITIMER_REAL, 0)
