"""Local stand-ins of api.weixin.qq.com, WeChat Pay v3 and the Alipay gateway that sign and
encrypt exactly as the platforms do, so the real SDKs can be exercised offline (DESIGN.md §5).

Each stand-in is an ASGI (Starlette) app. Tests serve them on 127.0.0.1 with `StandInServer`;
demo mode mounts `StandIns.routes()` into the project's own server. Either way:

    standins = StandIns()                                    # fresh keys
    with StandInServer(Starlette(routes=standins.routes())) as server:
        gateways = standins.gateways(server.base_url, wechat_notify_url=…, alipay_notify_url=…)
        gateways.wechat_pay / gateways.alipay / gateways.login

`gateways()` also routes the Alipay SDK to the stand-in's host and port (`use_local_gateway`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.routing import Mount

from integrations.alipay import AlipayConfig, AlipayGateway, use_local_gateway
from integrations.standins.alipay_standin import AlipayStandIn
from integrations.standins.keys import (
    DEMO_ALIPAY_APP_ID,
    DEMO_ALIPAY_SELLER_ID,
    DEMO_WECHAT_APP_ID,
    DEMO_WECHAT_MCH_ID,
    DemoKeys,
    generate_demo_keys,
)
from integrations.standins.server import StandInServer
from integrations.standins.wechat_api_standin import WeChatApiStandIn
from integrations.standins.wechat_pay_standin import WeChatPayStandIn
from integrations.wechat_login import WeChatMiniProgram
from integrations.wechat_pay import WeChatPayConfig, WeChatPayGateway

__all__ = [
    "AlipayStandIn", "DemoGateways", "DemoKeys", "StandInServer", "StandIns", "WeChatApiStandIn", "WeChatPayStandIn",
    "generate_demo_keys", "DEMO_ALIPAY_APP_ID", "DEMO_ALIPAY_SELLER_ID", "DEMO_WECHAT_APP_ID", "DEMO_WECHAT_MCH_ID",
]


@dataclass(frozen=True)
class DemoGateways:
    login: WeChatMiniProgram
    wechat_pay: WeChatPayGateway
    alipay: AlipayGateway


class StandIns:
    """The three stand-ins sharing one set of keys and the demo identities."""

    def __init__(self, keys: DemoKeys | None = None, *, wechat_app_id: str = DEMO_WECHAT_APP_ID, wechat_mch_id: str = DEMO_WECHAT_MCH_ID,
                 alipay_app_id: str = DEMO_ALIPAY_APP_ID, alipay_seller_id: str = DEMO_ALIPAY_SELLER_ID) -> None:
        self.keys = keys or generate_demo_keys()
        self.wechat = WeChatApiStandIn(wechat_app_id, self.keys.wechat_app_secret)
        self.wechatpay = WeChatPayStandIn(self.keys, app_id=wechat_app_id, mch_id=wechat_mch_id)
        self.alipay = AlipayStandIn(self.keys, app_id=alipay_app_id, seller_id=alipay_seller_id)

    def routes(self, prefix: str = "/_standins") -> list[Mount]:
        return [Mount(f"{prefix}/wechat", app=self.wechat), Mount(f"{prefix}/wechatpay", app=self.wechatpay),
                Mount(f"{prefix}/alipay", app=self.alipay)]

    def wechat_pay_config(self, api_base: str, notify_url: str) -> WeChatPayConfig:
        k = self.keys
        return WeChatPayConfig(app_id=self.wechatpay.app_id, mch_id=self.wechatpay.mch_id, private_key_pem=k.wechat_merchant_private_key_pem,
                               cert_serial=k.wechat_merchant_cert_serial, apiv3_key=k.wechat_apiv3_key,
                               platform_public_key_pem=k.wechat_platform_public_key_pem,
                               platform_public_key_id=k.wechat_platform_public_key_id, api_base=api_base, notify_url=notify_url)

    def alipay_config(self, gateway: str, notify_url: str) -> AlipayConfig:
        k = self.keys
        return AlipayConfig(app_id=self.alipay.app_id, app_private_key_pem=k.alipay_app_private_key_pem, alipay_public_key_pem=k.alipay_public_key_pem,
                            gateway=gateway, notify_url=notify_url, seller_id=self.alipay.seller_id, aes_key=k.alipay_aes_key)

    def gateways(self, base_url: str, *, wechat_notify_url: str, alipay_notify_url: str, prefix: str = "/_standins") -> DemoGateways:
        """Our side, configured against stand-ins mounted with `routes(prefix)` at `base_url`."""
        root = base_url.rstrip("/") + prefix
        parts = urlsplit(root)
        if parts.port is not None:
            use_local_gateway(parts.hostname, parts.port)
        return DemoGateways(
            login=WeChatMiniProgram(self.wechat.app_id, self.keys.wechat_app_secret, api_base=f"{root}/wechat"),
            wechat_pay=WeChatPayGateway(self.wechat_pay_config(f"{root}/wechatpay", wechat_notify_url)),
            alipay=AlipayGateway(self.alipay_config(f"{root}/alipay/gateway.do", alipay_notify_url)),
        )
