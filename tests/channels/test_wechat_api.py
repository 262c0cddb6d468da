"""The async WeChat API client against the recording fake: retries, timeouts, errcodes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pytest_aiohttp.plugin import AiohttpServer

from bot.channels.testing import FakeWeChatApi, Scripted
from bot.channels.wechat_api import ApiUnavailable, RetryPolicy, SendOutcomeUnknown, WeChatApi

SEND = "/cgi-bin/message/custom/send"
TOKEN = "/cgi-bin/stable_token"


@pytest.fixture
async def fake_api(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[FakeWeChatApi, str]]:
    fake = FakeWeChatApi()
    server = await aiohttp_server(fake.app())
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _api(
    http: aiohttp.ClientSession,
    base: str,
    sleeps: list[float],
    *,
    timeout_s: float = 2.0,
    attempts: int = 3,
) -> WeChatApi:
    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(timeout_s=timeout_s, attempts=attempts, backoff_s=0.1)
    return WeChatApi(http, base, policy, sleep=record_sleep)


async def test_stable_token_posts_the_documented_body(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession
) -> None:
    fake, base = fake_api
    token = await _api(http, base, []).stable_token("wxapp", "s3cret")
    assert (token.access_token, token.expires_in) == ("TOKEN-1", 7200)
    assert [call.body for call in fake.token_calls] == [
        {
            "grant_type": "client_credential",
            "appid": "wxapp",
            "secret": "s3cret",
            "force_refresh": False,
        }
    ]


async def test_send_text_is_utf8_json_with_the_token_in_the_query(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession
) -> None:
    fake, base = fake_api
    api = _api(http, base, [])
    token = await api.stable_token("wxapp", "s")
    answer = await api.send_text(token.access_token, "oCust", "您好，工单已受理")
    assert answer.ok
    (call,) = fake.calls_to(SEND)
    assert call.params["access_token"] == "TOKEN-1"
    assert call.body == {
        "touser": "oCust",
        "msgtype": "text",
        "text": {"content": "您好，工单已受理"},
    }


FAILURES = [Scripted(status=502), Scripted(status=503), Scripted(errcode=-1)]


@pytest.mark.parametrize("failure", FAILURES)
async def test_transient_failures_of_a_read_are_retried_with_backoff(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession, failure: Scripted
) -> None:
    fake, base = fake_api
    fake.fail_next(TOKEN, failure, failure)
    sleeps: list[float] = []
    token = await _api(http, base, sleeps).stable_token("wxapp", "s")
    assert token.access_token == "TOKEN-1"
    assert len(fake.token_calls) == 3
    assert sleeps == [0.1, 0.2]


@pytest.mark.parametrize("failure", [*FAILURES, Scripted(delay_s=0.5)])
async def test_a_send_whose_outcome_is_unknown_is_never_repeated(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession, failure: Scripted
) -> None:
    fake, base = fake_api
    fake.fail_next(SEND, failure)
    sleeps: list[float] = []
    with pytest.raises(SendOutcomeUnknown, match="message/custom/send"):
        await _api(http, base, sleeps, timeout_s=0.2).send_text("T", "oCust", "进度更新")
    assert len(fake.calls_to(SEND)) == 1
    assert sleeps == []


async def test_attempts_are_bounded(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession
) -> None:
    fake, base = fake_api
    fake.fail_next(TOKEN, *[Scripted(status=500)] * 5)
    sleeps: list[float] = []
    with pytest.raises(ApiUnavailable, match="3 attempts failed, last: HTTP 500"):
        await _api(http, base, sleeps).stable_token("wxapp", "s")
    assert len(fake.token_calls) == 3
    assert sleeps == [0.1, 0.2]


async def test_a_send_that_cannot_connect_is_retried_and_then_unavailable(
    http: aiohttp.ClientSession,
) -> None:
    # Nothing listens on loopback port 9: the request never left, so repeating is safe.
    sleeps: list[float] = []
    with pytest.raises(ApiUnavailable, match="2 attempts failed"):
        await _api(http, "http://127.0.0.1:9", sleeps, attempts=2).send_text("T", "oCust", "x")
    assert sleeps == [0.1]


@pytest.mark.parametrize("errcode", [45015, 45047, 40001, 43004, 40003])
async def test_answers_are_not_retried(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession, errcode: int
) -> None:
    fake, base = fake_api
    fake.fail_next(SEND, Scripted(errcode=errcode))
    sleeps: list[float] = []
    answer = await _api(http, base, sleeps).send_text("T", "oCust", "x")
    assert answer.errcode == errcode
    assert not answer.ok
    assert len(fake.calls_to(SEND)) == 1
    assert sleeps == []


async def test_a_slow_answer_times_out_and_is_retried(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession
) -> None:
    fake, base = fake_api
    fake.fail_next(TOKEN, Scripted(delay_s=0.5))
    sleeps: list[float] = []
    api = _api(http, base, sleeps, timeout_s=0.1)
    token = await api.stable_token("wxapp", "s")
    assert token.access_token == "TOKEN-1"
    assert len(sleeps) == 1


async def test_an_unreachable_api_is_unavailable(http: aiohttp.ClientSession) -> None:
    sleeps: list[float] = []
    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    api = _api(http, "http://127.0.0.1:9", sleeps, attempts=2)
    with pytest.raises(ApiUnavailable, match="2 attempts failed"):
        await api.stable_token("wxapp", "s")
    assert sleeps == [0.1]


async def test_a_refused_token_request_is_unavailable(
    fake_api: tuple[FakeWeChatApi, str], http: aiohttp.ClientSession
) -> None:
    fake, base = fake_api
    fake.fail_next(TOKEN, Scripted(errcode=40013))
    with pytest.raises(ApiUnavailable, match="errcode 40013"):
        await _api(http, base, []).stable_token("wxbad", "s")


def test_retry_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="timeout_s"):
        RetryPolicy(timeout_s=0)
    assert RetryPolicy(backoff_s=1, max_backoff_s=3).delay(5) == 3
