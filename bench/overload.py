#!/usr/bin/python3
"""The `overload` check of bench/failover.sh: a primary with every client slot taken and its
machine's CPU saturated, which hadome must report (`overloaded`) and never fail over.

It connects to the node as ROLE (a role without superuser, so PostgreSQL's
superuser_reserved_connections stay free for the administrator, as in production) until the
server refuses another connection ("too many clients" or "remaining connection slots are
reserved"), and holds every connection it got. BUSY of them run a PL/pgSQL loop that only burns
CPU (nothing written, no memory grows), each bounded by statement_timeout = --seconds, so they
stop on their own even if this script is killed; the others stay idle.

After --seconds (or SIGTERM, or --stop-file) it closes everything it opened and prints one line
to stdout: "slots HELD busy BUSY refused 'REASON'". Every connect is bounded by connect_timeout.
Needs only Debian's python3-psycopg2.
"""
import argparse
import os
import signal
import sys
import threading
import time

import psycopg2

STOPPING = False


def on_signal(_signum, _frame):
    global STOPPING
    STOPPING = True


BURN = "DO $$ BEGIN LOOP PERFORM 1; END LOOP; END $$"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--role", required=True)
    parser.add_argument("--busy", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--max-slots", type=int, default=1000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    dsn = f"host=127.0.0.1 port={args.port} user={args.role} dbname=postgres connect_timeout=5"
    held = []
    refused = ""
    while len(held) < args.max_slots and not STOPPING:
        try:
            conn = psycopg2.connect(dsn)
        except psycopg2.OperationalError as error:
            refused = str(error).strip().splitlines()[-1] if str(error).strip() else "refused"
            break
        conn.autocommit = True
        held.append(conn)
    if not refused:
        print(f"did not reach the server's limit ({len(held)} connections held)", file=sys.stderr)
    timeout_ms = int(args.seconds * 1000)
    busy = held[: args.busy]
    for conn in busy:
        with conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {timeout_ms}")

    def burn(conn):
        try:
            with conn.cursor() as cursor:
                cursor.execute(BURN)
        except psycopg2.Error:
            pass  # its statement_timeout

    # One thread per busy connection: psycopg2's execute() waits for the loop, which ends only at
    # its statement_timeout.
    threads = [threading.Thread(target=burn, args=(conn,), daemon=True) for conn in busy]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not STOPPING:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        time.sleep(0.1)  # a poll interval under the deadline above
    print(f"slots {len(held)} busy {len(busy)} refused {refused!r}")
    sys.stdout.flush()
    # The busy backends end at their statement_timeout; the idle ones when their connection
    # closes. The process exits without waiting for the busy threads (daemon threads).
    for conn in held[args.busy :]:
        conn.close()
    os._exit(0)


if __name__ == "__main__":
    main()
