"""Full-text search on both databases: jieba words, kept in step on write, rebuildable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage import search
from storage.knowledge_models import SearchDocument, SolutionRecord
from storage.models import Direction, MessageRole, Ticket, TicketStatus
from storage.search_text import index_tokens, keywords, query_words, snippet
from tests.storage import factories
from tests.storage.factories import T0


def _find(session: Session, query: str, **options: object) -> list[search.Hit]:
    dialect = session.get_bind().dialect.name
    statement = search.search_statement(dialect, query_words(query), **options)  # type: ignore[arg-type]
    assert statement is not None
    return search.hits(session.execute(statement).all())


def _line(session: Session, ticket: Ticket, text: str, **overrides: object) -> int:
    message = factories.message(
        session, ticket=ticket, text=text, sent_at=T0 + timedelta(minutes=1), **overrides
    )
    return message.id


def test_words_are_cut_by_jieba_and_plain() -> None:
    assert index_tokens("服务器无法开机").split() == ["服务", "务器", "服务器", "无法", "开机"]
    assert query_words("RAID卡报错 PS-20261123-0007") == (
        "raid",
        "卡",
        "报错",
        "ps",
        "20261123",
        "0007",
    )
    assert "硬盘" in keywords("你好，我们的服务器硬盘灯一直闪红灯，阵列降级了")
    assert snippet("客户反馈服务器无法开机，电源灯不亮", ("开机",)) == (
        ("客户反馈服务器无法", False),
        ("开机", True),
        ("，电源灯不亮", False),
    )


def test_a_chinese_word_inside_a_sentence_is_found_only_after_segmentation(
    session: Session,
) -> None:
    ticket = factories.ticket(session)
    found = _line(session, ticket, "服务器无法开机，电源灯不亮")
    # The same sentence indexed as written (no jieba) is one token to FTS5 and to
    # PostgreSQL's parser alike: 开机 does not find it.
    other = factories.ticket(session)
    session.execute(
        insert(SearchDocument).values(
            kind="message",
            ref_id=-1,
            ticket_id=other.id,
            body="服务器无法开机",
            tokens="服务器无法开机",
            at=T0,
        )
    )
    hits = _find(session, "开机")
    assert [(h.kind, h.ref_id) for h in hits] == [("message", found)]
    assert [(h.kind, h.ref_id) for h in _find(session, "无法开机")] == [("message", found)]


def test_a_closed_ticket_and_its_summary_are_found(session: Session) -> None:
    ticket = factories.ticket(session, status=TicketStatus.CLOSED, summary="更换阵列卡电池")
    line = _line(session, ticket, "阵列卡告警灯常亮", role=MessageRole.CUSTOMER)
    hits = _find(session, "阵列卡")
    assert {(h.kind, h.ref_id) for h in hits} == {("ticket", ticket.id), ("message", line)}
    assert [h.kind for h in _find(session, ticket.number)] == ["ticket"]


def test_a_forgotten_customers_lines_leave_the_index(session: Session) -> None:
    ticket = factories.ticket(session)
    message = factories.message(session, ticket=ticket, text="我的手机号 13800138000，内存报错")
    reply = factories.message(
        session,
        ticket=ticket,
        text="内存报错请先重新插拔",
        role=MessageRole.AGENT,
        direction=Direction.OUTBOUND,
        external_id=None,
    )
    assert {h.ref_id for h in _find(session, "内存报错")} == {message.id, reply.id}
    # What `bot.lifecycle.privacy.forget_in` does to a customer line.
    message.text, message.sender = "〔客户已要求删除个人信息，原文已删除〕", "anon:1"
    session.flush()
    assert {h.ref_id for h in _find(session, "内存报错")} == {reply.id}
    assert _find(session, "13800138000") == []
    assert _find(session, "原文") == []


def test_a_masked_text_is_reindexed(session: Session) -> None:
    ticket = factories.ticket(session)
    message = factories.message(session, ticket=ticket, text="联系电话 13900001111 硬盘异响")
    assert [h.ref_id for h in _find(session, "13900001111")] == [message.id]
    message.text = "联系电话 *********** 硬盘异响"
    session.flush()
    assert _find(session, "13900001111") == []
    assert [h.ref_id for h in _find(session, "硬盘异响")] == [message.id]


def test_archived_solutions_and_the_engineer_scope(session: Session) -> None:
    mine, theirs = factories.engineer(session), factories.engineer(session)
    own = factories.ticket(session, assigned_engineer_id=mine.id)
    other = factories.ticket(session, assigned_engineer_id=theirs.id, status=TicketStatus.CLOSED)
    _line(session, own, "风扇噪音很大")
    _line(session, other, "风扇噪音很大")
    record = SolutionRecord(
        ticket_id=other.id,
        process="清理风扇灰尘并更换 3 号风扇",
        attachments=["风扇.jpg"],
        test_report="满载 2 小时噪音正常",
        recorded_by="1001",
        recorded_at=T0,
    )
    session.add(record)
    session.flush()
    assert [h.kind for h in _find(session, "风扇", kinds=("solution",))] == []  # not archived yet
    record.archived_at, record.problem = T0, "风扇噪音大"
    session.flush()
    scoped = _find(session, "风扇噪音", engineer_id=mine.id)
    assert {(h.kind, h.ticket_id) for h in scoped} == {
        ("message", own.id),
        ("solution", other.id),
    }
    similar = _find(session, "你好 风扇 声音 很大", any_word=True, kinds=("solution",))
    assert [h.ticket_id for h in similar] == [other.id]
    record.duplicate_of_id = own.id  # a duplicate is not filed
    session.flush()
    assert _find(session, "风扇", kinds=("solution",)) == []


def test_rebuild_gives_the_same_index(session: Session) -> None:
    ticket = factories.ticket(session, summary="主板更换")
    _line(session, ticket, "主板告警")
    before = sorted(
        session.execute(select(SearchDocument.kind, SearchDocument.ref_id, SearchDocument.tokens))
    )
    count = search.rebuild(session.connection())
    after = sorted(
        session.execute(select(SearchDocument.kind, SearchDocument.ref_id, SearchDocument.tokens))
    )
    assert after == before
    assert count == len(after)
    assert {h.ticket_id for h in _find(session, "主板")} == {ticket.id}
