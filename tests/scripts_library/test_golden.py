"""Golden renderings: every script line with fixed inputs, word for word.

Any change of wording, punctuation or emoji fails here on purpose: these lines are what
customers read and what the compliance checker matches, so a change must be deliberate
and show up in review.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from importlib import resources

import pytest

from scripts_library import (
    SCRIPT_LINES,
    EscalationNoticeInputs,
    ExtensionCallInputs,
    GreetingInputs,
    NoInputs,
    OnsiteAppointmentInputs,
    OnsiteRescheduleInputs,
    ProgressUpdateInputs,
    RepairQuoteInputs,
    RestDayNoticeInputs,
    ReturnShippingInputs,
    ReviewInvitationInputs,
    SatisfactionSurveyInputs,
    ScriptInputs,
    ScriptKey,
    WarrantyOutcomeInputs,
    WelcomeInputs,
    render,
)
from scripts_library.desk_inputs import (
    AfterHoursNoticeInputs,
    HandoverInputs,
    SatisfactionReasonInputs,
    TicketNumberInputs,
    TicketStatusInputs,
)


@dataclass(frozen=True)
class Golden:
    name: str
    key: ScriptKey
    inputs: ScriptInputs
    expected: str
    channel: str = "wechat"


K = ScriptKey
MONDAY = date(2026, 11, 23)
WEDNESDAY = date(2026, 11, 25)
THURSDAY = date(2026, 11, 26)

GOLDEN: tuple[Golden, ...] = (
    Golden(
        "ticket_number",
        K.TICKET_NUMBER,
        TicketNumberInputs("PS-20261123-0001", "400-000-1773"),
        "已为您登记工单，工单号：PS-20261123-0001。如需了解进度，可随时回复"
        "“查询工单 PS-20261123-0001”，拨打服务热线400-000-1773时报此工单号即可。",
    ),
    Golden(
        "ticket_status_with_engineer",
        K.TICKET_STATUS,
        TicketStatusInputs("PS-20261123-0001", "处理中", "11月23日（周一）10:05", "张三", "1818"),
        "工单PS-20261123-0001当前状态：处理中，由运维工程师张三（工号1818）跟进，"
        "最近更新于11月23日（周一）10:05。",
    ),
    Golden(
        "ticket_status_closed",
        K.TICKET_STATUS,
        TicketStatusInputs("PS-20261123-0001", "已关闭", "11月23日（周一）10:05"),
        "工单PS-20261123-0001当前状态：已关闭，最近更新于11月23日（周一）10:05。",
    ),
    Golden(
        "after_hours_notice",
        K.AFTER_HOURS_NOTICE,
        AfterHoursNoticeInputs(
            "PS-20261123-0001", "每天 09:30–18:00", "11月24日（周二）09:30", "400-000-1773"
        ),
        "您好，现在是非在线服务时间（在线服务时间：每天 09:30–18:00）。您的留言已登记为工单"
        "PS-20261123-0001，运维工程师将于11月24日（周二）09:30起回复您。"
        "紧急情况也可拨打7×24小时服务热线400-000-1773。",
    ),
    Golden(
        "after_hours_notice_rest_day",
        K.AFTER_HOURS_NOTICE,
        AfterHoursNoticeInputs(
            "PS-20261122-0001",
            "每天 09:30–18:00",
            "11月22日（周日）09:30",
            "400-000-1773",
            rest_day=True,
            address="张总",
        ),
        "您好，现在是非在线服务时间（在线服务时间：每天 09:30–18:00）。您的留言已登记为工单"
        "PS-20261122-0001，运维工程师将于11月22日（周日）09:30起回复张总。休息日如遇紧急故障，"
        "请回复“紧急”，我们会申请管理人员协调值班工程师临时出勤处理；"
        "紧急情况也可拨打7×24小时服务热线400-000-1773。",
    ),
    Golden(
        "handover",
        K.HANDOVER,
        HandoverInputs("李四", "2046"),
        "已为您转接至运维工程师李四（工号2046），接下来由我继续为您处理[握手]",
    ),
    Golden(
        "satisfaction_reason",
        K.SATISFACTION_REASON,
        SatisfactionReasonInputs(),
        "很抱歉本次服务没有让您满意。请问主要是哪方面的原因：“服务态度”、“技术水平”、"
        "“响应速度”？也欢迎您提出宝贵意见，我们会认真改进[抱拳]",
    ),
    Golden(
        "welcome",
        K.WELCOME,
        WelcomeInputs("每天 09:30–18:00", "400-000-1773"),
        "您好[握手]欢迎联系朴赛售后服务中心。服务器报修请直接在这里留言：说明服务器型号"
        "（或序列号）和故障现象，有报错截图或日志也请一并发来，我们会为您登记工单并安排"
        "运维工程师跟进。在线服务时间：每天 09:30–18:00；7×24小时服务热线：400-000-1773。",
    ),
    Golden(
        "welcome-web-seed002",
        K.WELCOME,
        WelcomeInputs("7×24小时", "400-000-1773", centre="朴赛技术支持中心"),
        "您好🤝欢迎联系朴赛技术支持中心。服务器报修请直接在这里留言：说明服务器型号"
        "（或序列号）和故障现象，有报错截图或日志也请一并发来，我们会为您登记工单并安排"
        "运维工程师跟进。在线服务时间：7×24小时；7×24小时服务热线：400-000-1773。",
        "web",
    ),
    # SPEC §4 example, exactly.
    Golden(
        "greeting-spec-example",
        K.GREETING,
        GreetingInputs("张三", "1818"),
        "您好，我是朴赛售后服务中心运维工程师张三，工号1818，很高兴为您服务[握手]",
    ),
    Golden(
        "greeting-web",
        K.GREETING,
        GreetingInputs("李四", "A0027"),
        "您好，我是朴赛售后服务中心运维工程师李四，工号A0027，很高兴为您服务🤝",
        "web",
    ),
    Golden(
        "greeting-other-centre-title",
        K.GREETING,
        GreetingInputs("王五", "2020", centre="朴赛深圳售后服务中心", title="高级运维工程师"),
        "您好，我是朴赛深圳售后服务中心高级运维工程师王五，工号2020，很高兴为您服务[握手]",
        "qianniu",
    ),
    Golden(
        "backup-warning",
        K.BACKUP_WARNING,
        NoInputs(),
        "请您确认下服务器内的数据是否均有备份，重点提示：运维和调试过程都有一定概率的数据丢失风险",
    ),
    Golden("thanks", K.THANKS, NoInputs(), "感谢您对我们本次服务的理解和支持[玫瑰]"),
    Golden("thanks-web", K.THANKS, NoInputs(), "感谢您对我们本次服务的理解和支持🌹", "web"),
    Golden(
        "responsibility",
        K.RESPONSIBILITY,
        NoInputs(),
        "您在后期的服务器使用中遇到任何问题都可以随时联络我们，感谢您的配合，"
        "和您合作太愉快了[微笑]",
    ),
    Golden(
        "responsibility-web",
        K.RESPONSIBILITY,
        NoInputs(),
        "您在后期的服务器使用中遇到任何问题都可以随时联络我们，感谢您的配合，和您合作太愉快了🙂",
        "web",
    ),
    Golden(
        "complaint-response",
        K.COMPLAINT_RESPONSE,
        NoInputs(),
        "感谢您的提议和指导，我们会继续完善售后服务质量和效率，给您添麻烦了",
    ),
    Golden(
        "doubt-response",
        K.DOUBT_RESPONSE,
        NoInputs(),
        "您的顾虑我特别能理解，因为信任不是一件容易的事情，能给您提供服务的机会我很珍惜，"
        "不惧怕困难和学习",
    ),
    Golden(
        "emotion-response",
        K.EMOTION_RESPONSE,
        NoInputs(),
        "您说的有道理，确实给您添麻烦了，换作是我我也会生气；您消消气，保重身体，"
        "我们承诺不会放弃、不会厌倦、不会抵触本次和以后的服务；"
        "我们即刻复盘故障分析，力求尽快解决您的服务器问题",
    ),
    Golden(
        "suggestion-request",
        K.SUGGESTION_REQUEST,
        NoInputs(),
        "您对我们的服务器使用及售后服务有什么建议或者意见吗？我详细记录并且推动公司优化，"
        "我们的成长离不开您的指导[抱拳]",
    ),
    Golden(
        "suggestion-request-web",
        K.SUGGESTION_REQUEST,
        NoInputs(),
        "您对我们的服务器使用及售后服务有什么建议或者意见吗？我详细记录并且推动公司优化，"
        "我们的成长离不开您的指导🙏",
        "web",
    ),
    Golden(
        "review-invitation",
        K.REVIEW_INVITATION,
        ReviewInvitationInputs(),
        "诚恳地请您抽空对我们本次的服务做出评价，您的每一条评价都是我们前进的动力，衷心感谢[抱拳]",
    ),
    Golden(
        "review-invitation-addressed",
        K.REVIEW_INVITATION,
        ReviewInvitationInputs(address="张总"),
        "诚恳地请张总抽空对我们本次的服务做出评价，您的每一条评价都是我们前进的动力，衷心感谢[抱拳]",
    ),
    Golden(
        "satisfaction-survey",
        K.SATISFACTION_SURVEY,
        SatisfactionSurveyInputs(),
        "请问您对本次服务是否满意？请回复“很满意”“满意”“一般”或“不满意”，感谢您的反馈[玫瑰]",
    ),
    Golden(
        "satisfaction-survey-points-web",
        K.SATISFACTION_SURVEY,
        SatisfactionSurveyInputs(show_points=True, address="张老师"),
        "请问张老师对本次服务是否满意？"
        "请回复“很满意（5分）”“满意（3分）”“一般（2分）”或“不满意（0分）”，感谢您的反馈🌹",
        "web",
    ),
    Golden(
        "satisfaction-survey-custom-scale",
        K.SATISFACTION_SURVEY,
        SatisfactionSurveyInputs({"满意": 1, "不满意": 0}),
        "请问您对本次服务是否满意？请回复“满意”或“不满意”，感谢您的反馈[玫瑰]",
    ),
    Golden(
        "satisfaction-survey-one-choice",
        K.SATISFACTION_SURVEY,
        SatisfactionSurveyInputs({"满意": 1}),
        "请问您对本次服务是否满意？请回复“满意”，感谢您的反馈[玫瑰]",
    ),
    Golden(
        "rest-day-notice",
        K.REST_DAY_NOTICE,
        RestDayNoticeInputs(MONDAY),
        "今天是休息日，您的问题我们已经记录，将在下一个工作日11月23日（周一）优先受理并给出解决方案，"
        "请您不必焦急等待；如遇紧急情况请告诉我们，我们会申请管理人员协调工程师临时出勤处理[抱拳]",
    ),
    Golden(
        "rest-day-notice-addressed-web",
        K.REST_DAY_NOTICE,
        RestDayNoticeInputs(date(2026, 10, 8), address="张总"),
        "今天是休息日，您的问题我们已经记录，将在下一个工作日10月8日（周四）优先受理并给出解决方案，"
        "请张总不必焦急等待；如遇紧急情况请告诉我们，我们会申请管理人员协调工程师临时出勤处理🙏",
        "web",
    ),
    Golden(
        "progress-day4",
        K.PROGRESS_DAY4,
        ProgressUpdateInputs("T20261118001", "备件已到货，正在更换主板。", address="张总"),
        "张总好，跟您同步一下工单T20261118001当前的受理情况和处理进度：备件已到货，正在更换主板。"
        "我们会持续跟进，有新进展会第一时间告知您，感谢您的耐心等待[抱拳]",
    ),
    Golden(
        "progress-day7",
        K.PROGRESS_DAY7,
        ProgressUpdateInputs("T20261118001", "硬盘背板已寄原厂检测"),
        "您好，跟您同步一下工单T20261118001最新的受理情况和处理进度：硬盘背板已寄原厂检测。"
        "这次处理时间比较长，给您添麻烦了；如果您着急使用，我们可以先为您提供一台替代品，"
        "保证服务器持续运行，等故障机处理好后再为您换回。您看是否需要？[抱拳]",
    ),
    Golden(
        "extension-call",
        K.EXTENSION_CALL,
        ExtensionCallInputs("王芳"),
        "您好，我是朴赛售后服务中心售后服务经理王芳。您的服务器故障我们的工程师一直在排查，"
        "这个故障复现的条件比较复杂，需要多一些时间定位原因，才能给您一个稳妥可靠的解决方案。"
        "想跟您商量一下，能否将方案给出的时间延长4小时？这期间有任何进展我们都会第一时间同步给您，"
        "给您添麻烦了，感谢您的理解和支持",
        "phone",
    ),
    Golden(
        "extension-call-hours-addressed",
        K.EXTENSION_CALL,
        ExtensionCallInputs("王芳", extension_hours=2, manager_title="主管", address="张老师"),
        "张老师好，我是朴赛售后服务中心主管王芳。您的服务器故障我们的工程师一直在排查，"
        "这个故障复现的条件比较复杂，需要多一些时间定位原因，才能给您一个稳妥可靠的解决方案。"
        "想跟您商量一下，能否将方案给出的时间延长2小时？这期间有任何进展我们都会第一时间同步给您，"
        "给您添麻烦了，感谢您的理解和支持",
    ),
    Golden(
        "escalation-notice",
        K.ESCALATION_NOTICE,
        EscalationNoticeInputs(),
        "您好，您的服务器问题排查难度比较大，为了尽快给您可靠的解决方案，"
        "我们已经请技术部的技术专家介入支持、共同分析处理，有进展会第一时间告知您，"
        "感谢您的耐心和理解[抱拳]",
    ),
    Golden(
        "escalation-notice-ticket",
        K.ESCALATION_NOTICE,
        EscalationNoticeInputs("T20261118001", address="张总"),
        "张总好，您的服务器问题（工单T20261118001）排查难度比较大，为了尽快给您可靠的解决方案，"
        "我们已经请技术部的技术专家介入支持、共同分析处理，有进展会第一时间告知您，"
        "感谢您的耐心和理解[抱拳]",
    ),
    Golden(
        "return-shipping",
        K.RETURN_SHIPPING,
        ReturnShippingInputs("顺丰速运", "SF1234567890"),
        "您好，您的服务器已经处理完成并通过稳定运行测试，将通过顺丰速运寄回，物流单号SF1234567890。"
        "请问您哪个时间方便收货？我们按您方便的时间安排派送；"
        "收货时如遇物流时效问题，请随时告诉我们，我们会第一时间联系物流公司解决[抱拳]",
    ),
    Golden(
        "warranty-outcome-free",
        K.WARRANTY_OUTCOME,
        WarrantyOutcomeInputs(
            "PS-20261123-0001", "3个月内换新", "自签收次日起3个月内（至2026-11-30）", True, "张总"
        ),
        "张总好，工单PS-20261123-0001的保修情况已为您核实：3个月内换新，"
        "依据是自签收次日起3个月内（至2026-11-30）。本次维修或更换所产生的费用"
        "（包括运费、维修费、材料费）由我司承担，您无需支付费用。如有疑问请随时联系我们[抱拳]",
    ),
    Golden(
        "warranty-outcome-paid-web",
        K.WARRANTY_OUTCOME,
        WarrantyOutcomeInputs("PS-20261123-0002", "有偿维修", "暂未能提供购买证明。", False),
        "您好，工单PS-20261123-0002的保修情况已为您核实：有偿维修，依据是暂未能提供购买证明。"
        "本次属于有偿维修，我们会先根据配件价格向您报价，经您确认后再开始维修，"
        "未经您确认不会产生任何费用。如有疑问请随时联系我们🙏",
        "web",
    ),
    Golden(
        "repair-quote",
        K.REPAIR_QUOTE,
        RepairQuoteInputs("PS-20261123-0002", 128050, ("主板 1 块 1,200.00元", "检测费 80.50元。")),
        "您好，工单PS-20261123-0002的维修报价如下：主板 1 块 1,200.00元；检测费 80.50元，"
        "合计1,280.50元。请您确认是否同意按此报价维修，收到您的确认后我们马上开始维修[抱拳]",
    ),
    Golden(
        "return-shipping-dated",
        K.RETURN_SHIPPING,
        ReturnShippingInputs("京东物流", "JDX0099", ship_date=WEDNESDAY),
        "您好，您的服务器已经处理完成并通过稳定运行测试，计划于11月25日（周三）通过京东物流寄回，"
        "物流单号JDX0099。请问您哪个时间方便收货？我们按您方便的时间安排派送；"
        "收货时如遇物流时效问题，请随时告诉我们，我们会第一时间联系物流公司解决[抱拳]",
        "jd",
    ),
    Golden(
        "onsite-appointment",
        K.ONSITE_APPOINTMENT,
        OnsiteAppointmentInputs(WEDNESDAY, "100公里以内", 2),
        "您好，解决方案已经确定。您的服务器所在地距离我们的服务网点100公里以内，"
        "工程师将在2个工作日内，即11月25日（周三）前到达现场进行运维，"
        "出发前会提前与您确认具体时间[握手]",
    ),
    Golden(
        "onsite-appointment-negotiated",
        K.ONSITE_APPOINTMENT,
        OnsiteAppointmentInputs(date(2026, 11, 30), "300公里以上", address="张总"),
        "张总好，解决方案已经确定。您的服务器所在地距离我们的服务网点300公里以上，"
        "工程师将按与您商定的时间，于11月30日（周一）到达现场进行运维，"
        "出发前会提前与您确认具体时间[握手]",
    ),
    Golden(
        "onsite-reschedule",
        K.ONSITE_RESCHEDULE,
        OnsiteRescheduleInputs(THURSDAY),
        "您好，非常抱歉，因交通、天气等不可控因素，工程师无法按原定时间到达现场。"
        "想跟您重新约定上门服务时间：11月26日（周四）您是否方便？如果不方便，"
        "请告诉我们您方便的时间，我们按您的时间安排，给您添麻烦了[抱拳]",
    ),
    Golden(
        "onsite-reschedule-reason-web",
        K.ONSITE_RESCHEDULE,
        OnsiteRescheduleInputs(THURSDAY, reason="高速封路", address="张老师"),
        "张老师好，非常抱歉，因高速封路，工程师无法按原定时间到达现场。"
        "想跟您重新约定上门服务时间：11月26日（周四）您是否方便？如果不方便，"
        "请告诉我们您方便的时间，我们按您的时间安排，给您添麻烦了🙏",
        "web",
    ),
)


@pytest.mark.parametrize("case", GOLDEN, ids=[case.name for case in GOLDEN])
def test_golden_rendering(case: Golden) -> None:
    assert render(case.key, case.inputs, case.channel) == case.expected


def test_golden_names_are_unique() -> None:
    names = [case.name for case in GOLDEN]
    assert len(names) == len(set(names))


# --- meta-tests: the registry, the templates and these cases agree -----------------------


def _template_files() -> set[str]:
    folder = resources.files("scripts_library") / "templates"
    return {entry.name for entry in folder.iterdir() if entry.name.endswith(".j2")}


def test_every_key_is_registered() -> None:
    assert set(SCRIPT_LINES) == set(ScriptKey)
    for key, line in SCRIPT_LINES.items():
        assert line.key is key


@pytest.mark.parametrize("key", list(ScriptKey), ids=[key.value for key in ScriptKey])
def test_every_key_has_template_inputs_clause_and_golden_case(key: ScriptKey) -> None:
    line = SCRIPT_LINES[key]
    assert line.template_name in _template_files()
    assert is_dataclass(line.inputs_type) and issubclass(line.inputs_type, ScriptInputs)
    assert line.inputs_type.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert line.seed_clause.startswith(("000 ", "003 ", "004 ")), line.seed_clause
    assert "【" in line.seed_clause or line.seed_clause.startswith("003 ")
    assert line.when
    assert any(case.key is key for case in GOLDEN), f"no golden case for {key}"


def test_no_template_without_a_key() -> None:
    assert _template_files() == {f"{key.value}.j2" for key in ScriptKey}


def test_required_lines_are_the_enforced_ones() -> None:
    required = {key for key, line in SCRIPT_LINES.items() if line.required}
    assert required == {
        K.GREETING,
        K.REST_DAY_NOTICE,
        K.BACKUP_WARNING,
        K.COMPLAINT_RESPONSE,
        K.DOUBT_RESPONSE,
        K.EMOTION_RESPONSE,
        K.PROGRESS_DAY4,
        K.PROGRESS_DAY7,
        K.THANKS,
        K.RESPONSIBILITY,
    }
    for line in SCRIPT_LINES.values():
        assert line.required == bool(line.enforced_by)


def test_fixed_lines_are_exactly_those_without_inputs() -> None:
    fixed = {key for key, line in SCRIPT_LINES.items() if line.fixed}
    assert fixed == {
        K.BACKUP_WARNING,
        K.THANKS,
        K.RESPONSIBILITY,
        K.COMPLAINT_RESPONSE,
        K.DOUBT_RESPONSE,
        K.EMOTION_RESPONSE,
        K.SUGGESTION_REQUEST,
    }
    for line in SCRIPT_LINES.values():
        if not line.fixed:
            assert fields(line.inputs_type), f"{line.key} has variable parts but no fields"
