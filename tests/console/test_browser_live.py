"""Issue 17 items 4, 5, 7 in a real headless Chromium, on a desktop and a 390 px phone.

- Media: the customer sends a photo from /chat; the engineer sees it in the queue's last
  line and on the ticket page, and sends an image back, which the customer sees.
- The live desk: the queue's unread badge, the title badge and the notification when
  the customer writes; the customer-waiting countdown turning red once the reply limit
  passed; a suggested draft appearing without a reload and withdrawn once sent; the "/"
  menu (script lines first); keyboard shortcuts; an internal note and a tag.
- Phone layout: every console page of every role fits 390 px (``scrollWidth <=
  innerWidth``), the queue keeps its SLA column on screen, the reply box follows the
  conversation.

The app is the real one on a loopback port in a thread (as `test_browser`), on SQLite
and (with ``AFTERSALES_TEST_PG_URL``) PostgreSQL, migrating at start; its clock
starting Monday 2026-11-23 10:00 Shanghai and running in real time, moved forward by
the test where a deadline has to pass.  Screenshots go under the test's tmp_path.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.accounts import NewAccount, create_account
from storage.db import make_engine
from tests.console.browser_support import MovableClock, serve_app
from tests.console.conftest import FALSE_POSITIVE_SESSION, MONDAY_10, seed_session
from tests.console.test_browser import (
    WAIT_MS,
    LiveApp,
    new_context,
    playwright_sync,
    sign_in,
)

DESKTOP = (1366, 900)
PHONE = (390, 844)
SIZES = {"desktop": DESKTOP, "phone": PHONE}
SEEDED = "PS-20261120-0003"
ADMIN = ("admin", "admin-pass-2026")
PASSWORDS = {
    "engineer": ("zhangsan", "demo1818"),
    "qa": ("qa", "demo7001"),
    "manager": ("manager", "demo9001"),
    "admin": ADMIN,
}

# A Notification the page may use, recording what it shows (the real one needs a
# user's permission prompt that a headless browser cannot answer).
NOTIFICATION_STUB = """
window.__notes = [];
window.Notification = function (title, options) {
  window.__notes.push({ title: title, body: (options || {}).body || "" });
};
window.Notification.permission = "granted";
window.Notification.requestPermission = function () { return Promise.resolve("granted"); };
"""
FITS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (the browser must be able to draw it)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(MONDAY_10)


@pytest.fixture
def live(live_db_url: str, tmp_path: Path, clock: MovableClock) -> Iterator[LiveApp]:
    """The shared live app (`browser_support.serve_app`) with a media directory and an
    admin account, on SQLite and PostgreSQL (`live_db_url`)."""
    environ = {"AFTERSALES_MEDIA_DIR": str(tmp_path / "media")}
    with serve_app(live_db_url, clock, instance_id="browser-live", environ=environ) as app:
        engine = make_engine(live_db_url)
        with Session(engine) as session:
            create_account(session, NewAccount(ADMIN[0], "admin", ADMIN[1], "系统管理员"))
            session.commit()
        engine.dispose()
        yield app


def fits(page: Any, where: str) -> None:
    scroll, inner = page.evaluate(FITS)
    assert scroll <= inner, f"{where}: {scroll} px wide in a {inner} px window"


def drawn(page: Any, selector: str, width: int) -> None:
    """Wait until the image is loaded and drawn at its own width (not a broken icon)."""
    page.wait_for_function(
        "([sel, w]) => { const img = document.querySelector(sel);"
        " return img && img.complete && img.naturalWidth === w; }",
        arg=[selector, width],
        timeout=WAIT_MS,
    )


def snap(page: Any, shots: Path, name: str) -> None:
    """The whole page, and what the screen shows (the part a person sees first)."""
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.screenshot(path=str(shots / f"{name}-screen.png"))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_media_and_the_live_desk(
    live: LiveApp, browser: Any, clock: MovableClock, tmp_path: Path, size: str
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    shots = tmp_path / "shots"
    width, height = SIZES[size]
    base = live.base_url

    # -- the engineer waits at the queue, reminders on ----------------------------------
    engineer_context = new_context(browser, width, height)
    engineer_context.add_init_script(NOTIFICATION_STUB)
    engineer = sign_in(engineer_context, base, "zhangsan", "demo1818")
    engineer.get_by_role("button", name="开启声音和桌面提醒").click()
    expect(engineer.locator("#desk-alerts")).to_have_attribute("aria-pressed", "true")

    # -- the customer writes, then sends a photo from the phone ---------------------------
    customer = new_context(browser, *PHONE).new_page()
    customer.goto(f"{base}/chat")
    customer.get_by_label(re.compile("请描述您的问题")).fill("服务器开不了机了")
    customer.get_by_role("button", name="发送").click()
    expect(customer.locator("#chat-log")).to_contain_text("工号1818")
    photo = png(48, 32, (200, 40, 40))
    customer.locator("#chat-file").set_input_files(
        files=[{"name": "告警灯.png", "mimeType": "image/png", "buffer": photo}]
    )
    sent_photo = customer.locator("#chat-log .msg--customer img")
    expect(sent_photo).to_be_visible()
    drawn(customer, "#chat-log .msg--customer img", 48)
    fits(customer, "/chat")
    snap(customer, shots, f"{size}-01-customer-sent-photo")

    # -- the queue: the row, its unread badge, last line, waiting clock; title and notice ---
    row = engineer.locator("#queue-rows tr[data-ticket]")
    expect(row).to_have_count(1)
    number = row.get_attribute("data-ticket")
    assert number
    expect(row.locator(".unread")).to_have_text(re.compile(r"^2"))
    expect(row.locator(".queue__last")).to_contain_text("[图片] 告警灯.png")
    expect(row.locator(".waiting")).to_contain_text(re.compile("回复客户：剩余"))
    expect(engineer).to_have_title(re.compile(r"^\(2\) "))
    notes = engineer.evaluate("() => window.__notes")
    assert notes and "新的客户消息" in notes[0]["body"]
    sla_cell = row.locator(".sla-cell")
    expect(sla_cell).to_be_visible()
    box = sla_cell.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    fits(engineer, "queue")
    snap(engineer, shots, f"{size}-02-queue-unread-waiting")

    # The reply limit passes: the countdown turns red by itself.
    clock.advance(seconds=70)
    expect(row.locator(".waiting.sla--breached")).to_contain_text("已超时")
    snap(engineer, shots, f"{size}-03-queue-waiting-breached")

    # -- the ticket page: the photo in the transcript, the red waiting clock ----------------
    row.get_by_role("link", name=number).click()
    expect(engineer.get_by_role("heading", name=re.compile(f"工单 {number}"))).to_be_visible()
    image = engineer.locator("#log .msg--customer img")
    expect(image).to_be_visible()
    drawn(engineer, "#log .msg--customer img", 48)
    expect(engineer.locator("#waiting .waiting")).to_have_class(re.compile("sla--breached"))
    snap(engineer, shots, f"{size}-03b-ticket-photo-waiting-breached")
    engineer.get_by_role("button", name="受理", exact=True).click()
    expect(engineer.locator("#ticket-status")).to_have_text("处理中")

    # -- the engineer sends an image back; the customer sees it ------------------------------
    engineer.locator("#attach-input").set_input_files(
        files=[
            {"name": "接线图.png", "mimeType": "image/png", "buffer": png(30, 20, (20, 90, 200))}
        ]
    )
    expect(engineer.locator("#attach-status")).to_have_text("已发送")
    expect(engineer.locator("#log .msg--agent img")).to_be_visible()
    expect(customer.locator("#chat-log .msg--agent img")).to_be_visible()
    expect(engineer.locator("#waiting")).to_contain_text("客户无待回复消息")
    snap(customer, shots, f"{size}-04-customer-got-image")

    # -- a complaint: the suggested draft appears live, and goes once sent ------------------
    customer.get_by_label(re.compile("请描述您的问题")).fill("你们这服务太差了，我要投诉")
    customer.get_by_role("button", name="发送").click()
    suggested = engineer.locator("#drafts button[data-text]")
    expect(suggested).to_have_count(1)
    expect(suggested).to_contain_text("建议：")
    expect(engineer.locator("#waiting .waiting")).to_contain_text("回复客户")
    snap(engineer, shots, f"{size}-05-draft-offered-live")
    engineer.keyboard.press("Alt+1")
    draft = engineer.locator("#draft")
    expect(draft).not_to_have_value("")
    engineer.get_by_role("button", name="发送", exact=True).click()
    expect(suggested).to_have_count(0)

    # -- "/" searches the script lines first, then the common replies ------------------------
    draft.fill("/")
    options = engineer.locator("#canned-list button")
    expect(options.first).to_contain_text("话术 ·")
    draft.fill("/序列号")
    expect(options).to_have_count(1)
    draft.press("Enter")
    expect(draft).to_have_value(re.compile("序列号（SN）"))
    expect(engineer.locator("#canned")).to_be_hidden()

    # -- shortcuts, an internal note and a tag ----------------------------------------------
    engineer.locator("h1").click()
    engineer.keyboard.press("?")
    expect(engineer.locator("#shortcuts dl")).to_be_visible()
    expect(engineer.locator("#shortcuts")).to_contain_text("Ctrl")
    engineer.keyboard.press("Alt+n")
    expect(engineer.locator("#note-input")).to_be_focused()
    engineer.keyboard.type("客户机房在三楼，上门需预约")
    engineer.get_by_role("button", name="保存备注").click()
    expect(engineer.locator("#notes")).to_contain_text("客户机房在三楼")
    engineer.get_by_label("新标签").fill("重要客户")
    engineer.get_by_role("button", name="添加").click()
    expect(engineer.locator("#tags")).to_contain_text("重要客户")
    engineer.keyboard.press("Alt+r")
    expect(draft).to_be_focused()
    # The note never reaches the customer.
    expect(customer.locator("#chat-log")).not_to_contain_text("三楼")

    # -- phone: nothing wider than the screen; the reply box right after the conversation ---
    fits(engineer, "ticket page")
    if size == "phone":
        gap = engineer.evaluate(
            """() => document.getElementById('draft').getBoundingClientRect().top
                   - document.getElementById('log').getBoundingClientRect().bottom"""
        )
        assert 0 < gap < 400, f"the reply box is {gap} px below the conversation"
    snap(engineer, shots, f"{size}-06-ticket-notes-tags")


def _pages(role: str, number: str, message_id: int) -> list[str]:
    ticket = [f"/console/tickets/{number}", "/console/queue", "/console/duty"]
    qa = [
        "/console/qa",
        "/console/qa/findings",
        "/console/qa/false-positives",
        "/console/qa/exemplars",
        f"/console/qa/sessions/{SEEDED}",
    ]
    return {
        "engineer": [*ticket, f"/console/tickets/{number}/lines/{message_id}"],
        "qa": qa,
        "manager": [*ticket, *qa, "/console/manager"],
        "admin": [*ticket, *qa, "/console/manager", "/console/admin/users"],
    }[role]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_console_page_fits_the_screen_for_every_role(
    live: LiveApp, browser: Any, tmp_path: Path, size: str
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=WAIT_MS)
    width, height = SIZES[size]
    shots = tmp_path / "shots"
    live.call(
        seed_session(
            live.services,
            SEEDED,
            FALSE_POSITIVE_SESSION,
            start=datetime.fromisoformat("2026-11-20T10:00:00+08:00"),
        )
    )
    customer = new_context(browser, *PHONE).new_page()
    customer.goto(f"{live.base_url}/chat")
    customer.get_by_label(re.compile("请描述您的问题")).fill("服务器开不了机了，型号 R740")
    customer.get_by_role("button", name="发送").click()
    expect(customer.locator("#chat-log")).to_contain_text("工号1818")
    detail = live.call(live.services.views.list_tickets(status="active"))
    number = detail[0]["number"]
    lines = live.call(live.services.views.ticket(number))["messages"]
    # The greeting's delivery page (an agent line).
    message_id = next(m["id"] for m in lines if m["role"] == "agent")

    login = new_context(browser, width, height).new_page()
    login.goto(f"{live.base_url}/console/login")
    fits(login, "login")
    for role, (username, password) in PASSWORDS.items():
        page = sign_in(new_context(browser, width, height), live.base_url, username, password)
        if role != "engineer":
            page.goto(f"{live.base_url}/console/qa")
            page.get_by_role("button", name="运行质检").click()
            expect(page.locator("main .notice--ok")).to_contain_text("质检已完成")
        for path in _pages(role, number, message_id):
            response = page.goto(f"{live.base_url}{path}")
            assert response is not None and response.status == 200, (role, path)
            page.wait_for_load_state("networkidle")
            fits(page, f"{role} {path}")
            name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
            snap(page, shots, f"{size}-{role}-{name}")
        if role in ("engineer", "manager"):
            page.goto(f"{live.base_url}/console/queue")
            cell = page.locator(f'#queue-rows tr[data-ticket="{number}"] .sla-cell')
            expect(cell).to_contain_text("受理")
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, (role, box)
