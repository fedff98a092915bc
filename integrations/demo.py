"""Demo mode's platforms: the built-in stand-ins mounted in the server itself under /_standins,
with keys made at start. Whatever the environment sets (README) overrides them piece by piece, so
the demo can still be pointed at someone else's stand-in of WeChat Pay or Alipay."""

from __future__ import annotations

import dataclasses
import os

from domain.members.customers import Channel
from integrations.standins import StandIns, generate_demo_keys
from integrations.standins.keys import DEMO_ALIPAY_APP_ID, DEMO_WECHAT_APP_ID

PREFIX = "/_standins"


class DemoStandins:
    def __init__(self, public_url: str, standins: StandIns | None = None) -> None:
        """`standins` served elsewhere (tests run them on their own port) are configured as if mounted
        under `public_url`."""
        self.root = public_url.rstrip("/") + PREFIX
        if standins is not None:
            self.standins = standins
            return
        keys = generate_demo_keys()
        if os.environ.get("MEIYE_WECHAT_SECRET"):
            keys = dataclasses.replace(keys, wechat_app_secret=os.environ["MEIYE_WECHAT_SECRET"])
        self.standins = StandIns(
            keys,
            wechat_app_id=os.environ.get("MEIYE_WECHAT_APPID", DEMO_WECHAT_APP_ID),
            alipay_app_id=os.environ.get("MEIYE_ALIPAY_APPID", DEMO_ALIPAY_APP_ID),
        )

    def routes(self):
        return self.standins.routes(PREFIX)

    def config(self, channel: Channel) -> dict:
        s, k = self.standins, self.standins.keys
        if channel == Channel.WECHAT:
            return {
                "app_id": s.wechat.app_id, "secret": k.wechat_app_secret, "api_base": f"{self.root}/wechat",
                "mch_id": s.wechatpay.mch_id, "private_key_pem": k.wechat_merchant_private_key_pem, "cert_serial": k.wechat_merchant_cert_serial,
                "apiv3_key": k.wechat_apiv3_key, "platform_public_key_pem": k.wechat_platform_public_key_pem,
                "platform_public_key_id": k.wechat_platform_public_key_id, "pay_api_base": f"{self.root}/wechatpay", "demo": True,
            }
        return {
            "app_id": s.alipay.app_id, "app_private_key_pem": k.alipay_app_private_key_pem, "alipay_public_key_pem": k.alipay_public_key_pem,
            "gateway": f"{self.root}/alipay/gateway.do", "seller_id": s.alipay.seller_id, "aes_key": k.alipay_aes_key, "demo": True,
        }

    def activate(self) -> None:
        """Nothing to start: the stand-ins answer inside this server."""
