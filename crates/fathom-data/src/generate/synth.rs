//! Row synthesis: card profiles, the legitimate and fraudulent transaction
//! patterns, and the filling of one chunk.
//!
//! Generation is label-first. A row's timestamp is drawn first (from the
//! arrival intensity), then its label with a probability that depends on the
//! hour only (fraud is likelier at night) and is normalised so that the
//! overall rate is the configured one, then a *pattern* conditional on the
//! label, and finally every feature from that pattern:
//!
//! * legitimate: ordinary shopping (including commuters tapping transit
//!   several times an hour and occasional users whose last payment was days
//!   ago), travellers abroad, large planned purchases, online shoppers behind
//!   risky networks or with new e-mail accounts, and bursts of small
//!   contactless payments;
//! * fraud: card testing (small online payments in quick succession,
//!   sometimes failed attempts or CVV mismatches), account takeover (new
//!   e-mail on an old card, risky IP, often no 3-D Secure, a dormant account
//!   woken up, amounts several times the usual basket or just under a review
//!   threshold), skimmed cards used in person (abroad or far from home,
//!   swiped or keyed, mostly at night), bust-out (a card near its limit
//!   spending far above its average) and "hard" fraud drawn from the
//!   legitimate patterns, which no model can catch.
//!
//! Every fraud pattern has a legitimate look-alike for its strongest single
//! signals (commuters, occasional users, revolvers near their limit,
//! travellers, new customers), so fraud is told apart by combinations and
//! thresholds: a tree ensemble clearly beats a linear model.
//!
//! Per-card attributes (customer age, card age, credit limit, home country,
//! spending level, activity) come from a hash of the seed and the card, so a
//! card looks the same in every chunk.

use super::Scenario;
use super::columns::{CATEGORY_PROFILE, US, dev, em, mc};
use super::distributions::{
    HashStream, Sampler, Table, floor0, round0, round1, round2, round4, sigmoid, splitmix64,
};
use super::output::{Slots, Storage, cat, flag, num, valid};
use super::scenario::Regime;
use super::timeline::{HOUR_WEIGHT, Instant, Timeline};
use fathom_core::Frame;
use fathom_core::time::MICROS_PER_DAY;
use rayon::prelude::*;

/// First transaction id.
const TRANSACTION_ID_BASE: u64 = 1_000_000;
/// First card id.
const CARD_ID_BASE: u64 = 400_000;
/// Highest fraud probability any hour may reach.
const MAX_HOURLY_FRAUD: f64 = 0.6;

/// Relative fraud risk by hour of day (before normalisation).
const HOUR_FRAUD_RISK: [f64; 24] = [
    4.5, 4.8, 5.0, 4.6, 4.0, 2.8, 1.5, 1.0, 0.85, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.82, 0.85, 0.9,
    0.95, 1.0, 1.05, 1.3, 1.8, 3.0,
];

// ---------------------------------------------------------------------------
// Pattern tables.

/// Fraud patterns by day: card testing, takeover, skimming, bust-out, hard.
const FRAUD_DAY: [f64; 5] = [0.27, 0.30, 0.10, 0.23, 0.10];
/// Fraud patterns between midnight and 6 am.
const FRAUD_NIGHT: [f64; 5] = [0.22, 0.22, 0.32, 0.14, 0.10];

const ONLINE_CATEGORY: Table<11> = Table::new([
    (mc::ONLINE_RETAIL, 0.30),
    (mc::DIGITAL_GOODS, 0.14),
    (mc::ELECTRONICS, 0.08),
    (mc::TRAVEL, 0.08),
    (mc::ENTERTAINMENT, 0.10),
    (mc::UTILITIES, 0.10),
    (mc::CLOTHING, 0.10),
    (mc::GAMBLING, 0.03),
    (mc::RESTAURANT, 0.04),
    (mc::HOME_IMPROVEMENT, 0.02),
    (mc::HEALTH, 0.01),
]);

const IN_PERSON_CATEGORY: Table<14> = Table::new([
    (mc::GROCERY, 0.25),
    (mc::RESTAURANT, 0.18),
    (mc::GAS_STATION, 0.13),
    (mc::TRANSPORT, 0.11),
    (mc::HEALTH, 0.06),
    (mc::CLOTHING, 0.07),
    (mc::ENTERTAINMENT, 0.05),
    (mc::ELECTRONICS, 0.03),
    (mc::JEWELRY, 0.01),
    (mc::HOME_IMPROVEMENT, 0.06),
    (mc::UTILITIES, 0.02),
    (mc::TRAVEL, 0.03),
    (mc::GAMBLING, 0.01),
    (mc::ONLINE_RETAIL, 0.01),
]);

const TRAVEL_CATEGORY: Table<9> = Table::new([
    (mc::RESTAURANT, 0.30),
    (mc::TRAVEL, 0.15),
    (mc::TRANSPORT, 0.15),
    (mc::GROCERY, 0.10),
    (mc::ENTERTAINMENT, 0.08),
    (mc::CLOTHING, 0.07),
    (mc::GAS_STATION, 0.07),
    (mc::JEWELRY, 0.03),
    (mc::ELECTRONICS, 0.05),
]);

const BIG_CATEGORY: Table<5> = Table::new([
    (mc::ELECTRONICS, 0.35),
    (mc::TRAVEL, 0.25),
    (mc::HOME_IMPROVEMENT, 0.20),
    (mc::JEWELRY, 0.15),
    (mc::CLOTHING, 0.05),
]);

const BURST_CATEGORY: Table<5> = Table::new([
    (mc::TRANSPORT, 0.45),
    (mc::GROCERY, 0.20),
    (mc::RESTAURANT, 0.15),
    (mc::GAS_STATION, 0.10),
    (mc::ENTERTAINMENT, 0.10),
]);

const TESTING_CATEGORY: Table<5> = Table::new([
    (mc::DIGITAL_GOODS, 0.45),
    (mc::ONLINE_RETAIL, 0.18),
    (mc::ENTERTAINMENT, 0.15),
    (mc::GAMBLING, 0.10),
    (mc::UTILITIES, 0.12),
]);

const TAKEOVER_CATEGORY: Table<8> = Table::new([
    (mc::ELECTRONICS, 0.20),
    (mc::DIGITAL_GOODS, 0.15),
    (mc::ONLINE_RETAIL, 0.30),
    (mc::TRAVEL, 0.10),
    (mc::JEWELRY, 0.05),
    (mc::CLOTHING, 0.12),
    (mc::ENTERTAINMENT, 0.05),
    (mc::GAMBLING, 0.03),
]);

const SKIM_CATEGORY: Table<8> = Table::new([
    (mc::ELECTRONICS, 0.28),
    (mc::JEWELRY, 0.20),
    (mc::GAS_STATION, 0.17),
    (mc::CLOTHING, 0.10),
    (mc::GROCERY, 0.08),
    (mc::GAMBLING, 0.07),
    (mc::ENTERTAINMENT, 0.05),
    (mc::HOME_IMPROVEMENT, 0.05),
]);

const BUST_CATEGORY: Table<6> = Table::new([
    (mc::ELECTRONICS, 0.35),
    (mc::JEWELRY, 0.18),
    (mc::TRAVEL, 0.18),
    (mc::HOME_IMPROVEMENT, 0.12),
    (mc::CLOTHING, 0.07),
    (mc::ONLINE_RETAIL, 0.10),
]);

/// Foreign countries, weighted by how often cardholders meet them.
const FOREIGN: Table<29> = Table::new([
    (1, 0.14),  // CA
    (2, 0.14),  // MX
    (3, 0.09),  // GB
    (4, 0.05),  // DE
    (5, 0.06),  // FR
    (6, 0.05),  // ES
    (7, 0.05),  // IT
    (8, 0.03),  // NL
    (9, 0.03),  // IE
    (10, 0.01), // SE
    (11, 0.01), // CH
    (12, 0.01), // PL
    (13, 0.01), // PT
    (14, 0.03), // BR
    (15, 0.01), // AR
    (16, 0.02), // CO
    (17, 0.04), // JP
    (18, 0.05), // CN
    (19, 0.03), // IN
    (20, 0.02), // SG
    (21, 0.02), // AU
    (22, 0.01), // NZ
    (23, 0.01), // AE
    (24, 0.01), // TR
    (25, 0.01), // NG
    (26, 0.01), // ZA
    (27, 0.01), // RU
    (28, 0.02), // PH
    (29, 0.02), // KR
]);

/// Where online merchants abroad sit.
const FOREIGN_MERCHANT: Table<8> = Table::new([
    (3, 0.25),  // GB
    (9, 0.20),  // IE
    (8, 0.12),  // NL
    (18, 0.15), // CN
    (20, 0.08), // SG
    (1, 0.10),  // CA
    (4, 0.05),  // DE
    (11, 0.05), // CH
]);

/// Where fraudsters operate from or cash out.
const FRAUD_COUNTRY: Table<12> = Table::new([
    (2, 0.10),  // MX
    (3, 0.08),  // GB
    (14, 0.10), // BR
    (16, 0.07), // CO
    (18, 0.08), // CN
    (19, 0.06), // IN
    (23, 0.05), // AE
    (24, 0.07), // TR
    (25, 0.12), // NG
    (27, 0.12), // RU
    (28, 0.08), // PH
    (12, 0.07), // PL
]);

const ONLINE_DEVICE: Table<3> = Table::new([
    (dev::MOBILE, 0.55),
    (dev::DESKTOP, 0.35),
    (dev::TABLET, 0.10),
]);
const ONLINE_DEVICE_SHOCKED: Table<3> = Table::new([
    (dev::MOBILE, 0.64),
    (dev::DESKTOP, 0.28),
    (dev::TABLET, 0.08),
]);
const FRAUD_DEVICE: Table<3> = Table::new([
    (dev::MOBILE, 0.32),
    (dev::DESKTOP, 0.58),
    (dev::TABLET, 0.10),
]);

const IN_PERSON_ENTRY: Table<4> = Table::new([
    (em::CHIP, 0.52),
    (em::CONTACTLESS, 0.36),
    (em::SWIPE, 0.09),
    (em::MANUAL, 0.03),
]);
const IN_PERSON_ENTRY_SHOCKED: Table<4> = Table::new([
    (em::CHIP, 0.32),
    (em::CONTACTLESS, 0.60),
    (em::SWIPE, 0.06),
    (em::MANUAL, 0.02),
]);
const TRAVEL_ENTRY: Table<4> = Table::new([
    (em::CHIP, 0.50),
    (em::CONTACTLESS, 0.25),
    (em::SWIPE, 0.20),
    (em::MANUAL, 0.05),
]);
const SKIM_ENTRY: Table<4> = Table::new([
    (em::SWIPE, 0.60),
    (em::MANUAL, 0.18),
    (em::CHIP, 0.17),
    (em::CONTACTLESS, 0.05),
]);

// ---------------------------------------------------------------------------
// Cards.

/// The fixed attributes of one card.
#[derive(Debug, Clone, Copy)]
struct Card {
    index: u64,
    customer_age: f64,
    age_known: bool,
    /// Card age in days at the start of the window.
    card_age0: f64,
    credit_limit: f64,
    base_util: f64,
    /// Spending level (1 = typical).
    spend: f64,
    /// Transactions per day.
    activity: f64,
    /// `exp(-activity)`, `exp(-0.1 activity)`, `exp(-2.2 activity)`: the
    /// zero-probabilities of the card's usual Poisson counts.
    exp_activity: [f64; 3],
    home: u32,
    chargebacks: u32,
}

impl Card {
    /// The card `index`: a function of the seed and the card alone, so that
    /// a card looks the same in every chunk. (Deriving it again for every
    /// row is cheaper than looking it up in a table of all cards.)
    fn new(seed: u64, index: u64) -> Card {
        let mut h = HashStream::new(seed, index);
        let customer_age = round0((45.0 + 16.0 * h.normalish()).clamp(18.0, 95.0));
        let age_known = h.uniform() >= 0.02;
        let tenure = ((customer_age - 18.0) * 365.0).min(30.0 * 365.0) + 60.0;
        let u = h.uniform();
        // Skewed towards young cards: about one in five is under six months.
        let card_age0 = floor0((tenure * (u * u) * u.sqrt()).max(1.0));
        let credit_limit =
            (2_200.0 * (1.0 + (customer_age - 18.0) / 45.0) * (0.55 * h.normalish()).exp())
                .clamp(300.0, 50_000.0);
        let credit_limit = round0(credit_limit / 100.0);
        // About one card in eight is a revolver that lives near its limit.
        // The fourth root of the limit relative to a typical 4000.
        let limit_root = (credit_limit / 40.0).sqrt().sqrt();
        let base_util = if h.uniform() < 0.12 {
            0.8 + 0.25 * h.uniform()
        } else {
            (0.28 + 0.17 * h.normalish() - 0.4 * (limit_root - 1.0)).clamp(0.0, 1.0)
        };
        let spend = (0.7 * h.normalish()).exp() * limit_root;
        // Most cards are used daily; some only now and then.
        let activity = if h.uniform() < 0.25 {
            0.05 + 0.25 * h.uniform()
        } else {
            2.0 * (0.55 * h.normalish()).exp()
        };
        let home = if h.uniform() < 0.93 {
            US
        } else {
            FOREIGN.lookup(h.uniform())
        };
        // Chargebacks over the past year: rare, likelier for revolvers.
        let u = h.uniform();
        let chargebacks = if u < 0.004 {
            2
        } else if u < 0.03 + 0.05 * base_util {
            1
        } else {
            0
        };
        // exp(-activity / 10) and its powers, for the Poisson counts.
        let x = (-0.1 * activity).exp();
        let (x2, x4) = (x * x, x * x * x * x);
        let x8 = x4 * x4;
        Card {
            index,
            customer_age,
            age_known,
            card_age0,
            credit_limit: credit_limit * 100.0,
            base_util,
            spend,
            activity,
            exp_activity: [x8 * x2, x, x8 * x8 * x4 * x2],
            home,
            chargebacks,
        }
    }
}

// ---------------------------------------------------------------------------
// Patterns.

/// The behaviour a row is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Ordinary,
    Traveller,
    BigPurchase,
    RiskyShopper,
    /// Small in-person contactless payments in quick succession.
    Burst,
    /// Tiny online payments in quick succession with failures.
    CardTesting,
    Takeover,
    Skimming,
    BustOut,
    /// After the `sudden` shock only: wallets taken over by phishing — online
    /// purchases on a mobile phone that pass 3-D Secure and the CVV check
    /// (the thief has both), on a spree across many merchants.
    WalletPhishing,
}

/// One row's values before they are written out. `NaN` marks a null.
#[derive(Debug, Clone, Copy)]
struct Row {
    online: bool,
    category: u32,
    country: u32,
    device: u32,
    device_null: bool,
    entry: u32,
    amount: f64,
    distance: f64,
    t1h: u32,
    t24h: u32,
    /// Mean amount of the other transactions of the last hour.
    other_1h: f64,
    /// Mean amount of the other transactions of the last 24 hours.
    other_24h: f64,
    avg30: f64,
    merchants7d: u32,
    countries30d: u32,
    since_last: f64,
    failed: u32,
    utilization: f64,
    chargebacks: u32,
    ip_risk: f64,
    email_age: f64,
    three_ds: bool,
    cvv: bool,
}

/// Everything about the generation that does not change between chunks.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    seed: u64,
    scenario: Scenario,
    rows: u64,
    chunk_rows: usize,
    /// Number of distinct cards: a twentieth of the rows, at least 1000.
    n_cards: u64,
    days: f64,
    timeline: Timeline,
    /// Fraud probability by hour of day.
    hourly_fraud: [f64; 24],
}

impl Context {
    pub(crate) fn new(
        seed: u64,
        scenario: Scenario,
        rows: u64,
        chunk_rows: usize,
        fraud_rate: f64,
        start: i64,
        days: u32,
    ) -> Context {
        let total_weight: f64 = HOUR_WEIGHT.iter().sum();
        let mean_risk: f64 = HOUR_WEIGHT
            .iter()
            .zip(HOUR_FRAUD_RISK)
            .map(|(w, r)| w * r)
            .sum::<f64>()
            / total_weight;
        let max_risk = HOUR_FRAUD_RISK.iter().fold(0.0f64, |m, &r| m.max(r)) / mean_risk;
        // Shrink the hourly modulation where it would push a probability
        // above MAX_HOURLY_FRAUD; the mean stays exactly `fraud_rate`.
        let amplitude = ((MAX_HOURLY_FRAUD / fraud_rate - 1.0) / (max_risk - 1.0)).min(1.0);
        let mut hourly_fraud = [0.0; 24];
        for (p, r) in hourly_fraud.iter_mut().zip(HOUR_FRAUD_RISK) {
            *p = fraud_rate * (1.0 + amplitude * (r / mean_risk - 1.0));
        }
        let end = start + i64::from(days) * MICROS_PER_DAY;
        let n_cards = (rows / 20).max(1_000);
        Context {
            seed,
            scenario,
            rows,
            chunk_rows,
            n_cards,
            days: f64::from(days),
            timeline: Timeline::new(start, end),
            hourly_fraud,
        }
    }

    pub(crate) fn num_chunks(&self) -> usize {
        self.rows.div_ceil(self.chunk_rows as u64) as usize
    }

    /// Builds chunk `index`.
    pub(crate) fn chunk(&self, index: usize) -> Frame {
        assert!(
            index < self.num_chunks(),
            "chunk {index} out of range: the generator has {} chunks",
            self.num_chunks()
        );
        let first = index as u64 * self.chunk_rows as u64;
        let n = (self.rows - first).min(self.chunk_rows as u64) as usize;
        let mut storage = Storage::new(n);
        self.fill(index, storage.slots());
        storage.into_frame()
    }

    /// Builds every chunk in parallel, in place in one frame.
    pub(crate) fn generate_all(&self) -> Frame {
        let mut storage = Storage::new(self.rows as usize);
        storage
            .split(self.chunk_rows)
            .into_par_iter()
            .enumerate()
            .for_each(|(index, slots)| self.fill(index, slots));
        storage.into_frame()
    }

    /// Fills `out`, the rows of chunk `index`.
    fn fill(&self, index: usize, mut out: Slots<'_>) {
        let first = index as u64 * self.chunk_rows as u64;
        let n = out.time.len();
        let mut s = Sampler::new(splitmix64(self.seed ^ splitmix64(index as u64)));

        // Sorted uniform positions by normalised exponential spacings, then
        // mapped into this chunk's slice of the expected volume.
        let q_lo = first as f64 / self.rows as f64;
        let q_hi = (first + n as u64) as f64 / self.rows as f64;
        let mut positions = Vec::with_capacity(n);
        let mut acc = 0.0;
        for _ in 0..n {
            acc += s.exponential(1.0);
            positions.push(acc);
        }
        let total = acc + s.exponential(1.0);
        let mut cursor = self.timeline.cursor();
        for (j, pos) in positions.into_iter().enumerate() {
            let at = cursor.at_quantile(q_lo + (q_hi - q_lo) * (pos / total));
            self.row(&mut s, &mut out, j, first + j as u64, at);
        }
    }

    fn row(&self, s: &mut Sampler, out: &mut Slots<'_>, j: usize, global_row: u64, at: Instant) {
        let first_card = self.card(s.below(self.n_cards));
        let t = self.timeline.position(at.micros);
        let hour = at.hour;
        let regime = Regime::at(self.scenario, t);
        let p = self.hourly_fraud[hour as usize];
        let is_fraud = s.bernoulli(p);
        let shares = if hour < 6 { &FRAUD_NIGHT } else { &FRAUD_DAY };
        let testing_share = shares[0];

        // The shock brings a new kind of fraud on top of the usual ones,
        // which a model trained before it has never seen.
        let phished = regime.shocked && !is_fraud && s.bernoulli((PHISHING_SHARE * p).min(1.0));
        let is_fraud = is_fraud || phished;
        let pattern = if phished {
            Pattern::WalletPhishing
        } else if is_fraud {
            let mut u = s.uniform();
            let mut k = 0;
            while k < 4 && u >= shares[k] {
                u -= shares[k];
                k += 1;
            }
            match k {
                0 if regime.swapped => Pattern::Burst,
                0 => Pattern::CardTesting,
                1 => Pattern::Takeover,
                2 => Pattern::Skimming,
                3 => Pattern::BustOut,
                _ => self.legit_pattern(s, &regime, hour),
            }
        } else {
            // Bursts (legitimate before a concept switch, card testing after)
            // arrive exactly as often as fraudulent card testing, so that the
            // concept switch leaves every input distribution unchanged.
            let swap_rate = (p * testing_share / (1.0 - p)).min(1.0);
            if s.bernoulli(swap_rate) {
                if regime.swapped {
                    Pattern::CardTesting
                } else {
                    Pattern::Burst
                }
            } else {
                self.legit_pattern(s, &regime, hour)
            }
        };

        let card = self.pick_card(s, pattern, first_card);
        let row = synthesize(s, &card, &regime, pattern);
        let elapsed_days = t * self.days;
        write_row(
            out,
            j,
            s,
            global_row,
            at,
            elapsed_days,
            &card,
            &row,
            is_fraud,
        );
    }

    fn legit_pattern(&self, s: &mut Sampler, regime: &Regime, hour: u32) -> Pattern {
        let travel = regime.traveller_share * if hour < 6 { 2.0 } else { 1.0 };
        let u = s.uniform();
        if u < travel {
            Pattern::Traveller
        } else if u < travel + 0.012 {
            Pattern::BigPurchase
        } else if u < travel + 0.052 {
            Pattern::RiskyShopper
        } else {
            Pattern::Ordinary
        }
    }

    /// Draws the card; takeovers favour elderly customers and bust-outs
    /// young cards.
    fn pick_card(&self, s: &mut Sampler, pattern: Pattern, first: Card) -> Card {
        let want: Option<fn(&Card) -> bool> = match pattern {
            Pattern::Takeover if s.bernoulli(0.6) => {
                Some(|c| c.customer_age >= 60.0 || c.credit_limit >= 8_000.0)
            }
            Pattern::BustOut if s.bernoulli(0.7) => Some(|c| c.card_age0 < 365.0 || c.spend < 0.7),
            _ => None,
        };
        let mut card = first;
        if let Some(want) = want {
            for _ in 0..12 {
                if want(&card) {
                    break;
                }
                card = self.card(s.below(self.n_cards));
            }
        }
        card
    }

    #[inline]
    fn card(&self, index: u64) -> Card {
        Card::new(self.seed, index)
    }
}

/// Extra fraud after the `sudden` shock, as a share of the hour's usual
/// fraud rate: that many more frauds, all wallet phishing.
const PHISHING_SHARE: f64 = 1.0;

/// The usual merchant category of a payment.
#[inline]
fn ordinary_category(s: &mut Sampler, regime: &Regime, online: bool) -> u32 {
    let u = s.uniform();
    if u < regime.gift_share {
        mc::GIFT_CARDS
    } else if online && u < regime.gift_share + regime.crypto_share {
        mc::CRYPTO_EXCHANGE
    } else if online {
        s.pick(&ONLINE_CATEGORY)
    } else {
        s.pick(&IN_PERSON_CATEGORY)
    }
}

/// A foreign country for a card at home in `home`.
#[inline]
fn foreign<const N: usize>(s: &mut Sampler, table: &Table<N>, home: u32) -> u32 {
    let c = s.pick(table);
    if c != home {
        c
    } else if home == US {
        1
    } else {
        US
    }
}

/// Minutes since the card's previous transaction, consistent with the counts.
#[inline]
fn since_last(s: &mut Sampler, t1h: u32, t24h: u32, activity: f64, fast_mean: f64) -> f64 {
    if t1h >= 2 {
        s.exponential(fast_mean).clamp(0.1, 59.9)
    } else if t24h >= 2 {
        s.range(60.0, 1_440.0)
    } else {
        (1_440.0 + s.exponential(1_440.0 / activity.max(0.2))).min(129_600.0)
    }
}

/// An ordinary payment of `card` on the given channel and category; the
/// patterns start from it and override what makes them different.
fn ordinary(s: &mut Sampler, card: &Card, regime: &Regime, online: bool, category: u32) -> Row {
    let (median, sigma, _) = CATEGORY_PROFILE[category as usize];
    let amount = (median * card.spend * s.lognormal(1.0, sigma) * regime.inflation).max(0.5);
    let (country, device, entry, distance);
    if online {
        country = if s.bernoulli(0.9) {
            card.home
        } else {
            foreign(s, &FOREIGN_MERCHANT, card.home)
        };
        device = s.pick(if regime.shocked {
            &ONLINE_DEVICE_SHOCKED
        } else {
            &ONLINE_DEVICE
        });
        entry = if s.bernoulli(0.97) {
            em::ECOMMERCE
        } else {
            em::MANUAL
        };
        distance = if s.bernoulli(0.65) {
            f64::NAN
        } else {
            s.lognormal(25.0, 1.3)
        };
    } else {
        let abroad = s.bernoulli(regime.p_abroad);
        country = if abroad {
            foreign(s, &FOREIGN, card.home)
        } else {
            card.home
        };
        entry = s.pick(if regime.shocked {
            &IN_PERSON_ENTRY_SHOCKED
        } else {
            &IN_PERSON_ENTRY
        });
        let wallet = if regime.shocked { 0.5 } else { 0.35 };
        device = if entry == em::CONTACTLESS && s.bernoulli(wallet) {
            dev::MOBILE
        } else {
            dev::POS
        };
        distance = if abroad {
            s.lognormal(2_800.0, 0.8)
        } else {
            s.lognormal(6.0 * regime.distance_scale, 1.1)
        };
    }
    // Commuters tap in and out many times an hour.
    let commuting = !online && category == mc::TRANSPORT;
    let t1h = 1 + if commuting {
        s.poisson(2.5)
    } else {
        s.poisson_from(0.1 * card.activity, card.exp_activity[1])
    };
    let t24h = t1h + s.poisson_from(card.activity, card.exp_activity[0]);
    let since = since_last(
        s,
        t1h,
        t24h,
        card.activity,
        if commuting { 6.0 } else { 25.0 },
    );
    let avg30 = card.spend * 58.0 * regime.inflation * (1.0 + 0.18 * s.noise());
    let other = avg30 * (1.0 + 0.3 * s.noise());
    let international = country != card.home;
    let (ip_risk, email_age, three_ds, cvv) = if online {
        // New customers often opened their e-mail account with the card.
        let email_age = if card.card_age0 < 365.0 && s.bernoulli(0.5) {
            s.range(0.0, card.card_age0 + 30.0)
        } else {
            s.lognormal(1_400.0, 0.9).min(9_000.0)
        };
        (
            sigmoid(0.9 * s.normal() - 2.3),
            email_age,
            s.bernoulli(0.7),
            s.bernoulli(0.985),
        )
    } else {
        (f64::NAN, f64::NAN, false, s.bernoulli(0.997))
    };
    Row {
        online,
        category,
        country,
        device,
        device_null: s.bernoulli(0.03),
        entry,
        amount,
        distance,
        t1h,
        t24h,
        other_1h: other,
        other_24h: other,
        avg30,
        merchants7d: 1 + s.poisson_from(2.2 * card.activity, card.exp_activity[2]),
        countries30d: 1 + u32::from(international) + s.poisson(0.06),
        since_last: since,
        failed: s.poisson(0.03),
        utilization: (card.base_util + 0.06 * s.noise()).clamp(0.0, 1.2),
        chargebacks: card.chargebacks,
        ip_risk,
        email_age,
        three_ds,
        cvv,
    }
}

/// Draws one row of `pattern`.
fn synthesize(s: &mut Sampler, card: &Card, regime: &Regime, pattern: Pattern) -> Row {
    match pattern {
        Pattern::Ordinary => {
            let online = s.bernoulli(regime.p_online);
            let category = ordinary_category(s, regime, online);
            ordinary(s, card, regime, online, category)
        }
        Pattern::Traveller => {
            let online = s.bernoulli(0.15);
            let category = if online {
                mc::TRAVEL
            } else {
                s.pick(&TRAVEL_CATEGORY)
            };
            let mut r = ordinary(s, card, regime, online, category);
            r.amount *= 1.3;
            if online {
                r.distance = s.lognormal(2_500.0, 0.9);
                r.ip_risk = sigmoid(s.normal() - 1.2);
            } else {
                let abroad = s.bernoulli(0.85);
                r.country = if abroad {
                    foreign(s, &FOREIGN, card.home)
                } else {
                    card.home
                };
                r.entry = s.pick(&TRAVEL_ENTRY);
                r.device = dev::POS;
                r.distance = if abroad {
                    s.lognormal(3_000.0, 0.8)
                } else {
                    s.lognormal(500.0, 0.8)
                };
            }
            r.countries30d = 1 + u32::from(r.country != card.home) + s.poisson(0.9);
            r
        }
        Pattern::BigPurchase => {
            let online = s.bernoulli(regime.p_online);
            let category = s.pick(&BIG_CATEGORY);
            let mut r = ordinary(s, card, regime, online, category);
            r.amount = r.avg30 * s.lognormal(7.0, 0.55);
            if online {
                r.three_ds = s.bernoulli(0.92);
            }
            r
        }
        Pattern::RiskyShopper => {
            let category = ordinary_category(s, regime, true);
            let mut r = ordinary(s, card, regime, true, category);
            r.ip_risk = sigmoid(s.normal() + 0.6);
            if s.bernoulli(0.45) {
                r.email_age = s.range(0.0, 45.0);
            }
            r.three_ds = s.bernoulli(0.88);
            if s.bernoulli(0.6) {
                r.distance = s.lognormal(700.0, 1.2);
            }
            r
        }
        Pattern::Burst => {
            let category = s.pick(&BURST_CATEGORY);
            let mut r = ordinary(s, card, regime, false, category);
            r.country = card.home;
            r.distance = s.lognormal(8.0, 1.0);
            r.entry = if s.bernoulli(0.9) {
                em::CONTACTLESS
            } else {
                em::CHIP
            };
            r.device = if s.bernoulli(0.45) {
                dev::MOBILE
            } else {
                dev::POS
            };
            r.amount = s.range(0.8, 8.0) * regime.inflation;
            r.t1h = 3 + s.poisson(3.5);
            r.t24h = r.t1h + s.poisson(card.activity + 3.0);
            r.other_1h = s.range(0.8, 8.0) * regime.inflation;
            r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 4.0);
            r.failed = s.poisson(0.25);
            r.countries30d = 1 + s.poisson(0.06);
            r
        }
        Pattern::CardTesting => {
            let category = s.pick(&TESTING_CATEGORY);
            let mut r = ordinary(s, card, regime, true, category);
            r.amount = if s.bernoulli(0.7) {
                s.range(0.5, 3.0)
            } else {
                s.range(3.0, 25.0)
            } * regime.inflation;
            r.t1h = 2 + s.poisson(1.0);
            r.t24h = r.t1h + s.poisson(card.activity + 1.0);
            r.other_1h = s.range(0.5, 5.0) * regime.inflation;
            r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 3.0);
            r.failed = if s.bernoulli(0.25) {
                1 + s.poisson(1.0)
            } else {
                0
            };
            r.cvv = s.bernoulli(0.9);
            r.three_ds = s.bernoulli(0.45);
            r.ip_risk = sigmoid(s.normal() - 1.8);
            r.device = s.pick(&FRAUD_DEVICE);
            r.distance = if s.bernoulli(0.5) {
                f64::NAN
            } else {
                s.lognormal(600.0, 1.5)
            };
            if s.bernoulli(0.1) {
                r.country = foreign(s, &FRAUD_COUNTRY, card.home);
                r.countries30d = 2 + s.poisson(0.2);
            }
            r
        }
        Pattern::Takeover => {
            let u = s.uniform();
            let category = if u < 8.0 * regime.gift_share {
                mc::GIFT_CARDS
            } else if u < 8.0 * regime.gift_share + 2.0 * regime.crypto_share {
                mc::CRYPTO_EXCHANGE
            } else {
                s.pick(&TAKEOVER_CATEGORY)
            };
            let mut r = ordinary(s, card, regime, true, category);
            // Just under a common review threshold, or several times the
            // card's usual basket.
            r.amount = if s.bernoulli(0.3) {
                s.range(440.0, 500.0)
            } else {
                (r.avg30 * s.lognormal(3.5, 0.4)).max(1.0)
            };
            if s.bernoulli(0.45) {
                r.email_age = s.range(0.0, 21.0);
            }
            r.ip_risk = sigmoid(1.2 * s.normal() - 1.2);
            r.three_ds = s.bernoulli(0.45);
            r.device = s.pick(&FRAUD_DEVICE);
            r.device_null = s.bernoulli(0.10);
            r.distance = if s.bernoulli(0.35) {
                f64::NAN
            } else {
                s.lognormal(900.0, 1.2)
            };
            if s.bernoulli(0.1) {
                r.country = foreign(s, &FRAUD_COUNTRY, card.home);
                r.countries30d = 2 + s.poisson(0.2);
            }
            if s.bernoulli(0.45) {
                // A dormant account woken up by its new owner.
                r.t1h = 1;
                r.t24h = 1;
                r.since_last = (1_440.0 + s.exponential(12_000.0)).min(129_600.0);
            } else {
                r.t1h = 1 + s.poisson(0.6);
                r.t24h = r.t1h + s.poisson_from(card.activity, card.exp_activity[0]);
                r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 10.0);
            }
            r
        }
        Pattern::Skimming => {
            let category = s.pick(&SKIM_CATEGORY);
            let mut r = ordinary(s, card, regime, false, category);
            let (median, _, _) = CATEGORY_PROFILE[category as usize];
            r.amount = median * s.lognormal(2.2, 0.7) * regime.inflation;
            let abroad = s.bernoulli(0.6);
            if abroad {
                r.country = if s.bernoulli(0.5) {
                    foreign(s, &FRAUD_COUNTRY, card.home)
                } else {
                    foreign(s, &FOREIGN, card.home)
                };
                r.distance = s.lognormal(4_500.0, 0.7);
            } else {
                r.country = card.home;
                r.distance = s.lognormal(350.0, 0.9);
            }
            r.countries30d = 1 + u32::from(r.country != card.home);
            r.entry = s.pick(&SKIM_ENTRY);
            r.device = if s.bernoulli(0.95) {
                dev::POS
            } else {
                dev::MOBILE
            };
            r.t1h = 1 + s.poisson(0.3);
            r.t24h = r.t1h + s.poisson_from(card.activity, card.exp_activity[0]);
            r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 15.0);
            r.cvv = s.bernoulli(0.9);
            r
        }
        Pattern::WalletPhishing => {
            let category = s.pick(&ONLINE_CATEGORY);
            let mut r = ordinary(s, card, regime, true, category);
            r.device = dev::MOBILE;
            r.device_null = false;
            r.three_ds = true;
            r.cvv = true;
            r.ip_risk = sigmoid(0.9 * s.normal() - 2.3);
            r.amount = (r.avg30 * s.lognormal(1.6, 0.35)).max(1.0);
            r.merchants7d = 7 + s.poisson(4.0);
            r.t24h = r.t1h + 2 + s.poisson(2.0);
            r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 30.0);
            r
        }
        Pattern::BustOut => {
            let online = s.bernoulli(0.45);
            let category = s.pick(&BUST_CATEGORY);
            let mut r = ordinary(s, card, regime, online, category);
            r.amount = r.avg30 * s.lognormal(6.0, 0.4);
            r.utilization = s.range(0.82, 1.05);
            r.t24h = r.t1h + s.poisson(card.activity + 1.0);
            r.since_last = since_last(s, r.t1h, r.t24h, card.activity, 20.0);
            r.chargebacks += u32::from(s.bernoulli(0.1));
            if online {
                r.three_ds = s.bernoulli(0.6);
            }
            r
        }
    }
}

// ---------------------------------------------------------------------------
// Output.

/// Writes row `j` of `out`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn write_row(
    out: &mut Slots<'_>,
    j: usize,
    s: &mut Sampler,
    global_row: u64,
    at: Instant,
    elapsed_days: f64,
    card: &Card,
    r: &Row,
    is_fraud: bool,
) {
    let amount = round2(r.amount.max(0.5));
    let avg30 = round2(r.avg30);
    let sum24 = round2(
        amount + f64::from(r.t1h - 1) * r.other_1h + f64::from(r.t24h - r.t1h) * r.other_24h,
    );
    // A few percent of distances are lost whatever the channel.
    let distance_known = !r.distance.is_nan() && !s.bernoulli(0.03);
    let base_risk = CATEGORY_PROFILE[r.category as usize].2;
    let merchant_risk = round4((base_risk + 0.06 * s.noise()).clamp(0.0, 1.0));
    let ratio = (amount / avg30.max(1.0)).ln().clamp(-2.0, 3.0);
    let velocity = round4(sigmoid(
        0.45 * f64::from(r.t1h - 1)
            + 0.06 * f64::from(r.t24h - r.t1h)
            + 0.7 * f64::from(r.failed)
            + 0.15 * ratio
            - 2.2
            + 0.7 * s.noise(),
    ));

    let n = &mut out.num;
    n[num::TRANSACTION_ID][j] = (global_row + TRANSACTION_ID_BASE) as f64;
    n[num::CARD_ID][j] = (card.index + CARD_ID_BASE) as f64;
    n[num::AMOUNT][j] = amount;
    n[num::HOUR][j] = f64::from(at.hour);
    n[num::DAY_OF_WEEK][j] = f64::from(at.day_of_week);
    n[num::DISTANCE][j] = if distance_known {
        round1(r.distance)
    } else {
        f64::NAN
    };
    n[num::TXN_1H][j] = f64::from(r.t1h);
    n[num::TXN_24H][j] = f64::from(r.t24h);
    n[num::SUM_24H][j] = sum24.max(amount);
    n[num::AVG_30D][j] = avg30;
    n[num::MERCHANTS_7D][j] = f64::from(r.merchants7d);
    n[num::COUNTRIES_30D][j] = f64::from(r.countries30d);
    n[num::SINCE_LAST][j] = round1(r.since_last);
    n[num::FAILED][j] = f64::from(r.failed);
    n[num::CARD_AGE][j] = floor0(card.card_age0 + elapsed_days);
    n[num::CUSTOMER_AGE][j] = if card.age_known {
        card.customer_age
    } else {
        f64::NAN
    };
    n[num::CREDIT_LIMIT][j] = card.credit_limit;
    n[num::UTILIZATION][j] = round4(r.utilization);
    n[num::CHARGEBACKS][j] = f64::from(r.chargebacks);
    (n[num::IP_RISK][j], n[num::EMAIL_AGE][j]) = if r.online {
        (round4(r.ip_risk), floor0(r.email_age))
    } else {
        (f64::NAN, f64::NAN)
    };
    n[num::MERCHANT_RISK][j] = merchant_risk;
    n[num::VELOCITY][j] = velocity;
    n[num::IS_FRAUD][j] = if is_fraud { 1.0 } else { 0.0 };

    let c = &mut out.cat;
    c[cat::MERCHANT][j] = r.category;
    c[cat::COUNTRY][j] = r.country;
    c[cat::DEVICE][j] = if r.device_null { 0 } else { r.device };
    c[cat::ENTRY][j] = r.entry;

    let f = &mut out.flag;
    f[flag::ONLINE][j] = r.online;
    f[flag::INTERNATIONAL][j] = r.country != card.home;
    f[flag::THREE_DS][j] = r.three_ds;
    f[flag::CVV][j] = r.cvv;

    out.time[j] = at.micros;
    let v = &mut out.valid;
    v[valid::DEVICE][j] = !r.device_null;
    v[valid::DISTANCE][j] = distance_known;
    v[valid::CUSTOMER_AGE][j] = card.age_known;
    v[valid::ONLINE][j] = r.online;
}
