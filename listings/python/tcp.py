#!/usr/bin/env python3
"""The Python program this book ports to Rust, written for the book.

A server and a client that trade one 16-byte message each way over TCP.
Start the server in one terminal and the client in another:

    python3 listings/python/tcp.py server
    python3 listings/python/tcp.py client

Nothing is caught: any error ends the program with a traceback. Ctrl-C,
the way to stop the server, is the one exception and ends it quietly.
"""

# ANCHOR: imports
import argparse
import socket
import sys
# ANCHOR_END: imports

REQUEST = b'Hi there, server'
REPLY = b'Goodbye, client!'


# ANCHOR: recvall
def recvall(sock, length):
    """Return exactly `length` bytes from `sock`, however many recv calls
    that takes."""
    received = b''
    while len(received) < length:
        # Asks for what is still missing; the kernel hands over what it
        # has, which may be less.
        chunk = sock.recv(length - len(received))
        if chunk == b'':
            # The peer has closed its side: the rest will never come.
            raise EOFError(f'was expecting {length} bytes but only received '
                           f'{len(received)} bytes before the socket closed')
        received += chunk
    return received
# ANCHOR_END: recvall


# ANCHOR: server
# ANCHOR: server_socket
def server(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(1)
    # ANCHOR_END: server_socket
    print(f'Listening at {listener.getsockname()}')
    while True:
        print('Waiting for a new connection')
        connection, client_address = listener.accept()
        print(f'Connection from {client_address}')
        print(f'  Socket name: {connection.getsockname()}')
        print(f'  Socket peer: {connection.getpeername()}')
        request = recvall(connection, len(REQUEST))
        print(f'  message from client: {request!r}')
        connection.sendall(REPLY)
        connection.close()
        print('  Closing socket')
# ANCHOR_END: server


# ANCHOR: client
# ANCHOR: client_sends
def client(host, port):
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.connect((host, port))
    print(f'Client has been assigned socket name {connection.getsockname()}')
    connection.sendall(REQUEST)
    # ANCHOR_END: client_sends
    answer = recvall(connection, len(REPLY))
    print(f'The server said {answer!r}')
    connection.close()
# ANCHOR_END: client


# ANCHOR: main
def main():
    options = argparse.ArgumentParser(
        description='One 16-byte exchange each way over TCP on loopback.')
    options.add_argument('role', choices=['server', 'client'],
                         help='server: answer clients until Ctrl-C; '
                              'client: make one exchange and exit')
    options.add_argument('host', nargs='?', default='127.0.0.1',
                         help='where the client connects (default 127.0.0.1);'
                              ' the server always listens on 127.0.0.1')
    options.add_argument('-p', dest='port', metavar='PORT', type=int,
                         default=1060,
                         help='port to listen on or connect to '
                              '(default %(default)s)')
    chosen = options.parse_args()
    # One line at a time, even into a pipe, where Python would otherwise
    # keep the output until its buffer is full.
    sys.stdout.reconfigure(line_buffering=True)
    if chosen.role == 'server':
        server(chosen.port)
    else:
        client(chosen.host, chosen.port)


# ANCHOR: entry
if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C is how a user stops the server, not a failure: no
        # traceback, and the status a shell reports for it (128 + SIGINT).
        sys.exit(130)
# ANCHOR_END: entry
# ANCHOR_END: main
