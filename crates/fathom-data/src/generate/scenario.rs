//! Drift scenarios and the generation regime they imply at each point in time.

use super::GenerateError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How the data changes over the generated time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Stationary: every distribution is the same throughout the window.
    #[default]
    Baseline,
    /// Slow covariate drift: amounts inflate steadily (+30% by the end) and
    /// two new merchant categories (`crypto_exchange`, `gift_cards`) grow
    /// from nothing to a few percent of transactions.
    Gradual,
    /// A covid-like shock half-way through: the online share doubles from
    /// about 30% to 60%, in-person payments move to contactless and mobile,
    /// people stay closer to home and stop travelling — and a new kind of
    /// fraud comes with it (phished mobile wallets passing 3-D Secure, on a
    /// spree across merchants), doubling the fraud rate in a form a model
    /// trained before the shock has not seen.
    Sudden,
    /// Concept drift half-way through: the inputs keep their distributions
    /// but the label changes meaning. Online card testing stops being fraud
    /// (the same transactions keep arriving, now legitimate), while bursts
    /// of small in-person contactless payments, legitimate before, become
    /// a fraud pattern.
    Concept,
}

impl Scenario {
    /// All scenarios, in documentation order.
    pub const ALL: [Scenario; 4] = [
        Scenario::Baseline,
        Scenario::Gradual,
        Scenario::Sudden,
        Scenario::Concept,
    ];

    /// The lower-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Gradual => "gradual",
            Scenario::Sudden => "sudden",
            Scenario::Concept => "concept",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = GenerateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| GenerateError::UnknownScenario(s.to_string()))
    }
}

/// The generation parameters in force at one position `t ∈ [0, 1)` of the
/// window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Regime {
    /// Multiplier on every money amount.
    pub inflation: f64,
    /// Share of ordinary online payments at `crypto_exchange`.
    pub crypto_share: f64,
    /// Share of ordinary payments at `gift_cards`.
    pub gift_share: f64,
    /// Probability that an ordinary transaction is online.
    pub p_online: f64,
    /// After the `sudden` shock: contactless/mobile tables, shorter trips.
    pub shocked: bool,
    /// Share of legitimate transactions made by travellers abroad.
    pub traveller_share: f64,
    /// Probability that an ordinary in-person payment is abroad.
    pub p_abroad: f64,
    /// Multiplier on in-person distances from home.
    pub distance_scale: f64,
    /// After the `concept` switch: card testing and contactless bursts swap
    /// labels.
    pub swapped: bool,
}

impl Regime {
    /// The regime of `scenario` at position `t`.
    #[inline]
    pub(crate) fn at(scenario: Scenario, t: f64) -> Regime {
        let mut r = Regime {
            inflation: 1.0,
            crypto_share: 0.0,
            gift_share: 0.0,
            p_online: 0.30,
            shocked: false,
            traveller_share: 0.05,
            p_abroad: 0.012,
            distance_scale: 1.0,
            swapped: false,
        };
        match scenario {
            Scenario::Baseline => {}
            Scenario::Gradual => {
                r.inflation = 1.0 + 0.3 * t;
                r.crypto_share = 0.10 * t;
                r.gift_share = 0.03 * t;
            }
            Scenario::Sudden => {
                if t >= 0.5 {
                    r.p_online = 0.60;
                    r.shocked = true;
                    r.traveller_share = 0.005;
                    r.p_abroad = 0.003;
                    r.distance_scale = 0.45;
                }
            }
            Scenario::Concept => r.swapped = t >= 0.5,
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_valid_names() {
        for sc in Scenario::ALL {
            assert_eq!(sc.to_string().parse::<Scenario>().unwrap(), sc);
            let json = serde_json::to_string(&sc).unwrap();
            assert_eq!(json, format!("\"{sc}\""));
            assert_eq!(serde_json::from_str::<Scenario>(&json).unwrap(), sc);
        }
        assert_eq!("Sudden".parse::<Scenario>().unwrap(), Scenario::Sudden);
        let err = "drifty".parse::<Scenario>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown scenario 'drifty': valid scenarios are baseline, gradual, sudden, concept"
        );
    }
}
