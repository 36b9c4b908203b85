//! The output columns and the fixed level lists of the categorical columns.
//!
//! Every level the generator can ever emit, drift-only levels included, is in
//! these lists, and each column's dictionary is built once per process and
//! shared by every chunk, so a code is simply the index of its level.

use fathom_core::ColumnType;
use std::sync::{Arc, LazyLock};

/// The output columns, in order.
pub(crate) const COLUMNS: [(&str, ColumnType); 33] = [
    ("transaction_id", ColumnType::Numeric),
    ("card_id", ColumnType::Numeric),
    ("timestamp", ColumnType::Timestamp),
    ("amount", ColumnType::Numeric),
    ("merchant_category", ColumnType::Categorical),
    ("country", ColumnType::Categorical),
    ("device_type", ColumnType::Categorical),
    ("entry_mode", ColumnType::Categorical),
    ("is_online", ColumnType::Bool),
    ("is_international", ColumnType::Bool),
    ("hour", ColumnType::Numeric),
    ("day_of_week", ColumnType::Numeric),
    ("distance_from_home", ColumnType::Numeric),
    ("transactions_1h", ColumnType::Numeric),
    ("transactions_24h", ColumnType::Numeric),
    ("amount_sum_24h", ColumnType::Numeric),
    ("avg_amount_30d", ColumnType::Numeric),
    ("distinct_merchants_7d", ColumnType::Numeric),
    ("distinct_countries_30d", ColumnType::Numeric),
    ("time_since_last_txn_min", ColumnType::Numeric),
    ("failed_attempts_24h", ColumnType::Numeric),
    ("card_age_days", ColumnType::Numeric),
    ("customer_age", ColumnType::Numeric),
    ("credit_limit", ColumnType::Numeric),
    ("utilization", ColumnType::Numeric),
    ("chargebacks_365d", ColumnType::Numeric),
    ("ip_risk_score", ColumnType::Numeric),
    ("email_age_days", ColumnType::Numeric),
    ("is_3ds_authenticated", ColumnType::Bool),
    ("cvv_match", ColumnType::Bool),
    ("merchant_risk_score", ColumnType::Numeric),
    ("velocity_score", ColumnType::Numeric),
    ("is_fraud", ColumnType::Numeric),
];

/// The only columns that ever hold nulls.
pub(crate) const NULLABLE: [&str; 5] = [
    "device_type",
    "distance_from_home",
    "customer_age",
    "ip_risk_score",
    "email_age_days",
];

/// Merchant categories; the last two appear only in the `gradual` scenario.
pub(crate) const MERCHANT_LEVELS: [&str; 17] = [
    "grocery",
    "restaurant",
    "gas_station",
    "travel",
    "electronics",
    "jewelry",
    "online_retail",
    "entertainment",
    "health",
    "utilities",
    "clothing",
    "digital_goods",
    "gambling",
    "transport",
    "home_improvement",
    "crypto_exchange",
    "gift_cards",
];

/// Codes of [`MERCHANT_LEVELS`].
pub(crate) mod mc {
    pub const GROCERY: u32 = 0;
    pub const RESTAURANT: u32 = 1;
    pub const GAS_STATION: u32 = 2;
    pub const TRAVEL: u32 = 3;
    pub const ELECTRONICS: u32 = 4;
    pub const JEWELRY: u32 = 5;
    pub const ONLINE_RETAIL: u32 = 6;
    pub const ENTERTAINMENT: u32 = 7;
    pub const HEALTH: u32 = 8;
    pub const UTILITIES: u32 = 9;
    pub const CLOTHING: u32 = 10;
    pub const DIGITAL_GOODS: u32 = 11;
    pub const GAMBLING: u32 = 12;
    pub const TRANSPORT: u32 = 13;
    pub const HOME_IMPROVEMENT: u32 = 14;
    pub const CRYPTO_EXCHANGE: u32 = 15;
    pub const GIFT_CARDS: u32 = 16;
}

/// Per category: median amount (USD), log-scale spread, base merchant risk.
pub(crate) const CATEGORY_PROFILE: [(f64, f64, f64); 17] = [
    (42.0, 0.65, 0.08),  // grocery
    (33.0, 0.60, 0.10),  // restaurant
    (38.0, 0.45, 0.15),  // gas_station
    (290.0, 0.85, 0.30), // travel
    (160.0, 0.90, 0.40), // electronics
    (320.0, 0.95, 0.45), // jewelry
    (52.0, 0.85, 0.28),  // online_retail
    (28.0, 0.70, 0.18),  // entertainment
    (55.0, 0.80, 0.07),  // health
    (85.0, 0.50, 0.05),  // utilities
    (65.0, 0.70, 0.14),  // clothing
    (14.0, 0.80, 0.48),  // digital_goods
    (48.0, 0.95, 0.68),  // gambling
    (11.0, 0.60, 0.10),  // transport
    (105.0, 0.90, 0.12), // home_improvement
    (240.0, 1.00, 0.78), // crypto_exchange
    (70.0, 0.60, 0.62),  // gift_cards
];

/// ISO 3166 alpha-2 country codes; `US` is the home market.
pub(crate) const COUNTRY_LEVELS: [&str; 30] = [
    "US", "CA", "MX", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "SE", "CH", "PL", "PT", "BR", "AR",
    "CO", "JP", "CN", "IN", "SG", "AU", "NZ", "AE", "TR", "NG", "ZA", "RU", "PH", "KR",
];

/// Code of the home market.
pub(crate) const US: u32 = 0;

/// Device types.
pub(crate) const DEVICE_LEVELS: [&str; 4] = ["mobile", "desktop", "tablet", "pos_terminal"];

/// Codes of [`DEVICE_LEVELS`].
pub(crate) mod dev {
    pub const MOBILE: u32 = 0;
    pub const DESKTOP: u32 = 1;
    pub const TABLET: u32 = 2;
    pub const POS: u32 = 3;
}

/// Card entry modes.
pub(crate) const ENTRY_LEVELS: [&str; 5] = ["chip", "contactless", "swipe", "manual", "ecommerce"];

/// Codes of [`ENTRY_LEVELS`].
pub(crate) mod em {
    pub const CHIP: u32 = 0;
    pub const CONTACTLESS: u32 = 1;
    pub const SWIPE: u32 = 2;
    pub const MANUAL: u32 = 3;
    pub const ECOMMERCE: u32 = 4;
}

fn dictionary(levels: &[&str]) -> Arc<Vec<String>> {
    Arc::new(levels.iter().map(|s| (*s).to_string()).collect())
}

/// The shared dictionary of `merchant_category`.
pub(crate) static MERCHANT_DICT: LazyLock<Arc<Vec<String>>> =
    LazyLock::new(|| dictionary(&MERCHANT_LEVELS));
/// The shared dictionary of `country`.
pub(crate) static COUNTRY_DICT: LazyLock<Arc<Vec<String>>> =
    LazyLock::new(|| dictionary(&COUNTRY_LEVELS));
/// The shared dictionary of `device_type`.
pub(crate) static DEVICE_DICT: LazyLock<Arc<Vec<String>>> =
    LazyLock::new(|| dictionary(&DEVICE_LEVELS));
/// The shared dictionary of `entry_mode`.
pub(crate) static ENTRY_DICT: LazyLock<Arc<Vec<String>>> =
    LazyLock::new(|| dictionary(&ENTRY_LEVELS));
