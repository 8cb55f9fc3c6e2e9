#!/usr/bin/env python3
"""What the kernel differential test runs inside the network namespaces it creates.

  capture             every IPv4 packet on every interface of this namespace but lo, as JSON lines, in the
                      order the kernel queued them; SIGTERM drains what is queued and exits
  serve NS:TCP:UDP... answers in each named namespace on the TCP and UDP ports listed (comma-separated):
                      each request gets one line, the address the server saw the client at; a TCP connection
                      is closed after the client closes its side
  client FLOWS        runs the flows (a JSON list, each naming its namespace) concurrently and prints one JSON
                      outcome per flow, in order

Only the Python standard library is used. Nothing here sends a packet anywhere but where it is told to.
"""
import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import time


LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def enter(ns):
    """Moves the calling thread into network namespace `ns` (sockets it makes from now on live there)."""
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (ns, os.strerror(e)))
    finally:
        os.close(fd)


# A helper whose test died without stopping it ends by itself.
LIFETIME_S = 300
DEADLINE = time.monotonic() + LIFETIME_S


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse(b):
    """The fields the test compares, plus a fingerprint that NAT does not change (IP id, length, L4 invariants)."""
    ihl = (b[0] & 15) * 4
    totlen, ident = struct.unpack("!HH", b[2:6])
    proto = b[9]
    d = {
        "len": totlen,
        "proto": proto,
        "src": socket.inet_ntoa(b[12:16]),
        "dst": socket.inet_ntoa(b[16:20]),
        "sport": 0,
        "dport": 0,
        "flags": 0,
        "type": 0,
        "code": 0,
    }
    l4 = b[ihl:]
    fp = [ident, totlen, proto]
    if proto in (6, 17) and len(l4) >= 4:
        d["sport"], d["dport"] = struct.unpack("!HH", l4[:4])
    if proto == 6 and len(l4) >= 14:
        seq, ack = struct.unpack("!II", l4[4:12])
        d["flags"] = l4[13] & 0x3F
        fp += [seq, ack, d["flags"]]
    elif proto == 17:
        fp.append(l4[8:40].hex())
    elif proto == 1 and len(l4) >= 8:
        d["type"], d["code"] = l4[0], l4[1]
        echo_id, echo_seq = struct.unpack("!HH", l4[4:8])
        d["sport"] = echo_id
        fp += [d["type"], echo_seq]
    d["fp"] = ":".join(str(x) for x in fp)
    return d


def capture():
    # ETH_P_ALL: a socket for one protocol is not shown packets the namespace sends, only those it receives.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    out({"ready": True})

    def take():
        data, addr = s.recvfrom(65535)
        dev, proto, pkttype = addr[0], addr[1], addr[2]
        if dev == "lo" or proto != 0x0800 or len(data) < 20:
            return
        rec = parse(data)
        rec.update({"t": time.monotonic_ns(), "dev": dev, "dir": "out" if pkttype == 4 else "in"})
        out(rec)

    while not stop and time.monotonic() < DEADLINE:
        try:
            r, _, _ = select.select([s], [], [], 0.02)
        except InterruptedError:
            continue
        if r:
            take()
    s.setblocking(False)
    while True:
        try:
            take()
        except (BlockingIOError, InterruptedError):
            break
    out({"end": True})


def serve(specs):
    listeners, udps, conns = {}, {}, {}
    for ns, tcp_ports, udp_ports in specs:
        enter(ns)
        for p in tcp_ports:
            l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("0.0.0.0", p))
            l.listen(64)
            listeners[l.fileno()] = l
        for p in udp_ports:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("0.0.0.0", p))
            udps[u.fileno()] = u
    out({"ready": True})
    while time.monotonic() < DEADLINE:
        socks = list(listeners.values()) + list(udps.values()) + [c for c, _ in conns.values()]
        r, _, _ = select.select(socks, [], [], 1.0)
        for s in r:
            fd = s.fileno()
            if fd in listeners:
                c, peer = s.accept()
                conns[c.fileno()] = (c, peer)
            elif fd in udps:
                data, peer = s.recvfrom(2048)
                s.sendto(("%s\n" % peer[0]).encode(), peer)
            else:
                c, peer = conns[fd]
                try:
                    data = c.recv(2048)
                except OSError:
                    data = b""
                if data:
                    c.sendall(("%s\n" % peer[0]).encode())
                else:
                    del conns[fd]
                    c.close()


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


ERRORS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "host-unreachable",
    errno.ENETUNREACH: "network-unreachable",
    errno.ETIMEDOUT: "timeout",
}


def tcp_flow(f):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(f["timeout"])
    try:
        s.connect((f["dst"], f["dport"]))
        s.sendall(f["payload"].encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(2048)
            if not chunk:
                break
            buf += chunk
        return {"ok": True, "response": buf.decode()}
    except socket.timeout:
        return {"ok": False, "error": "timeout"}
    except OSError as e:
        return {"ok": False, "error": ERRORS.get(e.errno, "errno %d" % e.errno)}
    finally:
        s.close()


def udp_flow(f):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(f["timeout"])
    try:
        s.connect((f["dst"], f["dport"]))
        s.send(f["payload"].encode())
        return {"ok": True, "response": s.recv(2048).decode()}
    except socket.timeout:
        return {"ok": False, "error": "timeout"}
    except OSError as e:
        return {"ok": False, "error": ERRORS.get(e.errno, "errno %d" % e.errno)}
    finally:
        s.close()


def icmp_flow(f):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = seq = f["id"]
    body = bytes(range(56))
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(head + body), ident, seq) + body
    s.sendto(pkt, (f["dst"], 0))
    deadline = time.monotonic() + f["timeout"]
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"ok": False, "error": "timeout"}
            s.settimeout(left)
            try:
                data = s.recv(2048)
            except socket.timeout:
                return {"ok": False, "error": "timeout"}
            ihl = (data[0] & 15) * 4
            t, _c, _sum, rid, rseq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if t == 0 and rid == ident and rseq == seq and socket.inet_ntoa(data[12:16]) == f["dst"]:
                return {"ok": True, "response": ""}
    finally:
        s.close()


def client(flows):
    """All flows at once (each on its own socket), so a dropped one costs its timeout once, not per flow."""
    from concurrent.futures import ThreadPoolExecutor

    kinds = {"tcp": tcp_flow, "udp": udp_flow, "icmp": icmp_flow}
    def one(f):
        enter(f["ns"])
        return kinds[f["proto"]](f)

    with ThreadPoolExecutor(max_workers=max(1, len(flows))) as pool:
        results = list(pool.map(one, flows))
    for r in results:
        out(r)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "capture":
        capture()
    elif mode == "serve":
        ports = lambda s: [int(p) for p in s.split(",") if p]
        serve([(ns, ports(t), ports(u)) for ns, t, u in (a.split(":") for a in sys.argv[2:])])
    elif mode == "client":
        client(json.loads(sys.argv[2]))
    else:
        sys.exit("unknown mode " + mode)
