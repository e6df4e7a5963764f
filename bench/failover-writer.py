#!/usr/bin/python3
"""The steady write load of bench/failover.sh: an application that must not lose a commit.

One persistent connection; one autocommit single-row INSERT after another, unthrottled, each
with a fresh id (1, 2, 3, ...). After the server acknowledges a COMMIT, the writer appends
"ID<TAB>UNIX_NS<TAB>NODE" to the ack log (line-buffered, so a killed writer loses no logged
line). An INSERT that fails or times out is "in doubt": its id is never logged and never reused.

On any error the writer drops the connection and reconnects to whichever node answers
`pg_is_in_recovery() = false`: it connects to every node at once (asking a node that refused
or answered as a standby again every 0.1 s) and takes the first that answers so; its next
INSERT is the proof that it accepts writes. Every network wait is
bounded on the client side (libpq's asynchronous API and select), so a server that is
SIGSTOPped, or a commit waiting for a synchronous standby that is gone, never blocks it for
more than --op-timeout.

It stops on SIGTERM or SIGINT, when --stop-file exists, or after --max-seconds; then it prints
one summary line to stderr. Needs only Debian's python3-psycopg2.
"""
import argparse
import os
import select
import signal
import sys
import time

import psycopg2
import psycopg2.extensions as ext

STOPPING = False


def on_signal(_signum, _frame):
    global STOPPING
    STOPPING = True


def drive(conn, deadline):
    """Polls an asynchronous connection until its current operation is done, or raises
    TimeoutError at the deadline."""
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer within the client timeout")
        wait = min(left, 0.1)
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], wait)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], wait)
        else:
            raise psycopg2.OperationalError("unexpected poll state %r" % (state,))


def execute(conn, sql, params, timeout):
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        drive(conn, time.monotonic() + timeout)
        return cur.fetchall() if cur.description else None
    finally:
        try:
            cur.close()
        except Exception:
            pass


def close(conn):
    if conn is None:
        return
    try:
        conn.close()
    except Exception:
        pass


def start_connect(host, port, timeout):
    return psycopg2.connect(
        host=host, port=port, user="postgres", dbname="postgres",
        connect_timeout=max(2, int(timeout)), async_=1,
        application_name="failover-bench-writer",
    )


def connect_writable(nodes, timeout, retry=0.1):
    """Connects to every node at once and returns (index, connection) of the first that
    answers pg_is_in_recovery() = false, or (None, None) after the timeout. A node that
    refuses, fails or answers as a standby is asked again every `retry` seconds; one that
    does not answer (hung) is waited for, up to the timeout, while the others are tried."""
    deadline = time.monotonic() + timeout
    pending = {}  # node index -> [connection, cursor (None while connecting)]
    retry_at = {i: 0.0 for i in range(len(nodes))}  # node index -> when to try it again
    chosen = None
    while chosen is None and not STOPPING:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            break
        for i, at in list(retry_at.items()):
            if at <= now:
                del retry_at[i]
                try:
                    pending[i] = [start_connect(nodes[i][0], nodes[i][1], timeout), None]
                except Exception:
                    retry_at[i] = now + retry
        readers, writers = [], []
        for i, (conn, cur) in list(pending.items()):
            try:
                state = conn.poll()
                if state == ext.POLL_OK and cur is None:
                    # connected: ask whether it is a primary
                    cur = conn.cursor()
                    cur.execute("SELECT pg_is_in_recovery()")
                    pending[i][1] = cur
                    state = conn.poll()
                if state == ext.POLL_OK:
                    if cur.fetchone()[0] is False:
                        chosen = i
                        break
                    raise psycopg2.OperationalError("in recovery")
            except Exception:
                close(conn)
                del pending[i]
                retry_at[i] = time.monotonic() + retry
                continue
            if state == ext.POLL_READ:
                readers.append(conn.fileno())
            elif state == ext.POLL_WRITE:
                writers.append(conn.fileno())
        if chosen is None:
            wait = min(left, 0.05)
            if readers or writers:
                select.select(readers, writers, [], wait)
            else:
                time.sleep(wait)
    result = (None, None)
    if chosen is not None:
        conn, cur = pending.pop(chosen)
        cur.close()
        result = (chosen, conn)
    for conn, _cur in pending.values():
        close(conn)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", required=True,
                    help="NAME=HOST:PORT,... in the order to report them")
    ap.add_argument("--ack-log", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--table", default="failover_bench_acks")
    ap.add_argument("--op-timeout", type=float, default=2.0,
                    help="client-side bound on each connect, query and commit (s)")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names, nodes = [], []
    for item in args.nodes.split(","):
        name, hostport = item.split("=", 1)
        host, port = hostport.rsplit(":", 1)
        names.append(name)
        nodes.append((host, int(port)))
    insert = "INSERT INTO %s (id) VALUES (%%s)" % args.table

    end = time.monotonic() + args.max_seconds
    acked = in_doubt = connects = 0
    next_id = 1
    conn, node = None, None
    with open(args.ack_log, "a", buffering=1) as ack:
        while not STOPPING and time.monotonic() < end and not os.path.exists(args.stop_file):
            if conn is None:
                node, conn = connect_writable(nodes, args.op_timeout)
                if conn is None:
                    continue
                connects += 1
            this_id = next_id
            next_id += 1
            try:
                execute(conn, insert, (this_id,), args.op_timeout)
            except Exception:
                in_doubt += 1
                close(conn)
                conn, node = None, None
                continue
            ack.write("%d\t%d\t%s\n" % (this_id, time.time_ns(), names[node]))
            acked += 1
    close(conn)
    sys.stderr.write("writer: acknowledged=%d in_doubt=%d connections=%d\n"
                     % (acked, in_doubt, connects))


if __name__ == "__main__":
    main()
