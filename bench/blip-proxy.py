#!/usr/bin/python3
"""A TCP proxy whose link can be cut and restored by signal: the DCS link of bench/patroni-blip.sh.

One Patroni node talks to etcd through its own copy of this proxy (Patroni's `use_proxies: true`,
so it never discovers etcd's own address and connects around it). The proxy forwards bytes both
ways unchanged until it is told to cut the link:

  SIGUSR1  cut the link, in the mode given by --mode:
             reset      every open connection is reset (RST to the client, the upstream side
                        closed too) and the listening socket is closed, so new connections are
                        refused (ECONNREFUSED): what a client sees when the etcd host's process
                        dies or a firewall REJECTs with tcp-reset.
             blackhole  nothing passes in either direction: open connections stay open but no
                        byte is forwarded (what was read is held), new connections are accepted by
                        the kernel but get no upstream and no answer: a network partition, or a
                        firewall that DROPs. On restore the held bytes are delivered and the held
                        connections go on, as TCP does when a partition heals.
  SIGUSR2  restore the link (reopen the listener after a reset; release the held bytes after a
           black-hole).
  SIGTERM  exit.

After every change (listening, cut, restored) it rewrites --state-file with one line,
"STATE UNIX_NS open=N accepted=M reset=R held=H" (STATE = up or cut), so that the caller can wait
for the change to have taken effect; events also go to stderr, one line each.

Limits of a user-space black-hole: the proxy's kernel still completes TCP handshakes and answers
keepalive probes, so a client's TCP keepalive or TCP_USER_TIMEOUT never fires during the cut;
only its application timeouts do. For a cut of a few seconds this is what a real partition looks
like too (keepalives and user timeouts of Patroni's etcd sockets are longer than that).

Needs only Python 3's standard library.
"""
import argparse
import asyncio
import os
import signal
import socket
import struct
import sys
import time

CHUNK = 65536


def log(msg):
    sys.stderr.write("%d blip-proxy: %s\n" % (time.time_ns(), msg))
    sys.stderr.flush()


def hard_close(writer):
    """Closes a stream with an RST (SO_LINGER on, timeout 0)."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.listen_host, port = args.listen.rsplit(":", 1)
        self.listen_port = int(port)
        self.up_host, port = args.upstream.rsplit(":", 1)
        self.up_port = int(port)
        self.mode = args.mode
        self.server = None
        self.link_up = asyncio.Event()
        self.link_up.set()
        self.conns = {}  # connection number -> {"client", "upstream", "tasks"}
        self.accepted = 0
        self.reset_total = 0
        self.held = 0  # reads that arrived during a black-hole and were held
        self.stopping = asyncio.Event()

    def write_state(self, state):
        line = "%s %d open=%d accepted=%d reset=%d held=%d\n" % (
            state, time.time_ns(), len(self.conns), self.accepted, self.reset_total, self.held)
        tmp = self.args.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line)
        os.replace(tmp, self.args.state_file)
        log(line.strip())

    async def listen(self):
        self.server = await asyncio.start_server(
            self.handle, self.listen_host, self.listen_port, reuse_address=True, backlog=128)

    async def pump(self, reader, writer):
        """Copies one direction; an EOF is passed on as a half-close. Nothing is forwarded while
        the link is cut (black-hole): what was read is held until it is back."""
        while True:
            await self.link_up.wait()
            data = await reader.read(CHUNK)
            if not self.link_up.is_set():
                self.held += 1
                await self.link_up.wait()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    async def handle(self, client_reader, client_writer):
        self.accepted += 1
        n = self.accepted
        conn = {"client": client_writer, "upstream": None, "tasks": []}
        self.conns[n] = conn
        try:
            await self.link_up.wait()  # a connection made during a black-hole waits here
            try:
                up_reader, up_writer = await asyncio.open_connection(self.up_host, self.up_port)
            except OSError as e:
                log("upstream connect failed: %r" % (e,))
                hard_close(client_writer)
                return
            if n not in self.conns:  # reset while it was connecting
                hard_close(up_writer)
                return
            conn["upstream"] = up_writer
            conn["tasks"] = [asyncio.ensure_future(self.pump(client_reader, up_writer)),
                             asyncio.ensure_future(self.pump(up_reader, client_writer))]
            done, pending = await asyncio.wait(conn["tasks"], return_when=asyncio.FIRST_EXCEPTION)
            for t in pending:  # one side failed: the connection is over
                t.cancel()
            await asyncio.gather(*conn["tasks"], return_exceptions=True)
        finally:
            self.conns.pop(n, None)
            for w in (conn["client"], conn["upstream"]):
                if w is not None:
                    w.transport.abort()

    async def cut(self):
        if self.mode == "reset":
            if self.server is not None:
                self.server.close()  # new connections: ECONNREFUSED
                await self.server.wait_closed()
                self.server = None
            for n, conn in list(self.conns.items()):
                self.conns.pop(n, None)
                self.reset_total += 1
                hard_close(conn["client"])
                if conn["upstream"] is not None:
                    hard_close(conn["upstream"])
                for t in conn["tasks"]:
                    t.cancel()
        else:
            self.link_up.clear()
        self.write_state("cut")

    async def restore(self):
        if self.mode == "reset" and self.server is None:
            await self.listen()
        self.link_up.set()
        self.write_state("up")

    async def main(self):
        loop = asyncio.get_running_loop()
        # signals are queued in order: a restore never overtakes its cut
        queue = asyncio.Queue()
        loop.add_signal_handler(signal.SIGUSR1, queue.put_nowait, "cut")
        loop.add_signal_handler(signal.SIGUSR2, queue.put_nowait, "restore")
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        await self.listen()
        log("listening on %s, forwarding to %s, cut mode %s" % (self.args.listen, self.args.upstream, self.mode))
        self.write_state("up")

        async def control():
            while True:
                what = await queue.get()
                await (self.cut() if what == "cut" else self.restore())

        ctl = asyncio.ensure_future(control())
        await self.stopping.wait()
        ctl.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.conns.values()):
            for w in (conn["client"], conn["upstream"]):
                if w is not None:
                    w.transport.abort()
        log("exiting")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT to listen on (127.0.0.1 only)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--mode", choices=("reset", "blackhole"), required=True)
    ap.add_argument("--state-file", required=True)
    args = ap.parse_args()
    if not args.listen.startswith("127.0.0.1:"):
        sys.exit("blip-proxy: --listen must be on 127.0.0.1")
    asyncio.run(Proxy(args).main())


if __name__ == "__main__":
    main()
