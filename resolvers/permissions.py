"""Which roles may call each operation. Every root field of the staff schema has a row here, and a
test walks every row with every role and with no token; a field without a row is refused."""

from __future__ import annotations

from domain.actor import Actor, Role

OWNER = Role.OWNER
MANAGER = Role.STORE_MANAGER
RECEPTION = Role.RECEPTIONIST
TECHNICIAN = Role.TECHNICIAN
FINANCE = Role.FINANCE
MARKETER = Role.MARKETER
EVERY_ROLE = frozenset(Role)

PUBLIC = frozenset({"staffLogin"})

OPERATION_ROLES: dict[str, frozenset[Role]] = {
    # who am I, and the brand's shape
    "viewer": EVERY_ROLE,
    "brand": EVERY_ROLE,
    "stores": EVERY_ROLE,
    "staffMembers": frozenset({OWNER, MANAGER}),
    "createStore": frozenset({OWNER}),
    "createStaff": frozenset({OWNER, MANAGER}),
    # the owner: anyone but themselves; a manager: their own store's desk staff (domain/staff_accounts.py)
    "deactivateStaff": frozenset({OWNER, MANAGER}),
    "reactivateStaff": frozenset({OWNER, MANAGER}),
    # the same rule (domain/brands/staff_changes.py); a manager's staff stay desk staff of their store
    "updateStaff": frozenset({OWNER, MANAGER}),
    "resetStaffPassword": frozenset({OWNER, MANAGER}),
    "updateBrandSettings": frozenset({OWNER}),
    # Relay refetch: every role, then each type answers what its own query would (resolvers/nodes.py)
    "node": EVERY_ROLE,
    "nodes": EVERY_ROLE,
    # catalogue and card products: HQ defines them, everyone reads them
    "services": EVERY_ROLE,
    "createService": frozenset({OWNER}),
    "storedValueCardProducts": EVERY_ROLE,
    "createStoredValueCardProduct": frozenset({OWNER}),
    # members: everyone serving a customer can find them; phones are masked by role
    "member": EVERY_ROLE,
    "members": EVERY_ROLE,
    "registerMember": frozenset({OWNER, MANAGER, RECEPTION}),
    "updateMember": frozenset({OWNER, MANAGER, RECEPTION, MARKETER}),
    # member cards: the desk binds them and scans them; everyone serving a customer can find them
    "bindMemberCard": frozenset({OWNER, MANAGER, RECEPTION}),
    "memberByCard": EVERY_ROLE,
    "memberByCardQr": EVERY_ROLE,
    # 会员费 is refunded like a sale: by a manager
    "refundMembershipFee": frozenset({OWNER, MANAGER}),
    # stored value: technicians never touch money
    "storedValueCard": frozenset({OWNER, MANAGER, RECEPTION, FINANCE}),
    "topUp": frozenset({OWNER, MANAGER, RECEPTION}),
    "freezeCard": frozenset({OWNER, MANAGER, RECEPTION}),
    "unfreezeCard": frozenset({OWNER, MANAGER}),
    # 退卡: a manager pays money out of the issuing store's drawer (domain/cards/cash_out.py)
    "cashOutCard": frozenset({OWNER, MANAGER}),
    "cashOutCountCard": frozenset({OWNER, MANAGER}),
    # catalogue beyond services
    "retailProducts": EVERY_ROLE,
    "createRetailProduct": frozenset({OWNER}),
    "countCardProducts": EVERY_ROLE,
    "createCountCardProduct": frozenset({OWNER}),
    "setStorePrice": frozenset({OWNER, MANAGER}),
    # the front desk's day
    "openOrder": frozenset({OWNER, MANAGER, RECEPTION}),
    "addOrderLines": frozenset({OWNER, MANAGER, RECEPTION}),
    "removeOrderLine": frozenset({OWNER, MANAGER, RECEPTION}),
    "holdOrder": frozenset({OWNER, MANAGER, RECEPTION}),
    "resumeOrder": frozenset({OWNER, MANAGER, RECEPTION}),
    "cancelOrder": frozenset({OWNER, MANAGER, RECEPTION}),
    "heldOrders": frozenset({OWNER, MANAGER, RECEPTION}),
    "order": frozenset({OWNER, MANAGER, RECEPTION, FINANCE}),
    # 收银流水: the same readers as one order; store-bound staff see their own store's
    "orders": frozenset({OWNER, MANAGER, RECEPTION, FINANCE}),
    "checkout": frozenset({OWNER, MANAGER, RECEPTION}),
    "refundOrder": frozenset({OWNER, MANAGER}),
    "setCreditLimit": frozenset({OWNER, MANAGER}),
    "repayOnAccount": frozenset({OWNER, MANAGER, RECEPTION}),
    # coupons: marketers manage templates and issue; the desk looks up, checks and redeems (in checkout)
    "couponTemplates": EVERY_ROLE,
    "createCouponTemplate": frozenset({OWNER, MARKETER}),
    "issueCoupons": frozenset({OWNER, MARKETER}),
    "couponIssuePreview": frozenset({OWNER, MARKETER}),
    "couponRules": frozenset({OWNER, MARKETER}),
    "createCouponRule": frozenset({OWNER, MARKETER}),
    "coupon": frozenset({OWNER, MANAGER, RECEPTION, MARKETER}),
    "couponCheck": frozenset({OWNER, MANAGER, RECEPTION}),
    "exchangePoints": frozenset({OWNER, MANAGER, RECEPTION}),
    # retail stock (库存): the desk receives deliveries and sees the shelf; managers correct and move it
    "stock": frozenset({OWNER, MANAGER, RECEPTION, FINANCE}),
    "lowStock": frozenset({OWNER, MANAGER, RECEPTION}),
    "receiveStock": frozenset({OWNER, MANAGER, RECEPTION}),
    "adjustStock": frozenset({OWNER, MANAGER}),
    "countStock": frozenset({OWNER, MANAGER}),
    "transferStock": frozenset({OWNER, MANAGER}),
    "setLowStockThreshold": frozenset({OWNER, MANAGER}),
    "operationSettings": frozenset({OWNER, MANAGER, FINANCE}),
    "updateOperationSettings": frozenset({OWNER}),
    # reports
    "dailyClose": frozenset({OWNER, MANAGER, FINANCE}),
    "crossStoreSettlement": frozenset({OWNER, MANAGER, FINANCE}),
    "reconcileBill": frozenset({OWNER, FINANCE}),
    "platformRefunds": frozenset({OWNER, FINANCE}),
    "technicianPerformance": frozenset({OWNER, MANAGER, FINANCE, TECHNICIAN}),
    "prepaidLiability": frozenset({OWNER, FINANCE}),
    "commissionRules": frozenset({OWNER, MANAGER, FINANCE}),
    "setCommissionRules": frozenset({OWNER}),
    "setEscrowRatio": frozenset({OWNER, FINANCE}),
    "memberValue": frozenset({OWNER, MANAGER, FINANCE, MARKETER}),
    # notifications: marketing owns the templates and watches what went out
    "notificationTemplates": frozenset({OWNER, MANAGER, MARKETER}),
    "setNotificationTemplate": frozenset({OWNER, MARKETER}),
    "notificationSettings": frozenset({OWNER, MANAGER, MARKETER}),
    "updateNotificationSettings": frozenset({OWNER}),
    "notifications": frozenset({OWNER, MANAGER, FINANCE, MARKETER}),
    "resendNotification": frozenset({OWNER, MANAGER, MARKETER}),
    # oversight
    "auditLog": frozenset({OWNER, MANAGER, FINANCE}),
    # bookings: managers set shifts and resources, the desk books, technicians see their own day
    "resources": EVERY_ROLE,
    "createResource": frozenset({OWNER, MANAGER}),
    "updateService": frozenset({OWNER}),
    "setShifts": frozenset({OWNER, MANAGER}),
    "shifts": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "availability": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "bookings": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "createBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "rescheduleBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "cancelBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "confirmBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "markNoShow": frozenset({OWNER, MANAGER, RECEPTION}),
    "checkInBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "completeBooking": frozenset({OWNER, MANAGER, RECEPTION}),
    "waitlist": frozenset({OWNER, MANAGER, RECEPTION}),
    "bookingSettings": EVERY_ROLE,
    "updateBookingSettings": frozenset({OWNER}),
    # reviews: technicians read their own; managers reply and hide
    "reviews": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "replyToReview": frozenset({OWNER, MANAGER}),
    "hideReview": frozenset({OWNER, MANAGER}),
    "technicianLeaderboard": frozenset({OWNER, MANAGER, FINANCE, MARKETER}),
    # loyalty: the brand's tier rules; points corrected by the owner or the member's home-store manager
    "tierRules": EVERY_ROLE,
    "setTierRules": frozenset({OWNER}),
    "adjustPoints": frozenset({OWNER, MANAGER}),
    # marketing: marketers manage segments, campaigns and the referral reward; the desk can tell customers the reward
    "segment": frozenset({OWNER, MARKETER}),
    "segments": frozenset({OWNER, MARKETER}),
    "createSegment": frozenset({OWNER, MARKETER}),
    "campaigns": frozenset({OWNER, MARKETER}),
    "campaignPreview": frozenset({OWNER, MARKETER}),
    "launchCampaign": frozenset({OWNER, MARKETER}),
    "referralReward": frozenset({OWNER, MANAGER, RECEPTION, MARKETER}),
    "setReferralReward": frozenset({OWNER, MARKETER}),
}


# Fields that not every role reaching their object may read: `Type.field` -> roles. Technicians
# and marketers find members (to serve them, to plan campaigns) but do not see money, the same rule
# as storedValueCard(id): balances, on-account debt and the stored-value statement are refused to
# them with a FORBIDDEN error on that field's path (the rest of the member still answers).
# Listed with every role, to say it was decided: count cards (sessions left, no amounts: the
# technician serves them and must see what is left) and points (loyalty, not money: marketers
# segment by them).
MONEY_ROLES = frozenset({OWNER, MANAGER, RECEPTION, FINANCE})
FIELD_ROLES: dict[str, frozenset[Role]] = {
    "Member.storedValueCards": MONEY_ROLES,
    "Member.onAccount": MONEY_ROLES,
    "Member.transactions": MONEY_ROLES,
    "Member.countCards": EVERY_ROLE,
    "Member.points": EVERY_ROLE,
    "Member.membershipFee": MONEY_ROLES,
    # The profile (domain/members/profiles.py), sealed at rest. Allergies, preferences and notes
    # are for whoever serves the customer: technicians must see allergies before a treatment;
    # finance and marketing have no need of them. The birthday is for the desk and for birthday
    # campaigns; gender for everyone. Writing a field (registerMember, updateMember) needs the
    # same role as reading it.
    "Member.birthday": frozenset({OWNER, MANAGER, RECEPTION, MARKETER}),
    "Member.gender": EVERY_ROLE,
    "Member.allergies": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "Member.preferences": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
    "Member.notes": frozenset({OWNER, MANAGER, RECEPTION, TECHNICIAN}),
}


def field_allowed(actor: Actor | None, field: str) -> bool:
    return actor is not None and actor.role in FIELD_ROLES.get(field, EVERY_ROLE)


def allowed(actor: Actor | None, operation: str) -> bool:
    if operation in PUBLIC:
        return True
    return actor is not None and actor.role in OPERATION_ROLES.get(operation, frozenset())
