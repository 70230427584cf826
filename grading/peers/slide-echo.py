#!/usr/bin/env python3
"""slide-echo.py - the slide's select() echo server, in Python 3.

Usage: slide-echo.py HOST PORT     (PORT 0 picks any free port)

A faithful port of the slide "Example - echo server for multiple
simultaneous connection" (the PyMOTW select example): an inputs list, an
outputs list, a message_queues dict of queue.Queue, recv(1024), and
select(inputs, outputs, inputs). Only grading/bench runs it, as the
baseline that 04-select-echo must beat at 1,000 clients.

Kept from the slide on purpose, because they are what is being measured:
one recv(1024) per readable socket per round, one queued chunk sent per
writable socket per round, send()'s result ignored (a short send loses
bytes), unbounded queues. Changed only so that the bench can drive it:
HOST and PORT come from the command line, the first stdout line is
"Listening on ADDRESS:PORT" (flushed), the per-message log lines are gone
(their cost would dominate), a client that resets is closed instead of
ending the server, and SIGTERM/SIGINT exit 0.
"""
import queue
import select
import signal
import socket
import sys


def stop(signum, frame):
    sys.exit(0)


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        print("Usage: slide-echo.py HOST PORT", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Create a TCP/IP socket
    family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setblocking(0)

    # Bind the socket to the port
    server.bind((sys.argv[1], int(sys.argv[2])))

    # Listen for incoming connections
    server.listen(socket.SOMAXCONN)
    host, port = server.getsockname()[:2]
    where = "[%s]:%d" % (host, port) if family == socket.AF_INET6 else "%s:%d" % (host, port)
    print("Listening on " + where, flush=True)

    # Sockets from which we expect to read
    inputs = [server]

    # Sockets to which we expect to write
    outputs = []

    # Outgoing message queues (socket:Queue)
    message_queues = {}

    def close(s):
        # Stop listening for input on the connection
        if s in outputs:
            outputs.remove(s)
        if s in inputs:
            inputs.remove(s)
        s.close()
        # Remove message queue
        message_queues.pop(s, None)

    while inputs:
        # Wait for at least one of the sockets to be ready for processing
        readable, writable, exceptional = select.select(inputs, outputs, inputs)

        # Handle inputs
        for s in readable:
            if s is server:
                # A "readable" server socket is ready to accept a connection
                connection, client_address = s.accept()
                print("Connection from %s:%d" % client_address[:2], flush=True)
                connection.setblocking(0)
                inputs.append(connection)

                # Give the connection a queue for data we want to send
                message_queues[connection] = queue.Queue()
            elif s in message_queues:
                try:
                    data = s.recv(1024)
                except OSError:
                    data = b""
                if data:
                    # A readable client socket has data
                    message_queues[s].put(data)
                    # Add output channel for response
                    if s not in outputs:
                        outputs.append(s)
                else:
                    # Interpret empty result as closed connection
                    print("Closed connection", flush=True)
                    close(s)

        # Handle outputs
        for s in writable:
            if s not in message_queues:
                continue
            try:
                next_msg = message_queues[s].get_nowait()
            except queue.Empty:
                # No messages waiting so stop checking for writability.
                outputs.remove(s)
            else:
                try:
                    s.send(next_msg)
                except OSError:
                    close(s)

        # Handle "exceptional conditions"
        for s in exceptional:
            if s in message_queues:
                close(s)


if __name__ == "__main__":
    main()
