"""Reference bridge for 千牛 / 京麦: posts chat events to the bot and types its lines.

Run on the shop's PC, next to 千牛 or 京麦::

    AFTERSALES_BRIDGE_SECRET=… python -m bot.channels.bridge_client \\
        --url https://aftersales.example.com --key-id shop-pc-1 \\
        --inbox inbox.jsonl --outbox outbox.jsonl --journal journal.jsonl

This file depends on nothing but Python 3.11's standard library, so a shop
can copy it alone and adapt it.  What it does not do is read or drive the
chat window: that is the *adapter*'s job, and every shop's is different
(UI automation, the vendor's plug-in interface …).  The reference adapter,
`FileAdapter`, exchanges files with such a tool: it reads the events the
tool appends to ``--inbox`` (one JSON event per line, the format of
``docs/bridge.md``) and appends each line to type to ``--outbox``.  Replace
`FileAdapter` with a class of the same two methods to talk to the chat
directly.

The bridge's side of the contract (``docs/bridge.md``):

- every request is signed (HMAC-SHA256 over method, path, timestamp, nonce
  and the body's SHA-256; a fresh nonce each time);
- an event is posted until the bot answers 2xx; a refusal (4xx other than
  401, 408, 429) is logged, journalled and dropped, never retried; an event
  the bot fails on (5xx) is tried again next round after the events behind
  it, so one bad event never holds the queue (the event_id makes a resend
  harmless);
- a command is acted on at most once: its id goes into the journal before
  the adapter types it, so after a crash — or when the bot offers the same
  command again because its result never arrived — the journal answers:
  the recorded result, or ``unknown`` for one that was being typed when the
  bridge stopped.  ``unknown`` is never retried: the customer may have the
  line already.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("bridge_client")

API_PREFIX = "/bridge/v1"
FINAL_RESULTS = frozenset({"submitted", "confirmed", "unknown", "rejected"})
# Refusals that may pass on their own (not authenticated: clock skew or a nonce clash;
# timeout; rate limit): the event is posted again next round.  Any other 4xx is final.
RETRIED = frozenset({401, 408, 429})


class BridgeUnavailable(Exception):
    """The bot could not be reached (network, timeout, 5xx): try again later."""


class BridgeServerError(BridgeUnavailable):
    """The bot answered 5xx: a fault on its side, with this request or at this moment."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------- signing --


def sign(secret: str, method: str, path_qs: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The ``X-Bridge-Signature`` of a request (must match the bot's, see docs/bridge.md)."""
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((method.upper(), path_qs, timestamp, nonce, digest)).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class BridgeHttp:
    """Signed JSON requests to the bot."""

    base_url: str
    key_id: str
    secret: str
    timeout_s: float = 40.0
    clock: Callable[[], float] = time.time

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer); `BridgeUnavailable` when there is no usable answer."""
        path_qs = path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = b"" if body is None else _encode(body)
        timestamp = str(int(self.clock()))
        nonce = secrets.token_urlsafe(24)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Bridge-Key-Id": self.key_id,
            "X-Bridge-Timestamp": timestamp,
            "X-Bridge-Nonce": nonce,
            "X-Bridge-Signature": sign(self.secret, method, path_qs, timestamp, nonce, data),
        }
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path_qs,
            data=data if method.upper() != "GET" else None,
            headers=headers,
            method=method.upper(),
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                detail = _json(exc.read()).get("message", "")
                raise BridgeServerError(
                    f"{method} {path}: HTTP {exc.code} {detail}".rstrip(), exc.code
                ) from None
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise BridgeUnavailable(f"{method} {path}: {exc}") from None


def _encode(body: dict[str, Any]) -> bytes:
    """The body as UTF-8 JSON; one with a lone surrogate (from a ``\\ud800`` escape in
    the inbox) cannot be UTF-8, so it goes \\u-escaped and the bot refuses it by name."""
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body).encode("ascii")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"error": "not_json", "message": raw[:200].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"value": value}


# ------------------------------------------------------------------- journal --


@dataclass
class Journal:
    """What this bridge did, appended line by line (and flushed) before and after acting."""

    path: Path
    posted: dict[str, str] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    done: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)

    @classmethod
    def open(cls, path: Path) -> Journal:
        journal = cls(path)
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    journal._apply(json.loads(line))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    # A line cut short by a crash is the last one: nothing after it.
                    log.warning("%s:%d: unreadable journal line ignored", path, number)
        return journal

    def _apply(self, entry: dict[str, Any]) -> None:
        if "posted" in entry:
            self.posted[str(entry["posted"])] = str(entry.get("outcome", "ok"))
        elif "started" in entry:
            self.started.add(int(entry["started"]))
        elif "done" in entry:
            self.done[int(entry["done"])] = (str(entry["status"]), entry.get("detail"))
        elif "reported" in entry:
            self.reported.add(int(entry["reported"]))

    def record(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")  # ASCII: any event_id can be written
            handle.flush()
            os.fsync(handle.fileno())
        self._apply(entry)


# ------------------------------------------------------------------- adapters --


class Adapter(Protocol):
    """The chat side: what a shop replaces to read and drive 千牛 / 京麦."""

    def read_events(self) -> list[dict[str, Any]]:
        """Chat events seen since the bridge started (already posted ones are skipped)."""
        ...

    def send(self, command: dict[str, Any]) -> tuple[str, str | None]:
        """Type `command["text"]` into `command["conversation_id"]`; (status, detail).

        ``submitted`` (sent), ``confirmed`` (seen in the chat), ``rejected`` (certainly
        not sent) or ``unknown``.  Raising counts as ``unknown``.
        """
        ...


@dataclass
class FileAdapter:
    """Reference adapter: events from a JSONL inbox, lines to an outbox file."""

    inbox: Path
    outbox: Path

    def read_events(self) -> list[dict[str, Any]]:
        if not self.inbox.exists():
            return []
        events: list[dict[str, Any]] = []
        for number, line in enumerate(self.inbox.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                log.error("%s:%d: not JSON (%s); skipped", self.inbox, number, exc.msg)
                continue
            if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
                log.error("%s:%d: not an event with an event_id; skipped", self.inbox, number)
                continue
            events.append(event)
        return events

    def send(self, command: dict[str, Any]) -> tuple[str, str | None]:
        line = {
            "command_id": command["id"],
            "platform": command["platform"],
            "shop_id": command["shop_id"],
            "conversation_id": command["conversation_id"],
            "buyer_uid": command["buyer_uid"],
            "text": command["text"],
        }
        with self.outbox.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        return "submitted", "written to the outbox"


# --------------------------------------------------------------------- client --


@dataclass
class BridgeClient:
    """One bridge: posts events, pulls commands, acts on each at most once."""

    http: BridgeHttp
    adapter: Adapter
    journal: Journal
    limit: int = 10

    def post_events(self) -> int:
        """Post every event not posted yet, in order; the number accepted.

        One event never holds the others: a refusal (4xx) is logged, journalled and
        dropped — the bot said what is wrong with it, sending it again cannot help —
        and an event the bot failed on (5xx) is logged and tried again next round,
        after the events behind it have been posted.  Only an unreachable bot (network,
        timeout) ends the round."""
        accepted = 0
        for event in self.adapter.read_events():
            event_id = event["event_id"]
            if event_id in self.journal.posted:
                continue
            try:
                status, answer = self.http.request("POST", f"{API_PREFIX}/events", body=event)
            except BridgeServerError as exc:
                log.error("event %s: %s; tried again next round", event_id, exc)
                continue
            if 200 <= status < 300:
                self.journal.record({"posted": event_id})
                accepted += 1
            elif status in RETRIED:
                # Clock skew, a nonce clash, a rate limit: worth another try next round.
                log.warning("event %s: answered %d (%s); will retry", event_id, status, answer)
            else:
                reason = f"{answer.get('error', '')}: {answer.get('message', answer)}"
                log.error(
                    "event %s refused (%d) %s; dropped, not retried", event_id, status, reason
                )
                self.journal.record({"posted": event_id, "outcome": f"refused {status} {reason}"})
        return accepted

    def _report(self, command_id: int, status: str, detail: str | None) -> None:
        code, answer = self.http.request(
            "POST",
            f"{API_PREFIX}/commands/{command_id}/result",
            body={"status": status, "detail": detail},
        )
        if 200 <= code < 300 or code in (404, 409):
            # 409: the bot already has a result for it; 404: it is gone.
            if code >= 300:
                log.warning("result of command %d answered %d: %s", command_id, code, answer)
            self.journal.record({"reported": command_id})
        else:
            log.warning("result of command %d not taken (%d): %s", command_id, code, answer)

    def _act(self, command: dict[str, Any]) -> tuple[str, str | None]:
        command_id = int(command["id"])
        if command_id in self.journal.done:
            return self.journal.done[command_id]
        if command_id in self.journal.started:
            outcome: tuple[str, str | None] = (
                "unknown",
                "the bridge stopped while typing it; not typed again",
            )
        else:
            self.journal.record({"started": command_id})
            try:
                outcome = self.adapter.send(command)
            except Exception as exc:  # whatever the adapter hit, the customer may have it
                outcome = ("unknown", f"{type(exc).__name__}: {exc}")
            if outcome[0] not in FINAL_RESULTS:
                outcome = ("unknown", f"adapter answered {outcome[0]!r}")
        self.journal.record({"done": command_id, "status": outcome[0], "detail": outcome[1]})
        return outcome

    def handle_commands(self, wait_s: float) -> int:
        """Re-report unreported results, then poll once and act; the number of commands got."""
        for command_id, (result, detail) in sorted(self.journal.done.items()):
            if command_id not in self.journal.reported:
                self._report(command_id, result, detail)
        status, answer = self.http.request(
            "GET",
            f"{API_PREFIX}/commands",
            query={"wait": f"{wait_s:g}", "limit": self.limit},
            timeout_s=wait_s + 15,
        )
        if status != 200:
            log.error("poll refused (%d): %s", status, answer)
            return 0
        commands = answer.get("commands", [])
        for command in commands:
            outcome = self._act(command)
            self._report(int(command["id"]), *outcome)
        return len(commands)

    def run(self, *, once: bool, wait_s: float, pause_s: float = 2.0) -> None:
        """Post and poll; with `once`, one round (without waiting) and return."""
        while True:
            try:
                self.post_events()
                self.handle_commands(0 if once else wait_s)
            except BridgeUnavailable as exc:
                if once:
                    raise
                log.warning("bot unavailable: %s; retrying in %.0fs", exc, pause_s)
                time.sleep(pause_s)
            if once:
                return


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m bot.channels.bridge_client --help``)."""
    parser = argparse.ArgumentParser(
        prog="bridge_client",
        description="Reference 千牛/京麦 bridge: posts chat events to the after-sales bot "
        "and writes the lines it has to type (docs/bridge.md).",
    )
    parser.add_argument("--url", required=True, help="the bot's base URL")
    parser.add_argument("--key-id", required=True, help="this bridge's key id")
    parser.add_argument(
        "--secret-env",
        default="AFTERSALES_BRIDGE_SECRET",
        help="environment variable holding the key's secret (default %(default)s)",
    )
    parser.add_argument("--inbox", type=Path, required=True, help="JSONL file of chat events")
    parser.add_argument("--outbox", type=Path, required=True, help="file the lines go to")
    parser.add_argument("--journal", type=Path, required=True, help="this bridge's journal")
    parser.add_argument("--wait", type=float, default=20, help="long-poll seconds (≤ 25)")
    parser.add_argument("--limit", type=int, default=10, help="commands per poll (1–50)")
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        parser.error(f"set the key's secret in the environment variable {args.secret_env}")
    if not 0 <= args.wait <= 25 or not 1 <= args.limit <= 50:
        parser.error("--wait must be 0–25 and --limit 1–50")
    client = BridgeClient(
        http=BridgeHttp(args.url, args.key_id, secret),
        adapter=FileAdapter(args.inbox, args.outbox),
        journal=Journal.open(args.journal),
        limit=args.limit,
    )
    try:
        client.run(once=args.once, wait_s=args.wait)
    except BridgeUnavailable as exc:
        print(f"bridge_client: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
