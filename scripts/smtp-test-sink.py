#!/usr/bin/env python3
"""An SMTP sink for cairn's notification tests (aiosmtpd), on 127.0.0.1.

Prints "ready" once it listens, then one JSON line per mail received:
{"mail_from", "rcpt_tos", "data", "login"}. No STARTTLS is offered. With --auth USER:PASS it
offers AUTH PLAIN/LOGIN over the plain connection and accepts only that pair; without it,
no AUTH. It stops by itself after --lifetime seconds (tests kill it sooner).
"""

import argparse
import json
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf-8", "replace"),
                    "login": login,
                }
            ),
            flush=True,
        )
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", help="USER:PASS accepted by AUTH PLAIN/LOGIN")
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()

    options = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        options = {
            "authenticator": authenticator,
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(Sink(), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        time.sleep(args.lifetime)
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
