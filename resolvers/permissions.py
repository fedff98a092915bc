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
    "updateBrandSettings": frozenset({OWNER}),
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
    # stored value: technicians never touch money
    "storedValueCard": frozenset({OWNER, MANAGER, RECEPTION, FINANCE}),
    "topUp": frozenset({OWNER, MANAGER, RECEPTION}),
    "freezeCard": frozenset({OWNER, MANAGER, RECEPTION}),
    "unfreezeCard": frozenset({OWNER, MANAGER}),
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
    "checkout": frozenset({OWNER, MANAGER, RECEPTION}),
    "refundOrder": frozenset({OWNER, MANAGER}),
    "setCreditLimit": frozenset({OWNER, MANAGER}),
    "repayOnAccount": frozenset({OWNER, MANAGER, RECEPTION}),
    # reports
    "dailyClose": frozenset({OWNER, MANAGER, FINANCE}),
    "crossStoreSettlement": frozenset({OWNER, MANAGER, FINANCE}),
    "reconcileBill": frozenset({OWNER, FINANCE}),
    "technicianPerformance": frozenset({OWNER, MANAGER, FINANCE}),
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
}


def allowed(actor: Actor | None, operation: str) -> bool:
    if operation in PUBLIC:
        return True
    return actor is not None and actor.role in OPERATION_ROLES.get(operation, frozenset())
