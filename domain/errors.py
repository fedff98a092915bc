"""Domain errors with stable codes, and the words a person reads for each (zh default, en)."""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure of a business operation. Nothing it touched is committed."""

    def __init__(self, code: str, field: str | None = None, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params

    def message(self, lang: str = "zh") -> str:
        zh, en = MESSAGES.get(self.code, ("操作失败", "The operation failed"))
        template = en if lang == "en" else zh
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return template


# code: (中文, English). Codes are part of the API: clients branch on them, so never rename one.
MESSAGES: dict[str, tuple[str, str]] = {
    "INVALID_CREDENTIALS": ("用户名或密码错误", "Wrong username or password"),
    "LOGIN_THROTTLED": ("尝试次数过多，请{seconds}秒后再试", "Too many attempts; try again in {seconds} seconds"),
    "CANNOT_DEACTIVATE_SELF": ("不能停用自己的账号", "You cannot deactivate your own account"),
    # No longer answered (logins are throttled by LOGIN_THROTTLED); kept because codes are never removed.
    "ACCOUNT_LOCKED": ("登录失败次数过多，请{minutes}分钟后再试", "Too many failed logins; try again in {minutes} minutes"),
    "NOT_FOUND": ("{what}不存在", "{what} not found"),
    "REQUIRED": ("{what}不能为空", "{what} is required"),
    "TOO_LONG": ("{what}不能超过{max}个字符", "{what} must be at most {max} characters"),
    "INVALID_VALUE": ("{what}无效", "{what} is invalid"),
    "INVALID_PHONE": ("手机号格式不正确，请输入11位中国大陆手机号", "Enter an 11-digit mainland China mobile number"),
    "PHONE_TAKEN": ("该手机号已注册会员", "A member with this phone number already exists"),
    "CONSENT_REQUIRED": ("需要顾客同意隐私政策后才能登记", "The customer must consent to the privacy policy"),
    "AMOUNT_NOT_POSITIVE": ("金额必须大于0", "The amount must be greater than 0"),
    "AMOUNT_TOO_LARGE": ("金额不能超过{max}", "The amount must not exceed {max}"),
    "PERCENT_OUT_OF_RANGE": ("折扣须在1到100之间", "The discount must be between 1 and 100 percent"),
    "DUPLICATE_THRESHOLD": ("充值档位重复：{threshold}", "Duplicate top-up threshold: {threshold}"),
    "BONUS_TOO_LARGE": ("赠送金额不能超过充值门槛", "A bonus must not exceed its threshold"),
    "TOO_MANY": ("{what}最多{max}个", "At most {max} {what}"),
    "CARD_FROZEN": ("该卡已冻结", "This card is frozen"),
    "CARD_NOT_FROZEN": ("该卡未冻结", "This card is not frozen"),
    "CARD_MEMBER_MISMATCH": ("该卡不属于此会员", "This card does not belong to this member"),
    "CARD_PRODUCT_REQUIRED": ("请选择卡种或已有的卡", "Choose a card product or an existing card"),
    "INSUFFICIENT_BALANCE": ("卡内余额不足（可用{available}）", "Insufficient balance (available {available})"),
    "REFUND_EXCEEDS_SPEND": ("退款金额超过可退金额（可退{available}）", "Refund exceeds what can be refunded ({available})"),
    "NOT_REFUNDABLE": ("该交易不可退款", "This transaction cannot be refunded"),
    "STORE_FORBIDDEN": ("无权操作该门店", "You cannot act for this store"),
    "ROLE_FORBIDDEN": ("无权分配该角色", "You cannot assign this role"),
    "USERNAME_TAKEN": ("用户名已被使用", "This username is taken"),
    "PASSWORD_TOO_SHORT": ("密码至少{min}位", "The password must be at least {min} characters"),
    "IDEMPOTENCY_KEY_REQUIRED": ("缺少幂等键", "An idempotency key is required"),
    "IDEMPOTENCY_KEY_REUSED": ("幂等键已用于另一笔不同的操作", "This idempotency key was used for a different request"),
    "IDEMPOTENCY_IN_PROGRESS": ("相同请求正在处理中，请稍后重试", "The same request is still being processed; retry shortly"),
    "INVALID_CURSOR": ("分页游标无效", "Invalid pagination cursor"),
    "DUPLICATE_NAME": ("名称已存在：{name}", "Name already exists: {name}"),
    "COUNT_CARD_EXHAUSTED": ("次卡次数已用完", "No sessions left on this count card"),
    "COUNT_CARD_EXPIRED": ("次卡已过期", "This count card has expired"),
    "COUNT_CARD_INACTIVE": ("次卡已失效", "This count card is no longer valid"),
    "COUNT_CARD_NOT_FOR_SERVICE": ("该次卡不能用于此项目", "This count card does not cover this service"),
    "COUNT_CARD_STORE_NOT_ALLOWED": ("该次卡不能在本店使用", "This count card is not accepted at this store"),
    "COUNT_CARD_USED": ("次卡已使用，不能退款", "This count card has been used and cannot be refunded"),
    "DAILY_LIMIT_REACHED": ("今日使用次数已达上限（每日{limit}次）", "Daily limit reached ({limit} per day)"),
    "WEEKLY_LIMIT_REACHED": ("本周使用次数已达上限（每周{limit}次）", "Weekly limit reached ({limit} per week)"),
    "MEMBER_REQUIRED": ("请先选择会员", "Choose a member first"),
    "LINE_REQUIRED": ("每行须且只能选择一个项目、商品或次卡", "Each line needs exactly one service, product or count card"),
    "ORDER_EMPTY": ("订单没有任何项目", "The order has no lines"),
    "ORDER_HELD": ("订单已挂单，请先取单", "The order is on hold; resume it first"),
    "ORDER_NOT_OPEN": ("订单当前状态不能进行此操作", "The order cannot be changed in its current state"),
    "ORDER_NOT_HELD": ("订单未挂单", "The order is not on hold"),
    "ORDER_NOT_PAID": ("订单未结账，不能退款", "The order has not been paid, so it cannot be refunded"),
    "PAYMENT_MISMATCH": ("支付金额合计{paid}与应付{due}不一致", "Payments total {paid} but {due} is due"),
    "PAYMENT_INVALID": ("支付方式填写有误：{why}", "Invalid payment: {why}"),
    "CREDIT_LIMIT_EXCEEDED": ("超出挂账额度（可用{available}）", "Over the credit limit (available {available})"),
    "CREDIT_LIMIT_BELOW_DEBT": ("额度不能低于当前欠款{debt}", "The limit cannot be below the current debt {debt}"),
    "OVERPAYMENT": ("还款金额超过欠款{debt}", "The repayment exceeds the debt {debt}"),
    "COUPON_NOT_FOUND": ("优惠券不存在或不可用：{coupon}", "Coupon not found or not usable: {coupon}"),
    "REFUND_QUANTITY_EXCEEDED": ("退款数量超过可退数量（可退{available}）", "Refund quantity exceeds what is left ({available})"),
    "ALREADY_REFUNDED": ("订单已全部退款", "The order is already fully refunded"),
    "DATE_RANGE_INVALID": ("日期范围无效", "Invalid date range"),
    "ALREADY_BOUND": ("该账号已绑定其他会员", "This account is already bound to another member"),
    "NOT_BOUND": ("请先绑定手机号", "Bind your phone number first"),
    "LOGIN_FAILED": ("登录失败，请重试", "Login failed; please try again"),
    "PHONE_VERIFICATION_FAILED": ("手机号验证失败，请重试", "Phone verification failed; please try again"),
    "CHANNEL_MISMATCH": ("请使用{channel}支付", "Pay with {channel}"),
    "CHANNEL_NOT_CONFIGURED": ("暂不支持该支付方式", "This payment method is not available"),
    "PLATFORM_UNAVAILABLE": ("支付平台暂时不可用，请稍后重试", "The payment platform is unavailable; try again later"),
    "NO_CARD_PRODUCT": ("暂无可充值的储值卡", "No stored-value card is available to top up"),
    "STOCK_INSUFFICIENT": ("库存不足（现有{available}）", "Not enough stock ({available} left)"),
    "CARD_CLOSED": ("该卡已退卡注销", "This card has been cashed out and closed"),
    "CARD_PAYMENT_PENDING": ("该卡有未完成的线上支付，请待其完成后再退卡", "A mini-program payment for this card is pending; settle it first"),
    "CARD_ORDER_OPEN": ("该卡有未结账或挂单的订单，请先处理", "An open or held order names this card; settle it first"),
    "COUNT_CARD_CASH_OUT_NOT_ALLOWED": ("本品牌不支持次卡退卡", "This brand does not cash out count cards"),
    "CARD_STORE_NOT_ACCEPTED": ("该卡不能在本店使用", "This card is not accepted at this store"),
    "CROSS_STORE_LIMIT_EXCEEDED": ("超出今日跨店消费额度（剩余{available}）", "Over today's cross-store spending limit ({available} left)"),
    "MEMBERSHIP_FEE_REQUIRED": ("请收取会员费{amount}", "Take the membership fee of {amount}"),
    "MEMBERSHIP_FEE_MISMATCH": ("会员费应为{amount}", "The membership fee is {amount}"),
    "MEMBERSHIP_FEE_NOT_SET": ("本品牌未设置会员费", "This brand charges no membership fee"),
    "MEMBERSHIP_FEE_NOT_PAID": ("该会员未缴纳会员费", "This member paid no membership fee"),
    "MEMBERSHIP_FEE_REFUNDED": ("会员费已退", "The membership fee has already been refunded"),
    "CARD_NUMBER_TAKEN": ("该会员卡号已被使用", "This card number is already in use"),
    "CARD_QR_INVALID": ("会员码无效", "This member code is not valid"),
    "CARD_QR_EXPIRED": ("会员码已过期，请刷新", "This member code has expired; refresh it"),
    "CANNOT_CHANGE_SELF": ("不能修改自己的账号角色、门店或密码", "You cannot change your own role, store or password here"),
    "BILL_TOO_LARGE": ("对账单解压后超过{max}", "The bill is larger than {max} once decompressed"),
}
