use crate::{record, segment_files};
use bytes::Bytes;
use fathom_predlog::{LogConfig, LogReader, PredictionLog, Sanitizer};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("../fixtures/sanitize_sha256.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn hashed_fields_equal_an_independent_sha256_and_dropped_fields_are_gone() {
    let fx = fixture();
    let cases = fx["cases"].as_array().unwrap();
    let mut sanitize = Sanitizer {
        hash: cases
            .iter()
            .map(|c| c["field"].as_str().unwrap().to_string())
            .collect(),
        drop: vec!["holder_name".into(), "phone".into()],
        salt: fx["salt"].as_str().unwrap().to_string(),
    };
    sanitize.hash.push("absent_field".into());
    let mut fields: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "{:?}: {}",
                c["field"].as_str().unwrap(),
                c["json"].as_str().unwrap()
            )
        })
        .collect();
    fields.push(r#""holder_name": "Ana Pérez""#.into());
    fields.push(r#""amount": 12.50"#.into());
    fields.push(r#""phone": {"cc": 34, "n": "600111222"}"#.into());
    fields.push(r#""merchant": "m-7""#.into());
    let inputs = format!("{{{}}}", fields.join(", "));

    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig {
        sanitize,
        ..LogConfig::new(dir.path())
    })
    .unwrap();
    let mut rec = record(1, 100);
    rec.inputs = Bytes::from(inputs);
    log.append(rec.clone()).unwrap().wait().unwrap();
    log.shutdown().unwrap();

    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(0, 1000)
        .unwrap();
    assert_eq!(read.len(), 1);
    let logged: serde_json::Map<String, Value> = serde_json::from_slice(&read[0].inputs).unwrap();
    for c in cases {
        let field = c["field"].as_str().unwrap();
        assert_eq!(logged[field], c["sha256"], "field {field}");
    }
    assert!(!logged.contains_key("holder_name") && !logged.contains_key("phone"));
    assert!(!logged.contains_key("absent_field"));
    assert_eq!(logged["merchant"], "m-7");
    // Untouched values keep their text.
    let text = std::str::from_utf8(&read[0].inputs).unwrap();
    assert!(text.contains(r#""amount":12.50"#), "{text}");
    // Everything but the inputs is as appended.
    assert_eq!(
        read[0],
        fathom_predlog::PredictionRecord {
            inputs: read[0].inputs.clone(),
            ..rec
        }
    );

    // No raw personal value reached the disk.
    for seg in segment_files(dir.path()) {
        let bytes = std::fs::read(seg).unwrap();
        for raw in [
            "4111111111111111",
            "Ana P",
            "600111222",
            "1234567",
            "10.0.0.7",
            "p\\u00e9rez",
        ] {
            assert!(
                !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
                "{raw} found on disk"
            );
        }
    }
}

#[test]
fn inputs_that_cannot_be_sanitised_are_logged_as_null_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sanitize = Sanitizer {
        hash: vec![],
        drop: vec!["email".into()],
        salt: String::new(),
    };
    let log = PredictionLog::open(LogConfig {
        sanitize,
        ..LogConfig::new(dir.path())
    })
    .unwrap();
    let mut bad = record(1, 1);
    bad.inputs = Bytes::from_static(br#"["email", "a@b.c"]"#);
    let mut good = record(2, 2);
    good.inputs = Bytes::from_static(br#"{"email": "a@b.c", "x": 1}"#);
    log.append(bad).unwrap().wait().unwrap();
    log.append(good).unwrap().wait().unwrap();
    let stats = log.shutdown().unwrap();
    assert_eq!((stats.written, stats.invalid_inputs), (2, 1));
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(0, 10)
        .unwrap();
    assert_eq!(&read[0].inputs[..], b"null");
    assert_eq!(&read[1].inputs[..], br#"{"x":1}"#);
}

#[test]
fn without_a_sanitiser_non_utf8_inputs_are_logged_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let log = PredictionLog::open(LogConfig::new(dir.path())).unwrap();
    let mut bad = record(1, 1);
    bad.inputs = Bytes::from_static(b"{\"a\": \"\xff\"}");
    log.append(bad).unwrap().wait().unwrap();
    let stats = log.shutdown().unwrap();
    assert_eq!(stats.invalid_inputs, 1);
    let read = LogReader::open(dir.path())
        .unwrap()
        .predictions(0, 10)
        .unwrap();
    assert_eq!(&read[0].inputs[..], b"null");
}

#[test]
fn hashing_without_a_salt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sanitize = Sanitizer {
        hash: vec!["card".into()],
        drop: vec![],
        salt: String::new(),
    };
    let err = PredictionLog::open(LogConfig {
        sanitize,
        ..LogConfig::new(dir.path())
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("salt"), "{err}");
}
