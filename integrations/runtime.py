"""Which WeChat and Alipay accounts serve which brand, and the clients that talk to them.

Accounts live per brand in `brand_channels` (secrets sealed). A single-brand deployment and the
demo brand take theirs from the environment (README); in demo mode whatever the environment does
not give comes from the built-in stand-ins (integrations/demo.py)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from domain.members.customers import Channel
from domain.payments.types import PaymentGateway

log = logging.getLogger("meiye.platforms")

WECHAT_ENV = {
    "app_id": "MEIYE_WECHAT_APPID", "secret": "MEIYE_WECHAT_SECRET", "api_base": "MEIYE_WECHAT_API_BASE",
    "mch_id": "MEIYE_WECHATPAY_MCHID", "private_key_pem": "MEIYE_WECHATPAY_PRIVATE_KEY_FILE", "cert_serial": "MEIYE_WECHATPAY_CERT_SERIAL",
    "apiv3_key": "MEIYE_WECHATPAY_APIV3_KEY", "platform_public_key_pem": "MEIYE_WECHATPAY_PUBLIC_KEY_FILE",
    "platform_public_key_id": "MEIYE_WECHATPAY_PUBLIC_KEY_ID", "pay_api_base": "MEIYE_WECHATPAY_API_BASE",
}
ALIPAY_ENV = {
    "app_id": "MEIYE_ALIPAY_APPID", "app_private_key_pem": "MEIYE_ALIPAY_PRIVATE_KEY_FILE",
    "alipay_public_key_pem": "MEIYE_ALIPAY_PUBLIC_KEY_FILE", "gateway": "MEIYE_ALIPAY_GATEWAY", "aes_key": "MEIYE_ALIPAY_AES_KEY",
    "seller_id": "MEIYE_ALIPAY_SELLER_ID",
}
# The settings of one merchant account. When the environment configures that account (WeChat Pay:
# its merchant id; Alipay: its app id), none of them may come from the demo stand-ins: a stand-in's
# seller id, key or gateway beside a real account makes every real callback a mismatch.
ACCOUNT_KEYS = {
    Channel.WECHAT: ("mch_id", "private_key_pem", "cert_serial", "apiv3_key", "platform_public_key_pem", "platform_public_key_id",
                     "pay_api_base", "demo"),
    Channel.ALIPAY: (*ALIPAY_ENV, "demo"),
}
ACCOUNT_MARKER = {Channel.WECHAT: "mch_id", Channel.ALIPAY: "app_id"}
REAL_DEFAULTS = {
    Channel.WECHAT: {"api_base": "https://api.weixin.qq.com", "pay_api_base": "https://api.mch.weixin.qq.com"},
    Channel.ALIPAY: {"gateway": "https://openapi.alipay.com/gateway.do"},
}


def config_from_env(channel: Channel, environ: dict | None = None) -> dict:
    """The variables set for this channel; `…_FILE` ones are read."""
    env = os.environ if environ is None else environ
    names = WECHAT_ENV if channel == Channel.WECHAT else ALIPAY_ENV
    found = {}
    for key, name in names.items():
        value = env.get(name)
        if value:
            found[key] = Path(value).read_text() if name.endswith("_FILE") else value
    return found


def account_config(channel: Channel, standin_config: dict | None, environ: dict | None = None) -> dict:
    """The environment's settings, over the stand-ins' only for an account the environment does not
    configure (demo mode pointed piece by piece at someone else's stand-in)."""
    env = config_from_env(channel, environ)
    base = dict(standin_config or {})
    if env.get(ACCOUNT_MARKER[channel]):
        base = {k: v for k, v in base.items() if k not in ACCOUNT_KEYS[channel]}
    return {**base, **env}


@dataclass
class ChannelApp:
    """One brand's account on one platform: login, phone verification and payments."""

    brand_id: int
    channel: Channel
    app_id: str
    merchant_id: str | None
    gateway: PaymentGateway | None
    login_client: object
    demo_phone_codes: bool = False

    async def login(self, code: str) -> str:
        if self.channel == Channel.WECHAT:
            return await self.login_client.code_to_session(code)
        return await self.gateway.oauth_token(code)

    async def verified_phone(self, code: str) -> str:
        if self.channel == Channel.WECHAT:
            return await self.login_client.phone_number(code)
        if self.demo_phone_codes and code.startswith("demo-phone:"):
            # The demo stand-in of Alipay's encrypted getPhoneNumber response.
            return code.split(":", 1)[1]
        return self.gateway.decrypt_phone(code)


@dataclass
class PlatformRegistry:
    apps: list[ChannelApp] = field(default_factory=list)

    def app(self, channel: Channel, app_id: str | None, brand_id: int | None = None) -> ChannelApp | None:
        """The account a mini-program request means: by its app id when it names one, else the
        brand's (or, for a single-brand deployment, the only) account on that channel."""
        found = [a for a in self.apps if a.channel == channel and (brand_id is None or a.brand_id == brand_id)]
        if app_id:
            found = [a for a in found if a.app_id == app_id]
        return found[0] if len(found) == 1 else None

    def by_app_id(self, channel: Channel, app_id: str) -> ChannelApp | None:
        return next((a for a in self.apps if a.channel == channel and a.app_id == app_id), None)

    async def send_refunds(self, services, refund_id: int) -> None:
        """After a desk refund commits: send its platform refunds now (integrations/refunds.py)."""
        from integrations.refunds import send_after_commit

        await send_after_commit(services, refund_id)


def build_app(row: dict, public_url: str) -> ChannelApp:
    """Clients for one stored account; notify URLs carry the app id so callbacks find their keys."""
    config = {**REAL_DEFAULTS[row["channel"]], **row["config"]}
    if row["channel"] == Channel.WECHAT:
        from integrations.wechat_login import WeChatMiniProgram
        from integrations.wechat_pay import WeChatPayConfig, WeChatPayGateway

        login = WeChatMiniProgram(config["app_id"], config.get("secret", ""), api_base=config["api_base"])
        gateway = None
        if config.get("mch_id") and config.get("private_key_pem"):
            gateway = WeChatPayGateway(
                WeChatPayConfig(
                    app_id=config["app_id"], mch_id=config["mch_id"], private_key_pem=config["private_key_pem"], cert_serial=config.get("cert_serial", ""),
                    apiv3_key=config["apiv3_key"], platform_public_key_pem=config["platform_public_key_pem"],
                    platform_public_key_id=config["platform_public_key_id"], api_base=config["pay_api_base"],
                    notify_url=f"{public_url}/notify/wechatpay/{config['app_id']}",
                )
            )
        return ChannelApp(row["brand_id"], Channel.WECHAT, config["app_id"], config.get("mch_id"), gateway, login)
    from urllib.parse import urlsplit

    from integrations.alipay import AlipayConfig, AlipayGateway, use_local_gateway

    gateway_url = urlsplit(config["gateway"])
    if gateway_url.port is not None:
        # The SDK cannot reach a gateway on an explicit port (stand-ins, tests) without this.
        use_local_gateway(gateway_url.hostname, gateway_url.port)
    gateway = AlipayGateway(
        AlipayConfig(
            app_id=config["app_id"], app_private_key_pem=config["app_private_key_pem"], alipay_public_key_pem=config["alipay_public_key_pem"],
            gateway=config["gateway"], notify_url=f"{public_url}/notify/alipay/{config['app_id']}", seller_id=config.get("seller_id"),
            aes_key=config.get("aes_key"),
        )
    )
    return ChannelApp(row["brand_id"], Channel.ALIPAY, config["app_id"], config.get("seller_id"), gateway, gateway,
                      demo_phone_codes=bool(config.get("demo")))


def build_registry(rows: list[dict], public_url: str) -> PlatformRegistry:
    apps = []
    for row in rows:
        try:
            apps.append(build_app(row, public_url))
        except Exception:  # noqa: BLE001 - one brand's broken account must not take the others down
            log.exception("cannot configure %s account %s of brand %s", row["channel"], row["app_id"], row["brand_id"])
    return PlatformRegistry(apps)


def public_url() -> str:
    return os.environ.get("MEIYE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")


async def setup(services, settings, standins) -> PlatformRegistry:
    """Store the environment's (and in demo mode the stand-ins') accounts for the brand they serve,
    then build clients for every brand's stored accounts."""
    from sqlalchemy import select

    from domain.brands.staff import staff
    from domain.brands.stores import brands
    from domain.db import write_transaction
    from domain.payments.channels import load_channels, save_channel

    async with write_transaction(services.engine) as db:
        if standins is not None:
            brand_id = await db.scalar(select(staff.c.brand_id).where(staff.c.username == "owner"))
        elif os.environ.get("MEIYE_MP_BRAND_ID"):
            brand_id = int(os.environ["MEIYE_MP_BRAND_ID"])
        else:
            ids = list((await db.execute(select(brands.c.id).limit(2))).scalars())
            brand_id = ids[0] if len(ids) == 1 else None
        if brand_id is not None:
            # Several workers start at once and each replaces the brand's accounts (delete, insert):
            # without this lock two of them insert the same account and one fails to start.
            # SQLite's write transaction is already exclusive.
            await db.execute(select(brands.c.id).where(brands.c.id == brand_id).with_for_update())
        stored = {(r["brand_id"], r["channel"]): r["config"] for r in await load_channels(db, services.cipher)} if standins is None else {}
        for channel in Channel:
            config = account_config(channel, standins.config(channel) if standins is not None else None)
            earlier = stored.get((brand_id, channel))
            if config_from_env(channel) and earlier and config.get("app_id", earlier.get("app_id")) == earlier.get("app_id"):
                # A worker started with part of the settings (say only MEIYE_WECHAT_API_BASE) keeps the
                # rest of what `serve` stored for the same account instead of wiping it.
                config = {**earlier, **config}
            if brand_id is not None and config.get("app_id"):
                await save_channel(
                    db, services.cipher, brand_id=brand_id, channel=channel, app_id=config["app_id"],
                    merchant_id=config.get("mch_id") if channel == Channel.WECHAT else config.get("seller_id"), config=config,
                )
        rows = await load_channels(db, services.cipher)
    if standins is not None:
        standins.activate()
    return build_registry(rows, public_url())


def demo_standins(settings):
    from integrations import demo

    if os.environ.get(demo.URL_ENV) and os.environ.get(demo.KEYS_ENV):
        # A worker of `meiye serve --demo --workers N`: the stand-ins run once, in the supervisor.
        return demo.DemoStandins.attached(public_url(), os.environ[demo.URL_ENV], os.environ[demo.KEYS_ENV])
    return demo.DemoStandins(public_url())
