"""Key material for the stand-ins and for demo mode, generated fresh with `cryptography`, and the
signing primitives both platforms use (RSA PKCS#1 v1.5 over SHA-256, base64)."""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEMO_WECHAT_APP_ID = "wx0123456789abcdef"
DEMO_WECHAT_MCH_ID = "1900000109"
DEMO_ALIPAY_APP_ID = "2021000000000001"
DEMO_ALIPAY_SELLER_ID = "2088000000000001"


@dataclass(frozen=True)
class DemoKeys:
    """Everything secret both platforms and our side need, as PEM (or plain) strings."""

    wechat_app_secret: str = field(repr=False)
    wechat_merchant_private_key_pem: str = field(repr=False)  # PKCS#8, like apiclient_key.pem
    wechat_merchant_public_key_pem: str
    wechat_merchant_cert_serial: str
    wechat_platform_private_key_pem: str = field(repr=False)
    wechat_platform_public_key_pem: str
    wechat_platform_public_key_id: str
    wechat_apiv3_key: str = field(repr=False)
    alipay_app_private_key_pem: str = field(repr=False)  # PKCS#8, as Alipay's key tool exports it
    alipay_app_public_key_pem: str
    alipay_private_key_pem: str = field(repr=False)  # the platform's own signing key
    alipay_public_key_pem: str
    alipay_aes_key: str = field(repr=False)  # base64 of 16 bytes


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_private(pem: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def load_public(pem: str):
    return serialization.load_pem_public_key(pem.encode())


def sign_b64(key: rsa.RSAPrivateKey, message: str, algorithm: hashes.HashAlgorithm | None = None) -> str:
    return base64.b64encode(key.sign(message.encode("utf-8"), padding.PKCS1v15(), algorithm or hashes.SHA256())).decode()


def verify_b64(public_key, message: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - InvalidSignature, bad base64: all mean "no"
        return False
    return True


def generate_demo_keys() -> DemoKeys:
    merchant, platform, app, alipay = (new_rsa_key() for _ in range(4))
    alphabet = string.ascii_letters + string.digits
    return DemoKeys(
        wechat_app_secret=secrets.token_hex(16),
        wechat_merchant_private_key_pem=private_pem(merchant),
        wechat_merchant_public_key_pem=public_pem(merchant),
        wechat_merchant_cert_serial=secrets.token_hex(20).upper(),
        wechat_platform_private_key_pem=private_pem(platform),
        wechat_platform_public_key_pem=public_pem(platform),
        wechat_platform_public_key_id="PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(28)),
        wechat_apiv3_key="".join(secrets.choice(alphabet) for _ in range(32)),
        alipay_app_private_key_pem=private_pem(app),
        alipay_app_public_key_pem=public_pem(app),
        alipay_private_key_pem=private_pem(alipay),
        alipay_public_key_pem=public_pem(alipay),
        alipay_aes_key=base64.b64encode(secrets.token_bytes(16)).decode(),
    )
