#!/usr/bin/env python3
"""tcp.py: a TCP server and client that trade one 16-byte message each way.

This is the Python program the book ports to Rust, written for the book.
Run it as a server in one terminal and as a client in another:

    python3 listings/python/tcp.py server
    python3 listings/python/tcp.py client

Errors are not caught: one ends the program with a traceback. Only Ctrl-C,
which is how the server is stopped, ends it quietly.
"""

# ANCHOR: imports
import argparse
import socket
import sys
# ANCHOR_END: imports


# ANCHOR: recvall
def recvall(sock, length):
    """Receive exactly `length` bytes, however many recv calls it takes."""
    data = b''
    while len(data) < length:
        # recv(n) returns at most n bytes: whatever has arrived so far.
        more = sock.recv(length - len(data))
        if not more:
            # An empty result means the peer has closed its side: nothing
            # more will come.
            raise EOFError(f'was expecting {length} bytes but only received '
                           f'{len(data)} bytes before the socket closed')
        data += more
    return data
# ANCHOR_END: recvall


# ANCHOR: server
# ANCHOR: server_socket
def server(host, port):
    # The host is not used: the server always listens on the loopback address.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    sock.listen(1)
    # ANCHOR_END: server_socket
    print('Listening at', sock.getsockname())
    while True:
        print('Waiting for a new connection')
        conn, address = sock.accept()
        print('Connection from', address)
        print('  Socket name:', conn.getsockname())
        print('  Socket peer:', conn.getpeername())
        message = recvall(conn, 16)
        print('  message from client:', repr(message))
        conn.sendall(b'Goodbye, client!')
        conn.close()
        print('  Closing socket')
# ANCHOR_END: server


# ANCHOR: client
# ANCHOR: client_sends
def client(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect((host, port))
    print('Client has been assigned socket name', sock.getsockname())
    sock.sendall(b'Hi there, server')
    # ANCHOR_END: client_sends
    reply = recvall(sock, 16)
    print('The server said', repr(reply))
    sock.close()
# ANCHOR_END: client


# ANCHOR: main
def main():
    parser = argparse.ArgumentParser(description='Send and receive over TCP')
    parser.add_argument('role', choices=['server', 'client'],
                        help='which role to play')
    parser.add_argument('host', nargs='?', default='127.0.0.1',
                        help='the server to connect to (a server ignores it)')
    parser.add_argument('-p', metavar='PORT', type=int, default=1060,
                        help='TCP port (default 1060)')
    args = parser.parse_args()
    # Print each line as soon as it is complete, even into a pipe, where
    # Python would otherwise hold the output back until its buffer fills.
    sys.stdout.reconfigure(line_buffering=True)
    if args.role == 'server':
        server(args.host, args.p)
    else:
        client(args.host, args.p)


# ANCHOR: entry
if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C stops the server; it is not an error, so no traceback.
        # 130 is the status a shell shows for a program Ctrl-C killed.
        sys.exit(130)
# ANCHOR_END: entry
# ANCHOR_END: main
