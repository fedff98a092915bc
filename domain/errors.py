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
    "COUPON_EXPIRED": ("优惠券已过期：{coupon}", "This coupon has expired: {coupon}"),
    "COUPON_NOT_YET_VALID": ("优惠券尚未生效：{coupon}", "This coupon is not valid yet: {coupon}"),
    "COUPON_USED": ("优惠券已使用：{coupon}", "This coupon has been used: {coupon}"),
    "COUPON_VOID": ("优惠券已作废：{coupon}", "This coupon has been voided: {coupon}"),
    "COUPON_OTHER_MEMBER": ("该券不属于本单会员：{coupon}", "This coupon belongs to another member: {coupon}"),
    "COUPON_STORE_OUT_OF_SCOPE": ("该券不能在本店使用：{coupon}", "This coupon is not accepted at this store: {coupon}"),
    "COUPON_SERVICE_OUT_OF_SCOPE": ("本单没有该券适用的项目：{coupon}", "Nothing on this order is covered by this coupon: {coupon}"),
    "COUPON_THRESHOLD_NOT_MET": ("未达到该券的使用门槛：{coupon}", "This order does not reach the coupon's minimum: {coupon}"),
    "COUPON_LIMIT_REACHED": ("该券已达使用上限：{coupon}", "This coupon's usage limit has been reached: {coupon}"),
    "COUPON_DOES_NOT_STACK": ("该券不能与其他优惠券同时使用：{coupon}", "This coupon cannot be combined with another coupon: {coupon}"),
    "COUPON_DUPLICATE": ("同一张券只能使用一次：{coupon}", "The same coupon was given twice: {coupon}"),
    "COUPON_NOTHING_TO_DISCOUNT": ("其他优惠券已抵扣完适用项目：{coupon}", "Other coupons already cover what this one applies to: {coupon}"),
    "COUPON_QR_INVALID": ("券码校验失败，请重新扫码", "The scanned coupon code failed verification; scan again"),
    "COUPON_TEMPLATE_EXPIRED": ("该券模板已过期，不能再发放", "This coupon template has expired and can no longer be issued"),
    "COUPON_NOT_EXCHANGEABLE": ("该券不能用积分兑换", "This coupon cannot be exchanged for points"),
    "COUPON_NOT_ISSUED": ("已达发放上限，未能发放", "A limit was reached; no coupon was issued"),
    "INSUFFICIENT_POINTS": ("积分不足", "Not enough points"),
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
    "INVALID_TEXT": ("{what}含有不允许的控制字符", "{what} contains a control character that is not allowed"),
    # bookings, shifts and reviews
    "SLOT_TAKEN": ("该时段已被预约，请选择其他时间", "This time is already booked; choose another"),
    "OUTSIDE_SHIFT": ("技师该时段不在班", "The technician is not working at that time"),
    "NO_RESOURCE": ("本店没有该项目所需的房间或设备", "This store has no room or equipment this service needs"),
    "TECHNICIAN_NOT_QUALIFIED": ("该技师不能做此项目", "This technician does not perform this service"),
    "TECHNICIAN_NOT_AT_STORE": ("该技师不在此门店", "This technician does not work at this store"),
    "BOOKING_TOO_SOON": ("需至少提前{minutes}分钟预约", "Book at least {minutes} minutes ahead"),
    "BOOKING_IN_PAST": ("不能预约已过去的时间", "That time has passed"),
    "BOOKING_TOO_FAR": ("最多提前{days}天预约", "Book at most {days} days ahead"),
    "BOOKING_STATUS": ("预约当前状态（{status}）不能进行此操作", "The booking cannot do this in its current state ({status})"),
    "CANCEL_TOO_LATE": ("距开始不足{hours}小时，请联系门店取消", "Less than {hours} hours before the start: ask the store to cancel"),
    "NO_SHOW_TOO_EARLY": ("预约尚未开始，不能标记爽约", "The booking has not started yet"),
    "CHECK_IN_TOO_EARLY": ("预约当天才能到店签到", "Check-in opens on the day of the booking"),
    "SHIFTS_OVERLAP": ("同一天的班次不能重叠", "Shifts of one day must not overlap"),
    "SHIFT_HAS_BOOKINGS": ("有{count}个预约在此排班之外，请先改约或取消", "{count} bookings would fall outside the shifts; move or cancel them first"),
    "NOT_REVIEWABLE": ("该项目不能评价", "This line cannot be reviewed"),
    "REVIEW_WINDOW_CLOSED": ("已超过{days}天评价期限", "Reviews close {days} days after payment"),
    "ALREADY_REVIEWED": ("该项目已评价过", "This line has already been reviewed"),
    "COUNT_CARD_REQUIRES_BOOKING": ("该次卡需提前预约，只能用于预约到店的订单", "This count card requires a booking: use it on an order from a booking check-in"),
    # points, referrals (marketing)
    "REFERRAL_CODE_NOT_FOUND": ("推荐码不存在", "Referral code not found"),
    "REFERRAL_SELF": ("不能使用自己的推荐码", "A member cannot use their own referral code"),
    "REFERRAL_ALREADY_LINKED": ("该会员已有推荐人", "This member already has a referrer"),
    "REFERRAL_NOT_NEW_MEMBER": ("该手机号已是会员，不能再被邀请", "This phone is already a member and cannot be referred"),
    # notifications
    "TEMPLATE_KEYWORD_UNKNOWN": ("未知的模板关键词类型：{key}（应为 thing1、amount2、time3 等）", "Unknown template keyword: {key} (expected thing1, amount2, time3, …)"),
    "TEMPLATE_PLACEHOLDER_UNKNOWN": ("{kind}没有占位符{placeholder}（可用：{known}）", "{kind} has no placeholder {placeholder} (known: {known})"),
    "TEMPLATE_SYNTAX": ("模板内容中的花括号只能用来写占位符，如{{balance}}：{text}", "Braces in a template may only write a placeholder such as {{balance}}: {text}"),
    "TEMPLATE_KEYWORD_MISMATCH": ("关键词{key}的类型不能填入{placeholder}", "Keyword {key} cannot hold {placeholder}"),
    "NOTIFICATION_NOT_RESENDABLE": ("该通知当前状态（{status}）不能重发", "This notification cannot be resent in its state ({status})"),
    "NOTIFICATION_NO_QUOTA": ("顾客没有可用的订阅次数，不能重发", "The customer has no subscription quota left; it cannot be resent"),
}

# Codes of refusals that happen before any field runs (the HTTP body, the document's cost): they
# appear only as a top-level error's extensions.code, never in a payload, so they are not ErrorCode values.
REQUEST_MESSAGES: dict[str, tuple[str, str]] = {
    "PAYLOAD_TOO_LARGE": ("请求体不能超过{max}字节", "The request body must be at most {max} bytes"),
    "UNSUPPORTED_MEDIA_TYPE": ("请求体须为 application/json", "The request body must be application/json"),
    "BAD_REQUEST": ("请求无效：{why}", "Bad request: {why}"),
    "QUERY_TOO_COSTLY": ("查询过于复杂（估算代价{cost}，上限{max}），请减少分页大小或字段", "The query is too costly (estimated {cost}, at most {max}); ask for smaller pages or fewer fields"),
    "QUERY_TOO_DEEP": ("查询嵌套过深（最多{max}层）", "The query is nested too deeply (at most {max} levels)"),
    "TOO_MANY_ALIASES": ("别名过多（{count}个，最多{max}个）", "Too many aliases ({count}, at most {max})"),
    "EMPTY_SELECTION": ("选择集不能为空", "A selection set must not be empty"),
}


def request_message(code: str, lang: str | None = None, **params: object) -> str:
    """One language when known (the HTTP layer reads Accept-Language); both when not (validation
    results are cached per document, so they cannot depend on who asked)."""
    zh, en = REQUEST_MESSAGES[code]
    if lang is None:
        return f"{zh.format(**params)} / {en.format(**params)}"
    return (en if lang == "en" else zh).format(**params)
