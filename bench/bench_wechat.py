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
from bot.channels.testing.wechat import SignedRequest  # noqa: E402
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
    bodies: dict[int, tuple[int, str, int, str]] = field(default_factory=dict)
    sent: int = 0
    elapsed_s: float = 0.0
    server_cpu_s: float | None = None
    late: int = 0


@dataclass(frozen=True)
class Prepared:
    """One message's two deliveries, signed and encrypted before the clock starts."""

    n: int
    first: SignedRequest
    again: SignedRequest
    content: str


def prepare(wechat: WeChatCallbacks, messages: int, customers: int) -> list[Prepared]:
    prepared = []
    for n in range(messages):
        openid = f"oBench{n % customers:06d}xxxxxxxxxxxxxxxx"
        content = f"第{n}条：服务器硬盘告警，RAID 降级"
        xml = wechat.text_xml(openid, content, 9_000_000_000 + n)
        prepared.append(
            Prepared(n, wechat.request(xml, "safe"), wechat.request(xml, "safe"), content)
        )
    return prepared


async def post(
    http: aiohttp.ClientSession, url: str, signed: SignedRequest
) -> tuple[float, int, str]:
    started = time.perf_counter()
    async with http.post(url, params=signed.params, data=signed.body) as response:
        body = await response.text()
    return (time.perf_counter() - started) * 1000, response.status, body


async def play_wechat(
    urls: list[str], prepared: list[Prepared], concurrency: int, deadline: float
) -> Results:
    """Deliver every message twice, at most `concurrency` in flight.

    With several servers (processes behind a load balancer) the redelivery goes to the
    next one, as a balancer would send WeChat's retry anywhere.
    """
    results = Results()
    queue: asyncio.Queue[Prepared] = asyncio.Queue()
    for item in prepared:
        queue.put_nowait(item)

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            first_url = urls[item.n % len(urls)]
            again_url = urls[(item.n + 1) % len(urls)]
            first_ms, first_status, first_body = await post(http, first_url, item.first)
            again_ms, again_status, again_body = await post(http, again_url, item.again)
            results.sent += 1
            results.first_ms.append(first_ms)
            results.redelivery_ms.append(again_ms)
            results.bodies[item.n] = (first_status, first_body, again_status, again_body)

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    results.elapsed_s = time.perf_counter() - started
    return results


def check_answers(
    wechat: WeChatCallbacks, prepared: list[Prepared], results: Results, *, echo: bool
) -> None:
    """After the clock: every answer 200 and decryptable, both deliveries alike."""
    by_n = {item.n: item for item in prepared}
    for n, (first_status, first_body, again_status, again_body) in sorted(results.bodies.items()):
        if (first_status, again_status) != (200, 200):
            results.problems.append(f"msg {n}: status {first_status}/{again_status}")
            continue
        try:
            replies = [
                wechat.open_reply(body).get("Content", "") if body != "success" else ""
                for body in (first_body, again_body)
            ]
        except Exception as exc:  # a reply we cannot open is the finding, not a crash
            results.problems.append(f"msg {n}: reply could not be decrypted ({exc})")
            continue
        if echo:
            if replies != [by_n[n].content] * 2:
                results.problems.append(f"msg {n}: the echo differs from the message")
        elif first_body == "success" and again_body != "success":
            # The first answer came at the reply budget; the lines were then taken by
            # the redelivery's passive reply or by custom/send (the database check
            # below says none went both ways and none was lost).
            results.late += 1
        elif replies[0] != replies[1]:
            results.problems.append(f"msg {n}: redelivery answered differently")


def summarise(results: Results) -> dict[str, object]:
    requests = 2 * results.sent
    elapsed = results.elapsed_s
    return {
        "messages": results.sent,
        "requests": requests,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed, 1) if elapsed else None,
        "first_p50_ms": round(percentile(results.first_ms, 0.50), 1),
        "first_p99_ms": round(percentile(results.first_ms, 0.99), 1),
        "redelivery_p50_ms": round(percentile(results.redelivery_ms, 0.50), 1),
        "redelivery_p99_ms": round(percentile(results.redelivery_ms, 0.99), 1),
        "p99_ms": round(percentile(results.first_ms + results.redelivery_ms, 0.99), 1),
        "mean_ms": round(statistics.fmean(results.first_ms + results.redelivery_ms), 1)
        if results.sent
        else None,
        "server_cpu_ms_per_request": round(1000 * results.server_cpu_s / requests, 2)
        if results.server_cpu_s is not None and requests
        else None,
        "answered_at_budget": results.late,
        "problems": results.problems[:20],
    }


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


def start_werobot(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(REPO / "bench" / "werobot_echo.py"),
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--aes-key",
        AES_KEY,
        "--app-id",
        APP_ID,
    ]
    log = log_path.open("wb")
    return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)


async def wait_for_port(port: int, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the peer exited with status {server.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the peer did not listen within {timeout_s:g}s")


def cpu_seconds(server: subprocess.Popen[bytes]) -> float | None:
    """User + system CPU time the server process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()


async def run_werobot(
    wechat: WeChatCallbacks, prepared: list[Prepared], args: argparse.Namespace, tmp: Path
) -> Results:
    port = free_port()
    server = start_werobot(port, tmp / "werobot.log")
    try:
        await wait_for_port(port, server, timeout_s=30)
        before = cpu_seconds(server)
        deadline = time.monotonic() + args.max_seconds
        results = await play_wechat(
            [f"http://127.0.0.1:{port}/"], prepared, args.concurrency, deadline
        )
        after = cpu_seconds(server)
        if before is not None and after is not None:
            results.server_cpu_s = after - before
    finally:
        stop(server)
    check_answers(wechat, prepared, results, echo=True)
    return results


def check_database(
    db_url: str, expected_messages: int, expected_tickets: int, pushed: int
) -> list[str]:
    """One stored message per MsgId, one ticket per customer, and every answering line
    handed over exactly once: passively (answered) or by custom/send (sent, as many
    as the fake API received) — none left pending or in doubt."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as db:
            stored = db.scalar(text("SELECT count(*) FROM messages WHERE role = 'customer'"))
            tickets = db.scalar(text("SELECT count(*) FROM tickets"))
            statuses = dict(
                db.execute(
                    text(
                        "SELECT coalesce(delivery_status, 'pending'), count(*) FROM messages "
                        "WHERE role <> 'customer' GROUP BY 1"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    problems = []
    undelivered = {k: v for k, v in statuses.items() if k not in ("answered", "sent")}
    if undelivered:
        problems.append(f"answering lines not handed over: {undelivered}")
    if statuses.get("sent", 0) != pushed:
        problems.append(f"{pushed} custom/send calls for {statuses.get('sent', 0)} sent lines")
    if stored != expected_messages:
        problems.append(f"{stored} customer messages stored, expected {expected_messages}")
    if tickets != expected_tickets:
        problems.append(f"{tickets} tickets, expected {expected_tickets}")
    return problems


async def run_aftersales(
    wechat: WeChatCallbacks,
    prepared: list[Prepared],
    args: argparse.Namespace,
    db_url: str,
    tmp: Path,
) -> Results:
    fake_runner, fake, api_base = await start_fake_api()
    ports = [free_port() for _ in range(args.processes)]
    servers = [
        start_server(db_url, port, api_base, tmp / f"serve-{i}.log") for i, port in enumerate(ports)
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            await wait_until_up(f"http://127.0.0.1:{port}", server, timeout_s=60)
        before = [cpu_seconds(server) for server in servers]
        deadline = time.monotonic() + args.max_seconds
        urls = [f"http://127.0.0.1:{port}/wechat" for port in ports]
        results = await play_wechat(urls, prepared, args.concurrency, deadline)
        after = [cpu_seconds(server) for server in servers]
        used = [
            a - b for a, b in zip(after, before, strict=True) if a is not None and b is not None
        ]
        if len(used) == len(servers):
            results.server_cpu_s = sum(used)
    finally:
        for server in servers:
            stop(server)
        await fake_runner.cleanup()
    check_answers(wechat, prepared, results, echo=False)
    results.problems += check_database(
        db_url, results.sent, min(args.customers, results.sent), len(fake.sent)
    )
    if fake.sent and not results.late:
        results.problems.append("the passive replies should need no WeChat API call")
    if results.problems:
        for i in range(args.processes):
            tail = (tmp / f"serve-{i}.log").read_text(errors="replace")[-2000:]
            print(f"serve {i} log tail:\n{tail}", file=sys.stderr)
    return results


async def main_async(args: argparse.Namespace) -> int:
    wechat = WeChatCallbacks(TOKEN, AES_KEY, APP_ID, account="gh_bench")
    prepared = prepare(wechat, args.messages, args.customers)
    summary: dict[str, object] = {
        "concurrency": args.concurrency,
        "customers": min(args.customers, args.messages),
        "database": "postgresql (temp schema)" if args.pg else "sqlite (temp file)",
        "serve_processes": args.processes,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    failed = False
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-wechat-")))
        if args.pg:
            # A fresh schema of the given database, dropped afterwards.
            db_url = stack.enter_context(temporary_pg_schema(args.pg))
        else:
            db_url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        peer = None
        if args.peer:
            # The peer first, then ours, in the same run over the same encrypted bytes.
            peer = await run_werobot(wechat, prepared, args, tmp)
            summary["werobot_echo"] = summarise(peer)
            failed |= bool(peer.problems)
        ours = await run_aftersales(wechat, prepared, args, db_url, tmp)
        summary["aftersales"] = summarise(ours)
        failed |= bool(ours.problems)
    if peer is not None and peer.elapsed_s and ours.elapsed_s:
        ours_rps = 2 * ours.sent / ours.elapsed_s
        peer_rps = 2 * peer.sent / peer.elapsed_s
        summary["ratio_vs_werobot"] = round(ours_rps / peer_rps, 2)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 1 if failed else 0


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
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="serve processes sharing the database (more than one needs --pg)",
    )
    parser.add_argument(
        "--no-peer",
        dest="peer",
        action="store_false",
        help="skip the WeRoBot echo peer (it needs the bench extra)",
    )
    args = parser.parse_args()
    if args.processes > 1 and not args.pg:
        parser.error("several serve processes share a PostgreSQL database: give --pg URL")
    if args.processes < 1 or args.messages < 1 or args.customers < 1 or args.concurrency < 1:
        parser.error("--processes, --messages, --customers and --concurrency must be positive")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
