#!/usr/bin/env python3
"""httpprobe: hostile HTTP clients for the limit tests (86-http-limits).
Loopback only; every loop is bounded in bytes and in time.

  httpprobe.py flood PORT PATH MAXBYTES
      a request line, then small header lines until MAXBYTES are sent or
      the server stops taking them; prints "sent=N closed=0|1 status=CODE"
  httpprobe.py loris PORT PATH MAXSECONDS
      a request line, then one header byte a second; prints
      "closed_after=SECONDS" or "open_after=MAXSECONDS"
  httpprobe.py conns PORT N
      opens N idle connections and one more; prints "extra_closed=0|1"
      and how many of the first N were still open
  httpprobe.py forwarded PORT COUNT XFF-PREFIX TOKEN
      COUNT pickup POSTs with the wrong password for TOKEN, each with
      X-Forwarded-For: XFF-PREFIX.i; prints the status codes
"""
import socket
import sys
import time

HOST = "127.0.0.1"


def connect(port, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    return s


def status_of(data):
    if data.startswith(b"HTTP/"):
        parts = data.split(b" ", 2)
        if len(parts) > 1:
            return parts[1].decode("ascii", "replace")
    return "none"


def read_until_closed(s, seconds):
    """What the server sends until it closes, for at most seconds:
    (data, closed)."""
    data = b""
    end = time.time() + seconds
    while time.time() < end:
        s.settimeout(max(0.1, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def flood(port, path, maxbytes):
    s = connect(port)
    line = b"X-Flood: aaaaaaaaaaaaaaaaaaaa\r\n"
    chunk = line * (65536 // len(line))
    sent = 0
    closed = False
    s.settimeout(10)
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        while sent < maxbytes:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        closed = True
    data, c = read_until_closed(s, 10)
    closed = closed or c
    s.close()
    print("sent=%d closed=%d status=%s" % (sent, int(closed), status_of(data)))


def loris(port, path, maxseconds):
    s = connect(port)
    start = time.time()
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.settimeout(1)
    while time.time() - start < maxseconds:
        try:
            s.sendall(b"a")
        except OSError:
            print("closed_after=%d" % int(time.time() - start))
            return
        try:
            chunk = s.recv(65536)
            if not chunk or chunk.startswith(b"HTTP/"):
                print("closed_after=%d" % int(time.time() - start))
                return
        except socket.timeout:
            pass
        except OSError:
            print("closed_after=%d" % int(time.time() - start))
            return
    print("open_after=%d" % maxseconds)


def conns(port, n):
    held = [connect(port) for _ in range(n)]
    time.sleep(0.2)
    extra = connect(port)
    _, closed = read_until_closed(extra, 1.5)
    still = 0
    for s in held:
        s.setblocking(False)
        try:
            s.recv(1)
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    # a held one must still answer
    probe = held[0]
    probe.setblocking(True)
    probe.settimeout(5)
    try:
        probe.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_closed(probe, 5)
    except OSError:
        data = b""
    print("extra_closed=%d held_open=%d held_answers=%s" % (int(closed), still, status_of(data)))
    for s in held + [extra]:
        s.close()


def forwarded(port, count, prefix, token):
    codes = []
    for i in range(count):
        body = ("t=%s&password=junk%d" % (token, i)).encode()
        s = connect(port)
        s.sendall(b"POST /pickup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"X-Forwarded-For: " + ("%s.%d" % (prefix, i + 1)).encode() + b"\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        data, _ = read_until_closed(s, 10)
        s.close()
        codes.append(status_of(data))
    print(" ".join(codes))


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2])
    if mode == "flood":
        flood(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "loris":
        loris(port, sys.argv[3], int(sys.argv[4]))
    elif mode == "conns":
        conns(port, int(sys.argv[3]))
    elif mode == "forwarded":
        forwarded(port, int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
