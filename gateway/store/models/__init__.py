"""Every table, one module a wing, on the one declarative base (``base``). Money is integer
cents; every row that belongs to an environment says which."""

from .accounts import DashboardSession, MerchantInvitation, MerchantUser, PasswordReset, User
from .admin import Adjustment, AuditRecord
from .apps import Charge, OAuthApp, OAuthCode, OAuthToken
from .auto_top_ups import AUTO_TOP_UP_DUE, AutoTopUp, AutoTopUpRun
from .base import Base, table_of
from .checkins import CheckIn, CheckInConfig
from .fulfilment import Fulfilment, FulfilmentSetting, UpstreamKey
from .funding import (
    Coupon,
    CouponUse,
    FundingOrder,
    OrderRefund,
    Pack,
    PaymentChannel,
    PaymentNotice,
    RedemptionCode,
)
from .keys import MANAGED_LIVE, ApiKeyRow, IdempotencyRecord
from .ledger import GRANT_LIVE, CreditDraw, CreditGrant, LedgerEntry, Wallet
from .mail import Mail
from .merchants import Merchant, SandboxClock, VoucherRedemption
from .payer_keys import PayerKey, PaymentFunding
from .payments import (
    PAYMENTS_HOLDING,
    PayeeBinding,
    SellerPayment,
    SellerPaymentChallenge,
    SellerPaymentWork,
    TreasuryCheck,
    TreasuryEntry,
    TreasuryFloat,
)
from .policies import ALERT_DUE, Budget, KeySpend, PolicyTemplate, PolicyTemplateChange
from .receipts import BillingProfile, Receipt, ReceiptSeries
from .subscriptions import (
    SUBSCRIPTION_HOLDS,
    Plan,
    Subscription,
    SubscriptionFailure,
    SubscriptionInvoice,
)
from .telegram import TelegramChat, TelegramLinkCode, TelegramMessage
from .topups import AWAITING_APPROVAL, HELD_STATUSES, ApprovalLink, RecipientLinkRevocation, Topup
from .webhooks import (
    BATCHED,
    DELIVERY_FILLFACTOR,
    HELD_BY_THROTTLE,
    ORDERED_HEAD,
    RELAYED_EVENTS,
    RELAYED_TYPES,
    DeliveryAttempt,
    Event,
    OperationalCount,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookInbox,
    WebhookInboxRequest,
    WebhookPoller,
    WebhookReplayJob,
)

__all__ = [
    "ALERT_DUE",
    "AUTO_TOP_UP_DUE",
    "AWAITING_APPROVAL",
    "BATCHED",
    "DELIVERY_FILLFACTOR",
    "GRANT_LIVE",
    "HELD_BY_THROTTLE",
    "HELD_STATUSES",
    "MANAGED_LIVE",
    "ORDERED_HEAD",
    "PAYMENTS_HOLDING",
    "RELAYED_EVENTS",
    "RELAYED_TYPES",
    "SUBSCRIPTION_HOLDS",
    "Adjustment",
    "ApiKeyRow",
    "ApprovalLink",
    "AuditRecord",
    "AutoTopUp",
    "AutoTopUpRun",
    "Base",
    "BillingProfile",
    "Budget",
    "Charge",
    "CheckIn",
    "CheckInConfig",
    "Coupon",
    "CouponUse",
    "CreditDraw",
    "CreditGrant",
    "DashboardSession",
    "DeliveryAttempt",
    "Event",
    "Fulfilment",
    "FulfilmentSetting",
    "FundingOrder",
    "IdempotencyRecord",
    "KeySpend",
    "LedgerEntry",
    "Mail",
    "Merchant",
    "MerchantInvitation",
    "MerchantUser",
    "OAuthApp",
    "OAuthCode",
    "OAuthToken",
    "OperationalCount",
    "OrderRefund",
    "Pack",
    "PasswordReset",
    "PayeeBinding",
    "PayerKey",
    "PaymentChannel",
    "PaymentFunding",
    "PaymentNotice",
    "Plan",
    "PolicyTemplate",
    "PolicyTemplateChange",
    "Receipt",
    "ReceiptSeries",
    "RecipientLinkRevocation",
    "RedemptionCode",
    "SandboxClock",
    "SellerPayment",
    "SellerPaymentChallenge",
    "SellerPaymentWork",
    "Subscription",
    "SubscriptionFailure",
    "SubscriptionInvoice",
    "TelegramChat",
    "TelegramLinkCode",
    "TelegramMessage",
    "Topup",
    "TreasuryCheck",
    "TreasuryEntry",
    "TreasuryFloat",
    "UpstreamKey",
    "User",
    "VoucherRedemption",
    "Wallet",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookInbox",
    "WebhookInboxRequest",
    "WebhookPoller",
    "WebhookReplayJob",
    "table_of",
]
