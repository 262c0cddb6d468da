"""The welcome line: how to report a fault, and when someone answers (ScriptKey.WELCOME).

The 公众号 answers subscribe, SCAN and menu CLICK events with it (a passive
reply, which does not use the 48 h window's five messages); 微信客服 sends it
with `send_msg_on_event` and the ``welcome_code`` of an ``enter_session``
event.  It is not stored in the transcript: it is not part of any ticket, and
the first agent line of a session must stay the engineer's greeting (SCR001).
The hours come from the policy, as the web chat page shows them.
"""

from __future__ import annotations

from compliance.policy import Policy
from scripts_library import ScriptKey, WelcomeInputs, render


def service_hours(policy: Policy, channel: str) -> str:
    """When `channel` is attended, as customers read it: ``每天 09:30–18:00`` or ``7×24小时``."""
    hours = policy.hours[policy.channel(channel).hours]
    if hours.always:
        return "7×24小时"
    assert hours.opens is not None and hours.closes is not None  # validated at load
    return f"每天 {hours.opens:%H:%M}–{hours.closes:%H:%M}"


def welcome_line(policy: Policy, channel: str) -> str:
    """The welcome line for `channel` (its emoji style), from the policy's centre and hours."""
    inputs = WelcomeInputs(
        chat_hours=service_hours(policy, channel),
        hotline=policy.company.hotline,
        phone_hours=service_hours(policy, "phone"),
        centre=policy.company.centre,
    )
    return render(ScriptKey.WELCOME, inputs, channel)
