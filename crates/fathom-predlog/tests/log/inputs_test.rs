use crate::record;
use bytes::Bytes;
use fathom_core::{ColumnData, ColumnSpec, ColumnType, Role, Schema};
use fathom_predlog::{LogConfig, LogReader, PredictionLog, Sanitizer};

fn schema() -> Schema {
    Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("merchant", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("is_online", ColumnType::Bool, Role::Feature),
        ColumnSpec::new("event_time", ColumnType::Timestamp, Role::Timestamp),
        ColumnSpec::new("card", ColumnType::Categorical, Role::Key),
        ColumnSpec::new("is_fraud", ColumnType::Bool, Role::Label),
    ])
}

#[test]
fn logged_inputs_become_typed_columns_with_nulls_for_missing_or_mistyped_values() {
    let rows = [
        r#"{"amount": 12.5, "merchant": "m-1", "is_online": true, "event_time": "2026-03-01T10:00:00Z", "card": "c1"}"#,
        r#"{"amount": "12.5", "merchant": 5411, "is_online": 0, "event_time": 1767225600, "extra": 1}"#,
        r#"{"amount": null, "merchant": "m-1", "is_online": "yes", "event_time": "2026-03-01 10:00:00.250+01:00", "card": "c2"}"#,
        r#"not json at all"#,
        r#"{"amount": -3, "is_online": 1, "merchant": true}"#,
    ];
    let dir = tempfile::tempdir().unwrap();
    let sanitize = Sanitizer {
        hash: vec!["card".into()],
        drop: vec![],
        salt: "pepper".into(),
    };
    let log = PredictionLog::open(LogConfig {
        sanitize: sanitize.clone(),
        ..LogConfig::new(dir.path())
    })
    .unwrap();
    for (i, row) in rows.iter().enumerate() {
        let mut r = record(i as u64, i as i64);
        r.inputs = Bytes::from(row.to_string());
        log.append_detached(r).unwrap();
    }
    log.shutdown().unwrap();
    let reader = LogReader::open(dir.path()).unwrap();
    let records = reader.predictions(0, 100).unwrap();
    let frame = reader.inputs_frame(&records, &schema()).unwrap();

    // The label is not an input.
    assert_eq!(
        frame.column_names(),
        ["amount", "merchant", "is_online", "event_time", "card"]
    );
    assert_eq!(frame.num_rows(), 5);

    let amount = frame.column("amount").unwrap();
    let got: Vec<Option<f64>> = (0..5).map(|i| amount.f64_at(i)).collect();
    assert_eq!(got, [Some(12.5), None, None, None, Some(-3.0)]);

    let merchant = frame.column("merchant").unwrap();
    let ColumnData::Categorical(m) = &merchant.data else {
        panic!("merchant is not categorical")
    };
    let got: Vec<Option<&str>> = (0..5)
        .map(|i| merchant.is_valid(i).then(|| m.value(i)))
        .collect();
    assert_eq!(
        got,
        [Some("m-1"), Some("5411"), Some("m-1"), None, Some("true")]
    );

    let online = frame.column("is_online").unwrap();
    let ColumnData::Bool(b) = &online.data else {
        panic!("is_online is not bool")
    };
    let got: Vec<Option<bool>> = (0..5).map(|i| online.is_valid(i).then(|| b[i])).collect();
    assert_eq!(got, [Some(true), Some(false), None, None, Some(true)]);

    let time = frame.column("event_time").unwrap();
    let ColumnData::Timestamp(t) = &time.data else {
        panic!("event_time is not a timestamp")
    };
    let got: Vec<Option<i64>> = (0..5).map(|i| time.is_valid(i).then(|| t[i])).collect();
    // 2026-03-01T10:00:00Z is 1772359200 s after the epoch.
    let ten = 1_772_359_200_000_000i64;
    assert_eq!(
        got,
        [
            Some(ten),
            None,
            Some(ten - 3_600_000_000 + 250_000),
            None,
            None
        ]
    );

    // A hashed key is its digest, as logged.
    let card = frame.column("card").unwrap();
    let ColumnData::Categorical(c) = &card.data else {
        panic!("card is not categorical")
    };
    assert_eq!(c.value(0), sanitize.hash_value(b"c1"));
    assert_eq!(c.value(2), sanitize.hash_value(b"c2"));
    assert_eq!(card.null_count(), 3);
}
