//! The request parser against hostile input: random bytes, truncated and
//! mutated records, deep nesting, huge numbers, odd Unicode. It must never
//! panic, must accept only what the contract allows, and must name a field
//! for every problem in a well-formed object.

mod common;

use common::*;
use fathom_serve::contract::{RecordPlan, UnknownFields};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

fn mutate(rng: &mut ChaCha8Rng, mut rec: serde_json::Map<String, Value>) -> Value {
    let keys: Vec<String> = rec.keys().cloned().collect();
    for _ in 0..rng.random_range(1..4) {
        let k = &keys[rng.random_range(0..keys.len())];
        let v = match rng.random_range(0..10) {
            0 => Value::Null,
            1 => json!(rng.random::<f64>() * 1e308),
            2 => json!("\u{0}\u{ffff}🦀".repeat(rng.random_range(0..50))),
            3 => json!([1, 2, [3, {"a": null}]]),
            4 => json!({"nested": {"deeper": [true]}}),
            5 => json!(rng.random::<bool>()),
            6 => json!(i64::MIN),
            7 => json!(u64::MAX),
            8 => json!("2024-13-45T99:99:99Z"),
            _ => {
                rec.remove(k);
                continue;
            }
        };
        rec.insert(k.clone(), v);
    }
    if rng.random_bool(0.2) {
        rec.insert(format!("extra_{}", rng.random::<u16>()), json!(1));
    }
    Value::Object(rec)
}

#[test]
fn random_and_mutated_records_never_panic_and_every_problem_names_a_field() {
    let f = fixture(1);
    let plans = [
        RecordPlan::new(&f.artifacts[0], None, UnknownFields::Ignore),
        RecordPlan::new(&f.artifacts[0], None, UnknownFields::Reject),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..20_000 {
        let bytes: Vec<u8> = match case % 4 {
            // Random bytes.
            0 => (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect(),
            // A valid record cut short.
            1 => {
                let b = serde_json::to_vec(&record(&f.frame, case % 100)).unwrap();
                let cut = rng.random_range(0..b.len());
                b[..cut].to_vec()
            }
            // Deep nesting.
            2 if case % 400 == 2 => {
                let depth = 10_000;
                let mut s = "{\"amount\":".to_string() + &"[".repeat(depth);
                s.push_str(&"]".repeat(depth));
                s.push('}');
                s.into_bytes()
            }
            // A mutated record.
            _ => serde_json::to_vec(&mutate(&mut rng, record(&f.frame, case % 100))).unwrap(),
        };
        for plan in &plans {
            match plan.parse(&bytes, "") {
                Ok(parsed) => {
                    accepted += 1;
                    assert_eq!(parsed.values.len(), plan.inputs().len());
                }
                Err(problems) => {
                    refused += 1;
                    assert!(!problems.is_empty());
                    for p in &problems {
                        assert!(!p.field.is_empty() && !p.expected.is_empty(), "{p:?}");
                    }
                }
            }
        }
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn every_valid_record_is_accepted_by_the_strict_contract() {
    let f = fixture(1);
    let plan = RecordPlan::new(&f.artifacts[0], None, UnknownFields::Reject);
    for i in 0..f.frame.num_rows() {
        let b = serde_json::to_vec(&record(&f.frame, i)).unwrap();
        if let Err(p) = plan.parse(&b, "") {
            panic!("row {i} refused: {p:?}");
        }
    }
}

#[test]
fn member_names_with_escapes_read_as_their_text() {
    let f = fixture(1);
    let plan = RecordPlan::new(&f.artifacts[0], None, UnknownFields::Reject);
    let plain = serde_json::to_string(&record(&f.frame, 0)).unwrap();
    let want = plan.parse(plain.as_bytes(), "").unwrap();
    // Every name spelled with an escaped first letter: same record.
    let mut escaped = plain.clone();
    for name in record(&f.frame, 0).keys() {
        let first = name.chars().next().unwrap();
        let spelled = format!("\"\\u{:04x}{}\":", first as u32, &name[first.len_utf8()..]);
        escaped = escaped.replace(&format!("\"{name}\":"), &spelled);
    }
    assert_ne!(escaped, plain);
    let got = plan.parse(escaped.as_bytes(), "").unwrap();
    assert_eq!(got.values, want.values);
}
