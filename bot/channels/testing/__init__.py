"""Recording fakes of the Tencent side of the channels, for tests and benchmarks.

`FakeWeChatApi` and `FakeKfApi` stand in for ``api.weixin.qq.com`` and
``qyapi.weixin.qq.com`` (aiohttp apps that record every call and can be
scripted to fail, answer late or refuse); `WeChatCallbacks` and
`KfCallbacks` build the signed, encrypted webhook requests WeChat and WeCom
send us.  Nothing here is mounted by the bot itself.
"""

from bot.channels.testing.wechat import (
    FakeWeChatApi,
    Mode,
    RecordedCall,
    Scripted,
    SignedRequest,
    WeChatCallbacks,
    message_xml,
)
from bot.channels.testing.wecom import (
    CORP_ID,
    KF_AES_KEY,
    KF_TOKEN,
    OPEN_KFID,
    FakeKfApi,
    KfCallbacks,
    SignedCallback,
)

__all__ = [
    "CORP_ID",
    "KF_AES_KEY",
    "KF_TOKEN",
    "OPEN_KFID",
    "FakeKfApi",
    "FakeWeChatApi",
    "KfCallbacks",
    "Mode",
    "RecordedCall",
    "Scripted",
    "SignedCallback",
    "SignedRequest",
    "WeChatCallbacks",
    "message_xml",
]
