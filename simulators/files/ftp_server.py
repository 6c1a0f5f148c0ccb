"""Sources A and B's FTP delivery server, for tempolake's simulators and tests.

pyftpdlib (a mature, RFC-compliant server) serving one folder read-only to one user,
anonymous login off. Passive data ports are bound to the address the control connection
came in on (pyftpdlib does that by itself), so a server on 127.0.0.1 never listens
anywhere else. Started by servers.ts; prints one JSON line {"port": N} once listening.

The password comes from the TEMPOLAKE_FTP_PASSWORD environment variable, not argv, so it
does not show in `ps`. With --drop-after-bytes N the first download of each file is cut
after about N bytes (both connections reset), later downloads of it succeed: the
disconnect that a retrying client must heal.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

# e: cd, l: list, r: retrieve. Nothing that writes.
READ_ONLY_PERMS = "elr"


def reset_socket(channel):
    """Close with RST instead of FIN: the client sees a broken connection, not an end of file."""
    try:
        channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError):
        pass


class DroppingDTPHandler(DTPHandler):
    """Data channel that cuts the transfer its control channel marked for dropping."""

    drop_after_bytes = 0

    def _dropping(self):
        return getattr(self.cmd_channel, "drop_this_transfer", False)

    def use_sendfile(self):
        # sendfile() bypasses send(), where the byte limit is enforced.
        return False if self._dropping() else super().use_sendfile()

    def send(self, data):
        if not self._dropping():
            return super().send(data)
        if getattr(self, "_cut", False):
            return 0
        room = self.drop_after_bytes - self.tot_bytes_sent
        sent = super().send(data[: max(room, 0)]) if room > 0 else 0
        if self.tot_bytes_sent >= self.drop_after_bytes:
            self._cut = True
            # After this send() returns, so the IO loop is not inside this channel any more.
            self.ioloop.call_later(0, self._cut_connections)
        return sent

    def _cut_connections(self):
        cmd = self.cmd_channel
        cmd.drop_this_transfer = False
        reset_socket(self)
        reset_socket(cmd)
        cmd.close()


class SourceFTPHandler(FTPHandler):
    """Remembers which files were downloaded, so only a file's first download is cut."""

    served = set()
    drop_enabled = False
    drop_this_transfer = False

    def ftp_RETR(self, file):
        if self.drop_enabled and os.path.isfile(file):
            self.drop_this_transfer = file not in self.served
            self.served.add(file)
        return super().ftp_RETR(file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="folder served read-only")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--user", required=True)
    parser.add_argument("--drop-after-bytes", type=int, default=0, help="cut each file's first download after N bytes")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when the parent closes stdin (or dies)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()

    password = os.environ.get("TEMPOLAKE_FTP_PASSWORD")
    if not password:
        parser.error("TEMPOLAKE_FTP_PASSWORD must be set")

    import logging

    logging.basicConfig(level=args.log_level, format="[ftp] %(levelname)s %(message)s", stream=sys.stderr)

    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, password, os.path.abspath(args.root), perm=READ_ONLY_PERMS)

    handler = SourceFTPHandler
    handler.authorizer = authorizer
    handler.banner = "tempolake source simulator ready"
    handler.permit_foreign_addresses = False
    # pyftpdlib waits 3 s after a failed login against brute force; a simulator needs less.
    handler.auth_failed_timeout = 0.5
    if args.drop_after_bytes > 0:
        DroppingDTPHandler.drop_after_bytes = args.drop_after_bytes
        handler.dtp_handler = DroppingDTPHandler
        handler.drop_enabled = True

    server = FTPServer((args.host, args.port), handler)
    server.max_cons = 64

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            sys.stdin.buffer.read()
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch_stdin, daemon=True).start()

    print(json.dumps({"port": server.socket.getsockname()[1]}), flush=True)
    server.serve_forever(timeout=0.5, handle_exit=True)


if __name__ == "__main__":
    main()
