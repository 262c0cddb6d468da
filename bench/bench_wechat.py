"""Benchmark: encrypted WeChat messages against `aftersales serve` on loopback.

Starts `aftersales serve` as a subprocess on a free port over a fresh SQLite
database (or a temporary schema of `--pg URL`), with a test token and EncodingAESKey, and the
recording fake of WeChat's API on loopback too.  Then it plays WeChat:
`--messages` safe-mode text messages with distinct MsgIds from `--customers`
customers, each delivered twice (the second delivery, like WeChat's retry,
right after the first answer), at most `--concurrency` in flight.

It prints throughput and p50/p99 latency of first deliveries and of
redeliveries, checks every answer (200, a decryptable passive reply, the same
reply for both deliveries) and that the database holds exactly one customer
message per MsgId and one ticket per customer.  Bounded by `--messages` and
`--max-seconds`; exit status 1 when a check fails.

    .venv/bin/python bench/bench_wechat.py --messages 400 --customers 100 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from bot.channels.testing import FakeWeChatApi, WeChatCallbacks  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.testing import temporary_pg_schema  # noqa: E402

TOKEN = "benchTOKEN2026"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wxbench000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Results:
    first_ms: list[float] = field(default_factory=list)
    redelivery_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sent: int = 0


async def start_fake_api() -> tuple[web.AppRunner, FakeWeChatApi, str]:
    fake = FakeWeChatApi()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, fake, f"http://127.0.0.1:{port}"


def start_server(db_url: str, port: int, api_base: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AFTERSALES_WECHAT_TOKEN": TOKEN,
        "AFTERSALES_WECHAT_AES_KEY": AES_KEY,
        "AFTERSALES_WECHAT_APPID": APP_ID,
        "AFTERSALES_WECHAT_SECRET": "bench-secret",
        "AFTERSALES_WECHAT_API_BASE": api_base,
    }
    command = [sys.executable, "-m", "bot.cli", "serve", "--db", db_url, "--port", str(port)]
    log = log_path.open("wb")
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_until_up(base: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"aftersales serve exited with status {server.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/chat") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"aftersales serve did not answer within {timeout_s:g}s")


async def deliver(
    http: aiohttp.ClientSession, url: str, wechat: WeChatCallbacks, xml: str
) -> tuple[float, int, str]:
    signed = wechat.request(xml, "safe")
    started = time.perf_counter()
    async with http.post(url, params=signed.params, data=signed.body) as response:
        body = await response.text()
    return (time.perf_counter() - started) * 1000, response.status, body


async def play_wechat(
    base: str, messages: int, customers: int, concurrency: int, deadline: float
) -> Results:
    wechat = WeChatCallbacks(TOKEN, AES_KEY, APP_ID, account="gh_bench")
    results = Results()
    url = f"{base}/wechat"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(messages):
        queue.put_nowait(n)

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            try:
                n = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            openid = f"oBench{n % customers:06d}xxxxxxxxxxxxxxxx"
            xml = wechat.text_xml(openid, f"第{n}条：服务器硬盘告警，RAID 降级", 9_000_000_000 + n)
            first_ms, first_status, first_body = await deliver(http, url, wechat, xml)
            again_ms, again_status, again_body = await deliver(http, url, wechat, xml)
            results.sent += 1
            results.first_ms.append(first_ms)
            results.redelivery_ms.append(again_ms)
            if (first_status, again_status) != (200, 200):
                results.problems.append(f"msg {n}: status {first_status}/{again_status}")
                continue
            replies = [
                wechat.open_reply(body).get("Content", "") if body != "success" else ""
                for body in (first_body, again_body)
            ]
            if replies[0] != replies[1]:
                results.problems.append(f"msg {n}: redelivery answered differently")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return results


def check_database(db_url: str, expected_messages: int, expected_tickets: int) -> list[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as db:
            stored = db.scalar(text("SELECT count(*) FROM messages WHERE role = 'customer'"))
            tickets = db.scalar(text("SELECT count(*) FROM tickets"))
    finally:
        engine.dispose()
    problems = []
    if stored != expected_messages:
        problems.append(f"{stored} customer messages stored, expected {expected_messages}")
    if tickets != expected_tickets:
        problems.append(f"{tickets} tickets, expected {expected_tickets}")
    return problems


async def main_async(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-wechat-"))
        if args.pg:
            # A fresh schema of the given database, dropped afterwards.
            db_url = stack.enter_context(temporary_pg_schema(args.pg))
        else:
            db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        fake_runner, fake, api_base = await start_fake_api()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db_url, port, api_base, Path(tmp) / "serve.log")
        try:
            await wait_until_up(base, server, timeout_s=60)
            deadline = time.monotonic() + args.max_seconds
            started = time.perf_counter()
            results = await play_wechat(
                base, args.messages, args.customers, args.concurrency, deadline
            )
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            await fake_runner.cleanup()
            log_tail = (Path(tmp) / "serve.log").read_text(errors="replace")[-2000:]
        results.problems += check_database(db_url, results.sent, min(args.customers, results.sent))
        if fake.token_calls or fake.sent:
            results.problems.append("the passive replies should need no WeChat API call")
    requests = 2 * results.sent
    summary = {
        "messages": results.sent,
        "requests": requests,
        "customers": min(args.customers, results.sent),
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed, 1) if elapsed else None,
        "first_p50_ms": round(percentile(results.first_ms, 0.50), 1),
        "first_p99_ms": round(percentile(results.first_ms, 0.99), 1),
        "redelivery_p50_ms": round(percentile(results.redelivery_ms, 0.50), 1),
        "redelivery_p99_ms": round(percentile(results.redelivery_ms, 0.99), 1),
        "mean_ms": round(statistics.fmean(results.first_ms + results.redelivery_ms), 1)
        if results.sent
        else None,
        "database": "postgresql (temp schema)" if args.pg else "sqlite (temp file)",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "problems": results.problems[:20],
    }
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if results.problems:
        print(f"server log tail:\n{log_tail}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400, help="distinct MsgIds (default 400)")
    parser.add_argument("--customers", type=int, default=100, help="distinct openids (default 100)")
    parser.add_argument("--concurrency", type=int, default=8, help="in flight (default 8)")
    parser.add_argument("--max-seconds", type=float, default=120, help="stop sending after this")
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="run on this PostgreSQL database (in a temporary schema) instead of SQLite",
    )
    args = parser.parse_args()
    if args.messages < 1 or args.customers < 1 or args.concurrency < 1:
        parser.error("--messages, --customers and --concurrency must be positive")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
