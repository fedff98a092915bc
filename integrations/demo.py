"""Demo mode's platforms: the built-in stand-ins, with keys made at start. Whatever the environment
sets (README) overrides them piece by piece, so the demo can still be pointed at someone else's
stand-in of WeChat Pay or Alipay.

With one worker the stand-ins are mounted in the server itself under /_standins. With several, each
worker would otherwise hold its own in-memory orders (a JSAPI order made by one worker unknown to
the `demo/pay` that reaches another), so `meiye serve` runs them once, in its supervising process on
a port of their own (`serve_apart`), and hands the workers their address and keys through the
environment (`attached`); each worker's /_standins forwards there, so their URLs stay the same."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from domain.members.customers import Channel
from integrations.standins import DemoKeys, StandIns, generate_demo_keys
from integrations.standins.keys import DEMO_ALIPAY_APP_ID, DEMO_WECHAT_APP_ID

PREFIX = "/_standins"
# Set by `meiye serve` for its workers when the stand-ins run apart (never by an operator).
URL_ENV = "MEIYE_DEMO_STANDINS_URL"
KEYS_ENV = "MEIYE_DEMO_STANDINS_KEYS_FILE"


class DemoStandins:
    def __init__(self, public_url: str, standins: StandIns | None = None, *, served_at: str | None = None) -> None:
        """`standins` served elsewhere (tests run them on their own port) are configured as if mounted
        under `public_url`; `served_at` is the base URL of stand-ins another process serves."""
        self.served_at = served_at.rstrip("/") if served_at else None
        self.root = (self.served_at or public_url.rstrip("/")) + PREFIX
        if standins is not None:
            self.standins = standins
            return
        keys = generate_demo_keys()
        if os.environ.get("MEIYE_WECHAT_SECRET"):
            keys = dataclasses.replace(keys, wechat_app_secret=os.environ["MEIYE_WECHAT_SECRET"])
        self.standins = _standins(keys)

    @classmethod
    def attached(cls, public_url: str, served_at: str, keys_file: str) -> DemoStandins:
        """A worker's view of the stand-ins `serve_apart` runs: the same keys, reached over HTTP."""
        keys = DemoKeys(**json.loads(Path(keys_file).read_text()))
        return cls(public_url, _standins(keys), served_at=served_at)

    def routes(self):
        if self.served_at is None:
            return self.standins.routes(PREFIX)
        from starlette.routing import Mount

        from integrations.standins.proxy import Forward

        return [Mount(PREFIX, app=Forward(self.served_at))]

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
        """Nothing to start: the stand-ins answer inside this server, or in `meiye serve`'s own process."""

    def serve_apart(self, host: str = "127.0.0.1"):
        """Serve these stand-ins from this process on a free port, and point the workers this process
        will start at them (environment variables, keys in a file only this user can read). Returns
        the running server; stop() it when the workers are gone, then `forget()`."""
        from starlette.applications import Starlette

        from integrations.standins.server import StandInServer

        server = StandInServer(Starlette(routes=self.standins.routes(PREFIX)), host=host).start()
        folder = Path(tempfile.mkdtemp(prefix="meiye-standins-"))  # mkdtemp: mode 0700
        keys_file = folder / "keys.json"
        keys_file.write_text(json.dumps(dataclasses.asdict(self.standins.keys)))
        keys_file.chmod(0o600)
        os.environ[URL_ENV], os.environ[KEYS_ENV] = server.base_url, str(keys_file)
        return server


def forget() -> None:
    """Remove the keys file `serve_apart` wrote, once the workers have stopped."""
    keys_file = os.environ.pop(KEYS_ENV, None)
    os.environ.pop(URL_ENV, None)
    if keys_file:
        Path(keys_file).unlink(missing_ok=True)
        Path(keys_file).parent.rmdir()


def _standins(keys: DemoKeys) -> StandIns:
    return StandIns(
        keys,
        wechat_app_id=os.environ.get("MEIYE_WECHAT_APPID", DEMO_WECHAT_APP_ID),
        alipay_app_id=os.environ.get("MEIYE_ALIPAY_APPID", DEMO_ALIPAY_APP_ID),
    )
