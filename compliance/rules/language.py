"""LNG — communication standards (seed 000 【售后沟通标准】)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compliance.detection import LAYER_LABELS, Detection, strongest
from compliance.model import Finding, Line, Session
from compliance.rules.base import Rule
from scripts_library import ScriptKey

if TYPE_CHECKING:
    from compliance.context import CheckContext
    from compliance.rules.facts import SessionFacts


@dataclass(frozen=True, slots=True)
class ForbiddenOptions:
    wordlist_skip: tuple[str, ...] = ()


class _ForbiddenPhraseRule(Rule):
    """Shared by LNG001–LNG006: the language detections whose rule is this code.

    One finding per message, reported from its strongest detection (errors first, then
    phrase > operator > similarity, then confidence): that detection gives the
    evidence, span, severity, layer and confidence; the message names every phrase
    (and the layer of those not from a phrase list).
    """

    Options = ForbiddenOptions
    what: str

    def message(self, detections: list[Detection]) -> str:
        said = []
        for detection in detections:
            quoted = f"“{detection.matched}”"
            if detection.layer == "similarity":
                quoted += f"（与范例“{detection.phrase}”相似度{detection.confidence:.2f}）"
            elif detection.layer == "operator":
                quoted += f"（{LAYER_LABELS['operator']}）"
            elif detection.matched != detection.phrase:
                quoted += f"（匹配“{detection.phrase}”）"
            if quoted not in said:
                said.append(quoted)
        return f"客服{self.what}：{'、'.join(said)}"

    def suggestion(self, line: Line, detections: list[Detection]) -> str | None:
        return None

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        by_line: dict[int, tuple[Line, list[Detection]]] = {}
        for line, detection in facts.detections(self.code):
            by_line.setdefault(line.index, (line, []))[1].append(detection)
        for line, detections in by_line.values():
            best = strongest(detections)
            assert best is not None
            yield self.finding(
                session,
                self.message(detections),
                line=line,
                agent=line.sender,
                evidence=best.matched,
                span=best.span,
                source=best.source,
                suggestion=self.suggestion(line, detections),
                severity=best.severity,
                layer=best.layer,
                confidence=best.confidence,
            )


class Profanity(_ForbiddenPhraseRule):
    """The agent must not swear or use a dirty catchphrase.

    Seed 000 【售后沟通标准】1: “沟通客户说普通话，禁止说脏话口头禅。”

    Phrases: the lists whose ``rule`` is LNG001 (policy ``[forbidden.profanity]``
    plus the LDNOOBW Chinese word list, without its one-character entries), matched
    on normalised text (full/half width, case, spaces and filler characters,
    traditional characters: 傻 逼, 傻1逼, ＳＢ and 傻逼 in traditional script all
    match), never inside an innocent containing word (USB ⊃ sb).  Only agent
    messages are checked: a customer's swearing is never the agent's finding.

    Fails::

        agent 1818: 卧槽，这服务器又宕机了

    Passes::

        agent 1818: 麻烦您把 USB 线拔下来重新插一下

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use
        (words that are innocent in after-sales chat).
    """

    code = "LNG001"
    name = "profanity"
    what = "说了脏话或口头禅"


class Abuse(_ForbiddenPhraseRule):
    """The agent must not insult, slander, belittle or mock the customer.

    Seed 000 【售后沟通标准】4: “禁止辱骂、诽谤、轻视、挖苦客户的沟通言论”

    Phrases: the lists whose ``rule`` is LNG002 (``[forbidden.abuse]``), with their
    innocent containing words (滚动 ⊃ 滚, 垃圾文件 ⊃ 垃圾).  Beyond them the
    ``[detectors.abuse]`` layers catch mockery in any words: the customer's ability
    judged (您这水平…), "even this you cannot do" (连…都不会), contempt (真是个人才),
    and sentences like the exemplars; negated or reassuring mentions do not count.

    Fails::

        agent 1818: 这都不会，你是不是傻

    Passes::

        agent 1818: 您用鼠标滚轮往下滚动，把垃圾文件清理一下

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use.
    """

    code = "LNG002"
    name = "abuse"
    what = "辱骂、轻视或挖苦客户"


class BlockThreat(_ForbiddenPhraseRule):
    """The agent must not threaten or announce blocking or deleting the customer.

    Seed 000 【售后沟通标准】6: “禁止任何沟通平台的拉黑、删除客户”

    Phrases: the lists whose ``rule`` is LNG003 (``[forbidden.block_threat]``); a
    firewall's blacklist (IP加入黑名单) is no threat.  The ``[detectors.block_threat]``
    layers catch removing, blocking or ignoring the customer in any words (以后你的消息
    我一律不回), and leave alone what is negated or reassuring (我们从不拉黑客户), done
    for the customer (帮您删除) or a security action (攻击者的IP).

    Fails::

        agent 1818: 再这样我就把你拉黑了

    Passes::

        agent 1818: 这个 IP 已经被防火墙加入黑名单了，我帮您解除

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use.
    """

    code = "LNG003"
    name = "block-threat"
    what = "威胁或宣布拉黑、删除客户"


class WalkAway(_ForbiddenPhraseRule):
    """The agent must not hang up or leave: neither say so nor close on an unanswered customer.

    Seed 000 【售后沟通标准】5: “禁止无端挂断客户电话或沟通中当场离开（包括线上沟通场景）”

    Fires on a phrase of the lists whose ``rule`` is LNG004 (``[forbidden.walk_away]``:
    我先挂了, 我下班了 …) or a hit of the ``[detectors.walk_away]`` layers (leaving or
    dismissing the customer in any words, unless with a promise to come back or a
    hand-over), and on a ``closed`` event while the customer's last
    message is unanswered (a message that is only an acknowledgement, policy
    ``phrases.ack_only``, needs no answer).

    Fails::

        customer: 那什么时候能修好？
        event closed (1818)

    Passes::

        customer: 那什么时候能修好？
        agent 1818: 预计明天下午给您答复
        customer: 好的，谢谢
        event closed (1818)

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use.
    """

    code = "LNG004"
    name = "walk-away"
    what = "中途离开或挂断"

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        yield from super().check(session, facts, ctx)
        for event in facts.events("closed"):
            last = next(
                (line for line in reversed(facts.lines[: event.index]) if line.role != "event"),
                None,
            )
            if last is None or last.role != "customer" or facts.is_ack_only(last):
                continue
            yield self.finding(
                session,
                f"客户第{last.index + 1}条消息还没有得到回复，会话就被关闭了",
                line=event,
                agent=facts.responsible_agent(event),
                evidence=last.text,
                source="event.closed",
            )


class CompanyDamaging(_ForbiddenPhraseRule):
    """The agent must not say anything that damages the company's image or name.

    Seed 000 【售后沟通标准】7: “禁止沟通中附带任何有损公司形象、有损公司名誉的言论”

    Phrases: the lists whose ``rule`` is LNG005 (``[forbidden.company_damaging]``);
    a hit inside a longer hit of another list counts once, for the longer phrase
    (垃圾公司 is LNG005, not also LNG002).  The ``[detectors.company_damaging]`` layers
    catch damaging talk about the company, its products, quality control, management
    or honesty in any words (公司的质检就是走过场), with the NTUSD lexicon; owning a fault
    and offering the remedy, or a hypothetical (如果我们的服务有不到位的地方), is none.

    Fails::

        agent 1818: 我们这破公司就这样，我也没办法

    Passes::

        agent 1818: 这个问题我马上反馈给公司技术部处理

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use.
    """

    code = "LNG005"
    name = "company-damaging"
    what = "发表了有损公司形象或名誉的言论"


class InformalAddress(_ForbiddenPhraseRule):
    """The agent must address the customer as 您 (or 张总 / 张老师), never 你.

    Seed 000 【售后沟通标准】2: “沟通客户称呼“张总、张老师”等；不清楚对方具体姓名须用“您”。”

    Phrases: the lists whose ``rule`` is LNG006 (``[forbidden.informal_address]``: 你,
    but not in 你们 / 迷你 …).  The suggestion is the message with 您 instead of
    every informal 你.

    Fails::

        agent 1818: 你先重启一下服务器

    Passes::

        agent 1818: 您先重启一下服务器

    Options:
        wordlist_skip: entries of the lists' word lists that this rule does not use.
    """

    code = "LNG006"
    name = "informal-address"

    def message(self, detections: list[Detection]) -> str:
        times = f"（共{len(detections)}处）" if len(detections) > 1 else ""
        return f"称呼客户用了“{detections[0].matched}”{times}，应称“您”或“张总”“张老师”"

    def suggestion(self, line: Line, detections: list[Detection]) -> str | None:
        text = line.text or ""
        pieces: list[str] = []
        cursor = 0
        for detection in detections:
            pieces.append(text[cursor : detection.span[0]])
            pieces.append("您")
            cursor = detection.span[1]
        pieces.append(text[cursor:])
        return "".join(pieces)


class _Unacknowledged(Rule):
    """Shared by LNG007–LNG009: a customer cue needs an acknowledgement in the next turn."""

    cue_list: str
    ack_list: str
    line_key: ScriptKey
    what: str
    needed: str

    def check(self, session: Session, facts: SessionFacts, ctx: CheckContext) -> Iterator[Finding]:
        blocks = facts.blocks
        for number, cues in facts.customer_block_cues():
            cue = cues.get(self.cue_list)
            if cue is None or number + 1 >= len(blocks):
                continue
            turn = blocks[number + 1]
            if any(
                facts.agent_cue(line, self.ack_list) is not None or facts.says(line, self.line_key)
                for line in turn.lines
            ):
                continue
            said, hit = cue
            yield self.finding(
                session,
                f"客户在第{said.index + 1}条{self.what}（“{hit.matched}”），"
                f"客服的下一轮回复没有{self.needed}",
                line=turn.first,
                agent=turn.first.sender,
                evidence=hit.matched,
                source=f"phrases.{self.cue_list}_cues",
                suggestion=ctx.required.canonical(self.line_key, session.channel),
                # Which layer read the customer's cue, and how sure it is.
                layer=hit.layer,
                confidence=hit.confidence,
            )


class ComplaintUnacknowledged(_Unacknowledged):
    """When the customer complains, the agent's next turn must show understanding or apologise.

    Seed 000 【售后沟通标准】8: “对于客户的抱怨应等待客户吐槽完之后表示理解，并耐心解释
    “感谢您的提议和指导，我们会继续完善售后服务质量和效率，给您添麻烦了””

    Complaint cues (customer) are ``phrases.complaint_cues`` and the
    ``[detectors.complaint]`` layers: service failings and negative words about the
    service, and complaints in new words — plain facts with no negative word (第三次了,
    等了两天, 还是没人, 又坏了, 修完比之前还差), sarcasm about the service (呵呵, 真行,
    服了, 厉害了, 谢谢你们啊 with a service word or a complaint near); the next turn
    complies with a ``phrases.complaint_ack`` cue, a ``[detectors.complaint_ack]`` hit
    (apologising or owning the trouble in any words) or the script line (fuzzy).  The
    finding is on the first message of that turn and says which layer read the
    customer's cue, with its confidence.

    Fails::

        customer: 等了半天都没人管，什么服务
        agent 1818: 请问服务器型号是什么？

    Passes::

        customer: 等了半天都没人管，什么服务
        agent 1818: 感谢您的提议和指导，我们会继续完善售后服务质量和效率，给您添麻烦了

    Options: none.
    """

    code = "LNG007"
    name = "complaint-unacknowledged"
    cue_list = "complaint"
    ack_list = "complaint_ack"
    line_key = ScriptKey.COMPLAINT_RESPONSE
    what = "抱怨"
    needed = "表示理解或致歉"


class DoubtUnacknowledged(_Unacknowledged):
    """When the customer doubts the service, the agent's next turn must acknowledge it.

    Seed 000 【售后沟通标准】9: “对于客户的质疑应真诚的微笑回应，并争取客户给到一次或二次的
    服务机会“您的顾虑我特别能理解，因为信任不是一件容易的事情，能给您提供服务的机会我很珍惜，
    不惧怕困难和学习””

    Doubt cues are ``phrases.doubt_cues`` and the ``[detectors.doubt]`` layers,
    rhetorical and hedged doubt too (你确定?, 靠谱吗, 真的假的, 骗人的吧, 不太放心,
    不会又是让我重启吧, 上次你们也是这么说的); acknowledgements ``phrases.doubt_ack``,
    ``[detectors.doubt_ack]`` or the script line (fuzzy).

    Fails::

        customer: 你们到底靠谱吗？
        agent 1818: 请提供一下序列号

    Passes::

        customer: 你们到底靠谱吗？
        agent 1818: 您的顾虑我特别能理解，因为信任不是一件容易的事情，能给您提供服务的机会我很珍惜

    Options: none.
    """

    code = "LNG008"
    name = "doubt-unacknowledged"
    cue_list = "doubt"
    ack_list = "doubt_ack"
    line_key = ScriptKey.DOUBT_RESPONSE
    what = "质疑服务"
    needed = "回应客户的顾虑"


class EmotionUnacknowledged(_Unacknowledged):
    """When the customer is upset, the agent's next turn must calm them and take responsibility.

    Seed 000 【售后沟通标准】10: “对于客户的情绪要耐心倾听“您说的有道理，确实给您添麻烦了，
    换作是我我也会生气；您消消气，保重身体，我们承诺不会放弃、不会厌倦、不会抵触本次和以后的
    服务；……””

    Emotion cues are ``phrases.emotion_cues`` (气死, 受不了, ！！！ …) and the
    ``[detectors.emotion]`` layers, outbursts and stakes too (滚, 别跟我说这些没用的,
    ！！, 我要被开除了, 整个人都不好了); acknowledgements ``phrases.emotion_ack``,
    ``[detectors.emotion_ack]`` or the script line (fuzzy).

    Fails::

        customer: 气死我了，又宕机了！！！
        agent 1818: 请问是什么时候开始的？

    Passes::

        customer: 气死我了，又宕机了！！！
        agent 1818: 您消消气，确实给您添麻烦了，我们即刻复盘故障分析

    Options: none.
    """

    code = "LNG009"
    name = "emotion-unacknowledged"
    cue_list = "emotion"
    ack_list = "emotion_ack"
    line_key = ScriptKey.EMOTION_RESPONSE
    what = "情绪激动"
    needed = "安抚客户并表示负责"
