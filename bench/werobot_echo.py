"""The benchmark's peer: WeRoBot on wsgiref, echoing each text message (encrypted).

It does what every WeChat webhook must do and nothing more — signature check, AES
decrypt, XML parse, encrypted passive reply — so `bench/bench_wechat.py` can say how
far `aftersales serve`, which also stores, deduplicates, opens tickets and renders
the greeting, is from the bare protocol cost.  WeRoBot is in the `bench` extra:

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/werobot_echo.py --port 8099 --token T --aes-key K --app-id A
"""

from __future__ import annotations

import argparse
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from werobot import WeRoBot


class Server(WSGIServer):
    # wsgiref's default backlog of 5 drops connections at concurrency 8, and each dropped
    # SYN costs the client a one-second retransmit: that would measure the backlog.
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="WeRoBot echo peer for the WeChat benchmark")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes-key", required=True)
    parser.add_argument("--app-id", required=True)
    args = parser.parse_args()
    robot = WeRoBot(
        token=args.token,
        encoding_aes_key=args.aes_key,
        app_id=args.app_id,
        enable_session=False,
    )

    @robot.text
    def echo(message: Any) -> str:
        return str(message.content)

    server = make_server(
        "127.0.0.1", args.port, robot.wsgi, server_class=Server, handler_class=QuietHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
