"""The words people read for the product's vocabulary: ticket statuses, events, script lines.

One table each, used by the console and by the compliance checker's HTML
report, so a step reads the same wherever it is shown.  Keys are the stored
values (`storage.enums.TicketStatus`, `storage.enums.EventKind`, the SPEC §4
transcript events) as strings, since this package depends on nothing of ours;
`tests/bot/test_lifecycle_registry.py` checks every member has its label.
Channel names are the policy's (`[channels.*] label`), not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from scripts_library.lines import ScriptKey

STATUS_LABELS: Mapping[str, str] = {
    "opened": "待受理",
    "accepted": "处理中",
    "in_progress": "处理中",
    "resolved": "已解决",
    "closed": "已关闭",
}

EVENT_LABELS: Mapping[str, str] = {
    # SPEC §4: the events a transcript carries.
    "ticket_opened": "工单已创建",
    "ticket_accepted": "工程师已受理",
    "remote_login": "开始远程操作",
    "solution_given": "已给出解决方案",
    "extension_granted": "方案时效已延长",
    "escalated": "已升级至技术部",
    "resolved": "问题已解决",
    "closed": "工单已关闭",
    "satisfaction_rated": "客户已评价",
    "complaint_opened": "客户投诉",
    "complaint_resolved": "投诉已处理",
    # The bot's internal steps.
    "classified": "已判定故障等级",
    "fault_level_changed": "故障等级已调整",
    "assigned": "已分配工程师",
    "reassigned": "工单已改派",
    "backup_warning_sent": "已发送数据备份确认",
    "backup_confirmed": "客户已确认数据备份",
    "backup_not_confirmed": "客户尚未备份数据",
    "remote_requested": "申请远程操作",
    "draft_suggested": "系统建议话术",
    "presend_override": "确认发送提醒项",
    "extension_requested": "工程师申请延期",
    "stable_run_started": "开始稳定运行观察",
    "stable_run_elapsed": "稳定运行观察期满",
    "suggestion_requested": "已征求客户建议",
    "suggestion_declined": "客户暂无建议",
    "suggestion_recorded": "已记录客户建议",
    "survey_sent": "已发送满意度调查",
    "satisfaction_reason": "客户说明不满意原因",
    "review_invited": "已邀请客户评价",
    "customer_linked": "已合并客户档案",
    "customer_recorded": "已登记客户称呼",
    "archived": "已归档知识库",
    "archive_skipped_duplicate": "重复方案，未归档",
    "warranty_assessed": "保修已判定",
    "rma_started": "配件已送原厂",
    "rma_returned": "配件已从原厂返回",
    "rma_chase_due": "须催促原厂",
    "onsite_scheduled": "已安排上门",
    "onsite_rescheduled": "上门已改期",
    "onsite_arrived": "工程师已到达现场",
    "checklist_ticked": "已勾选检查项",
    "stable_run_waived": "管理人员免除稳定运行观察",
    "return_shipped": "已寄回并告知物流单号",
    "contract_recorded": "已登记销售合同",
    "quote_sent": "已向客户报价",
    "quote_confirmed": "客户已确认报价",
    "repair_started": "开始维修",
    "repair_finished": "维修完成",
    "rma_return_promised": "原厂承诺返回日期",
    "loaner_sent": "已提供备用机",
    "loaner_returned": "备用机已归还",
    "routed_on_call": "已转值班工程师",
    "contact_recorded": "已记录通话/上门",
    "reminder_sent": "已提醒",
    "progress_update_due": "须发送进度更新",
    "delivery_problem": "消息未送达",
    "delivery_retried": "已再次发送",
    "delivery_confirmed": "已确认客户收到",
    "customer_forgotten": "客户个人信息已删除",
    "retention_masked": "超过保存期限，客户消息已脱敏",
    "note": "备注",
}

# What each SLA timer is for (`bot.lifecycle.TimerKind` values), as the ticket page,
# the queue, the manager page and the reminders page name it.
TIMER_LABELS: Mapping[str, str] = {
    "accept_engineer": "受理时限",
    "accept_manager": "受理超时（通知管理人员）",
    "solution_warning": "方案时限将到",
    "solution_due": "方案时限",
    "extension_due": "延期方案时限",
    "progress_update": "进度更新",
    "rma_chase": "催促原厂",
    "rma_product_manager": "产品经理介入",
    "archive_due": "归档时限",
    "stable_run_due": "稳定运行观察",
    "onsite_due": "上门时限",
    "repair_due": "维修时限",
    "fault_response_due": "故障等级响应时限",
    "remote_response_due": "远程响应时限",
    "complaint_reply_due": "投诉首次回复",
    "complaint_resolve_due": "投诉处理时限",
    "survey_due": "满意度回访",
}

# Why a reminder was sent (the ``reason`` of a ``reminder_sent`` event).
REMINDER_LABELS: Mapping[str, str] = {
    "accept_overdue": "工单超时未受理",
    "solution_due_soon": "方案时限将到，如需延期请尽快申请",
    "solution_overdue": "方案超时，已升级技术部",
    "extension_overdue": "延期后仍无方案，已升级技术部",
    "progress_day4": "第4个工作日：须向客户同步进度",
    "progress_day7": "第7个工作日：须向客户同步进度并提供替代品",
    "rma_chase": "须催促原厂保修进度",
    "rma_promised_date": "今天是原厂承诺的返回日期：请跟催",
    "rma_product_manager": "原厂保修超过15天：请产品经理介入",
    "repair_due": "维修时限已到",
    "repair_latest_due": "维修最长时限已到",
    "ready_for_delivery": "稳定运行观察期满，可以交付",
    "onsite_due": "今天是上门时限",
    "onsite_late": "上门时限已过仍未到达：请与客户重新约定上门时间",
    "archive_overdue": "关闭超过2个工作日仍未归档",
    "fault_response_overdue": "超过故障等级响应时间",
    "remote_response_overdue": "超过远程响应时间",
    "complaint_opened": "客户投诉",
    "complaint_reply_overdue": "投诉超过首次回复时限",
    "complaint_resolution_overdue": "投诉超过处理时限",
    "duty_routed": "已转值班工程师",
    "duty_rota_empty": "本月未排值班，须安排工程师",
    "duty_visit": "值班上门服务：须汇报情况",
    "customer_wrote_after_resolution": "客户在结单后再次来信：请回复",
    "low_satisfaction": "客户评价一般或不满意：请回访",
    "low_satisfaction_reason": "客户说明了不满意的原因：请跟进",
}

SCRIPT_LABELS: Mapping[str, str] = {
    ScriptKey.WELCOME: "欢迎语",
    ScriptKey.GREETING: "问候语",
    ScriptKey.REST_DAY_NOTICE: "休息日告知",
    ScriptKey.BACKUP_WARNING: "数据备份确认",
    ScriptKey.COMPLAINT_RESPONSE: "安抚抱怨",
    ScriptKey.DOUBT_RESPONSE: "回应质疑",
    ScriptKey.EMOTION_RESPONSE: "安抚情绪",
    ScriptKey.EXTENSION_CALL: "延期致电",
    ScriptKey.ESCALATION_NOTICE: "升级告知",
    ScriptKey.ONSITE_APPOINTMENT: "上门预约",
    ScriptKey.ONSITE_RESCHEDULE: "上门改期",
    ScriptKey.PROGRESS_DAY4: "第4日进度",
    ScriptKey.PROGRESS_DAY7: "第7日进度",
    ScriptKey.RETURN_SHIPPING: "归还预约",
    ScriptKey.WARRANTY_OUTCOME: "保修结果告知",
    ScriptKey.REPAIR_QUOTE: "维修报价",
    ScriptKey.THANKS: "感谢语",
    ScriptKey.RESPONSIBILITY: "负责语",
    ScriptKey.SUGGESTION_REQUEST: "征求建议",
    ScriptKey.REVIEW_INVITATION: "邀请评价",
    ScriptKey.SATISFACTION_SURVEY: "满意度调查",
    ScriptKey.SATISFACTION_REASON: "询问不满意原因",
    ScriptKey.TICKET_NUMBER: "告知工单号",
    ScriptKey.TICKET_STATUS: "工单状态查询",
    ScriptKey.AFTER_HOURS_NOTICE: "非服务时间告知",
    ScriptKey.HANDOVER: "转接告知",
}
