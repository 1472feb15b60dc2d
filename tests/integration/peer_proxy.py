#!/usr/bin/python3
"""A fault-injecting TCP proxy for Capstan's peer (Raft) traffic.

Run as its own process (so that forwarding never waits for the test's GIL):

    peer_proxy.py '[[listen_port, target_port], ...]'

Entry i accepts on 127.0.0.1:listen_port and forwards to
127.0.0.1:target_port, the real --listen-peer-urls port of member i, whose
--initial-advertise-peer-urls (and everyone's --initial-cluster) name the
proxy's address instead.  Capstan's peer connections are one-way (each
member dials every peer for its own messages) and start with a 25-byte
handshake: magic, cluster id, sender's member id, channel.  The proxy reads
the sender's id from it, so each directed link src -> dst can be faulted on
its own:

  drop       connections on the link are closed at once, new ones right
             after the handshake (the sender sees resets and reconnects)
  blackhole  bytes are read and thrown away; the connection stays up.  On
             heal such connections are closed (the stream lost frames)
  stall      nothing is read any more (TCP backpressure); on heal forwarding
             resumes and whatever was queued is delivered late

Control: one JSON object per line on stdin, one JSON reply per line on stdout.
  {"cmd": "block", "src": <member id or "*">, "dst": <index or "*">, "mode": m}
  {"cmd": "heal"}                          every link
  {"cmd": "heal", "src": .., "dst": ..}    one rule
  {"cmd": "stats"}                         per link: connections, bytes
The proxy exits when stdin closes.
"""

import asyncio
import json
import sys

HANDSHAKE = 25
MAGIC = 0x3154464152504143


class Proxy:
    def __init__(self, pairs):
        self.pairs = pairs
        self.rules = {}            # (src, dst) with "*" wildcards -> mode
        self.conns = set()
        self.changed = asyncio.Event()
        self.stats = {}            # "src->dst" -> [connections, bytes forwarded, bytes dropped]

    def mode(self, src, dst):
        for k in ((src, dst), (src, "*"), ("*", dst), ("*", "*")):
            m = self.rules.get(k)
            if m:
                return m
        return None

    def stat(self, src, dst):
        return self.stats.setdefault(f"{src:x}->{dst}" if isinstance(src, int) else f"{src}->{dst}",
                                     [0, 0, 0])

    def notify(self):
        self.changed.set()
        self.changed = asyncio.Event()

    async def handle(self, reader, writer, dst):
        conn = {"writers": [writer], "src": None, "dst": dst, "tainted": False}
        try:
            hs = await asyncio.wait_for(reader.readexactly(HANDSHAKE), 10)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
            writer.close()
            return
        src = int.from_bytes(hs[16:24], "little") if int.from_bytes(hs[0:8], "little") == MAGIC else -1
        conn["src"] = src
        st = self.stat(src, dst)
        st[0] += 1
        self.conns.add(_Key(conn))
        try:
            while self.mode(src, dst) == "stall":
                await self.changed.wait()
            m = self.mode(src, dst)
            if m == "drop":
                return
            up_writer = None
            if m != "blackhole":
                try:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                         self.pairs[dst][1])
                except OSError:
                    return
                conn["writers"].append(up_writer)
                up_writer.write(hs)
                back = asyncio.ensure_future(self.pump_back(up_reader, writer))
            else:
                conn["tainted"] = True
                back = None
            try:
                await self.pump(reader, up_writer, conn, st)
            finally:
                if back is not None:
                    back.cancel()
        finally:
            self.conns.discard(_Key(conn))
            for w in conn["writers"]:
                try:
                    w.close()
                except Exception:  # noqa: BLE001
                    pass

    async def pump(self, reader, up_writer, conn, st):
        src, dst = conn["src"], conn["dst"]
        while True:
            while self.mode(src, dst) == "stall":
                await self.changed.wait()
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                return
            if not data:
                return
            m = self.mode(src, dst)
            while m == "stall":
                await self.changed.wait()
                m = self.mode(src, dst)
            if m == "drop":
                return
            if m == "blackhole" or conn["tainted"] or up_writer is None:
                conn["tainted"] = True
                st[2] += len(data)
                if m != "blackhole":
                    return     # healed, but frames were lost: make the sender reconnect
                continue
            up_writer.write(data)
            st[1] += len(data)
            try:
                await up_writer.drain()
            except (ConnectionError, OSError):
                return

    async def pump_back(self, up_reader, writer):
        # the only replies on a peer connection: the cluster id query's answer
        try:
            while True:
                data = await up_reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    def close_matching(self, pred):
        for k in list(self.conns):
            c = k.conn
            if pred(c):
                for w in c["writers"]:
                    try:
                        w.close()
                    except Exception:  # noqa: BLE001
                        pass

    def command(self, req):
        cmd = req.get("cmd")
        if cmd == "block":
            src = req.get("src", "*")
            dst = req.get("dst", "*")
            mode = req["mode"]
            if mode not in ("drop", "blackhole", "stall"):
                return {"error": f"bad mode {mode}"}
            self.rules[(src, dst)] = mode
            if mode == "drop":
                self.close_matching(lambda c: self.mode(c["src"], c["dst"]) == "drop")
            self.notify()
            return {"ok": True}
        if cmd == "heal":
            if "src" in req or "dst" in req:
                self.rules.pop((req.get("src", "*"), req.get("dst", "*")), None)
            else:
                self.rules.clear()
            # blackholed connections lost frames: close them, the senders reconnect
            self.close_matching(lambda c: c["tainted"] and self.mode(c["src"], c["dst"]) is None)
            self.notify()
            return {"ok": True}
        if cmd == "stats":
            return {"ok": True, "stats": self.stats,
                    "rules": [[s, d, m] for (s, d), m in self.rules.items()]}
        return {"error": f"unknown command {cmd!r}"}


class _Key:
    """Hashable handle of a connection dict."""
    __slots__ = ("conn",)

    def __init__(self, conn):
        self.conn = conn

    def __hash__(self):
        return id(self.conn)

    def __eq__(self, o):
        return isinstance(o, _Key) and o.conn is self.conn


async def main(pairs):
    proxy = Proxy(pairs)
    servers = []
    for i, (listen, _target) in enumerate(pairs):
        servers.append(await asyncio.start_server(
            lambda r, w, i=i: proxy.handle(r, w, i), "127.0.0.1", listen, reuse_address=True))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ok": True, "listening": [p[0] for p in pairs]}), flush=True)
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            reply = proxy.command(json.loads(line))
        except Exception as e:  # noqa: BLE001
            reply = {"error": repr(e)}
        print(json.dumps(reply), flush=True)
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
