//! Tests of the profile: the pandas cross-check on the committed fixture,
//! edge cases, JSON round trip, and the HTML report.

use super::*;
use fathom_core::Bitmap;
use serde_json::Value;

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/profile");

/// Test-only CSV reader for sample.csv: split on commas, empty cell → null,
/// column types known in advance.
fn read_sample() -> Frame {
    let text = std::fs::read_to_string(format!("{FIXTURE_DIR}/sample.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "income",
            "amount",
            "visits",
            "channel",
            "is_member",
            "label"
        ]
    );
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    let cells = |j: usize| rows.iter().map(move |r| r[j]);
    let numeric = |j: usize| {
        let values: Vec<f64> = cells(j)
            .map(|s| {
                if s.is_empty() {
                    f64::NAN
                } else {
                    s.parse().unwrap()
                }
            })
            .collect();
        Column::numeric(header[j], values)
    };
    let channel: Vec<&str> = cells(3).collect();
    let valid = Bitmap::from_bools(&channel.iter().map(|s| !s.is_empty()).collect::<Vec<_>>());
    let channel = Column::new(
        "channel",
        ColumnData::Categorical(fathom_core::CategoricalData::from_strings(&channel)),
        Some(valid),
    );
    let member = Column::boolean(
        "is_member",
        cells(4)
            .map(|s| match s {
                "true" => true,
                "false" => false,
                other => panic!("bad bool {other}"),
            })
            .collect(),
    );
    Frame::new(vec![
        numeric(0),
        numeric(1),
        numeric(2),
        channel,
        member,
        numeric(5),
    ])
    .unwrap()
}

fn close(actual: f64, expected: f64, what: &str) {
    let tol = 1e-9 * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol || actual == expected,
        "{what}: got {actual:e}, pandas says {expected:e}"
    );
}

/// Asserts that two JSON values are equal, floats to 1e-15 relative.
fn same_json(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
                "{at}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same_json(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (k, v) in x {
                same_json(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

/// The profile survives JSON: it parses back, with every float within an
/// ulp or so (serde_json's default float parser is not always correctly
/// rounded).
fn assert_json_round_trip(p: &Profile) {
    let json = serde_json::to_string(p).unwrap();
    let back: Profile = serde_json::from_str(&json).unwrap();
    assert_eq!(back.columns.len(), p.columns.len());
    same_json(
        &serde_json::to_value(&back).unwrap(),
        &serde_json::to_value(p).unwrap(),
        "profile",
    );
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn matches_pandas_on_fixture() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURE_DIR}/expected.json")).unwrap(),
    )
    .unwrap();
    let frame = read_sample();
    let options = ProfileOptions {
        label: Some("label".into()),
        ..ProfileOptions::default()
    };
    let profile = profile_frame(&frame, &options);
    // The file read by fathom's own reader (types inferred) profiles to
    // the very same figures as the frame built cell by cell above.
    let ingested = crate::ingest::read_frame(
        format!("{FIXTURE_DIR}/sample.csv"),
        &crate::ingest::ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(profile_frame(&ingested, &options)).unwrap(),
        serde_json::to_value(&profile).unwrap()
    );
    assert_eq!(profile.rows as u64, expected["rows"].as_u64().unwrap());
    assert!(profile.warnings.is_empty(), "{:?}", profile.warnings);

    let columns = expected["columns"].as_object().unwrap();
    assert_eq!(columns.len(), 6);
    for (name, e) in columns {
        let c = profile.column(name).unwrap();
        assert_eq!(c.column_type.name(), e["type"].as_str().unwrap(), "{name}");
        assert_eq!(c.count, e["count"].as_u64().unwrap(), "{name} count");
        assert_eq!(c.nulls, e["nulls"].as_u64().unwrap(), "{name} nulls");
        close(
            c.null_rate,
            e["nulls"].as_u64().unwrap() as f64 / 200.0,
            name,
        );
        assert_eq!(
            c.distinct,
            e["distinct"].as_u64().unwrap(),
            "{name} distinct"
        );
        if c.column_type == ColumnType::Numeric {
            let n = c.numeric.as_ref().unwrap();
            for (key, got) in [
                ("mean", n.mean),
                ("std", n.std),
                ("min", n.min),
                ("max", n.max),
                ("p01", n.p01),
                ("p05", n.p05),
                ("p25", n.p25),
                ("p50", n.p50),
                ("p75", n.p75),
                ("p95", n.p95),
                ("p99", n.p99),
            ] {
                close(got, num(&e[key]), &format!("{name}.{key}"));
            }
            assert_eq!(n.zeros, e["zeros"].as_u64().unwrap(), "{name} zeros");
            let edges = e["histogram"]["edges"].as_array().unwrap();
            assert_eq!(n.histogram.edges.len(), edges.len(), "{name}");
            for (k, (got, want)) in n.histogram.edges.iter().zip(edges).enumerate() {
                close(*got, num(want), &format!("{name} edge {k}"));
            }
            let counts: Vec<u64> = e["histogram"]["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(n.histogram.counts, counts, "{name} histogram");
        } else {
            let top: Vec<(String, u64)> = e["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_u64().unwrap()))
                .collect();
            assert_eq!(c.top, top, "{name} top");
        }
    }

    let corr = &expected["correlation"];
    let names: Vec<&str> = corr["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(profile.correlation.columns, names);
    for (i, row) in corr["matrix"].as_array().unwrap().iter().enumerate() {
        for (j, want) in row.as_array().unwrap().iter().enumerate() {
            let got = profile.correlation.matrix[i][j];
            match want.as_f64() {
                Some(w) => close(
                    got.unwrap(),
                    w,
                    &format!("corr {} × {}", names[i], names[j]),
                ),
                None => assert_eq!(got, None),
            }
        }
    }

    let el = &expected["label"];
    let label = profile.label.as_ref().unwrap();
    assert_eq!(label.column, el["column"].as_str().unwrap());
    close(
        label.positive_rate,
        num(&el["positive_rate"]),
        "positive rate",
    );
    let by = el["by_column"].as_object().unwrap();
    assert_eq!(label.by_column.len(), by.len());
    for rates in &label.by_column {
        let e = &by[&rates.column];
        assert_eq!(rates.categories.len(), e.as_object().unwrap().len());
        for cat in &rates.categories {
            let ec = &e[&cat.category];
            assert_eq!(cat.count, ec["count"].as_u64().unwrap());
            assert_eq!(cat.positives, ec["positives"].as_u64().unwrap());
            close(
                cat.rate.unwrap(),
                num(&ec["rate"]),
                &format!("label rate {} = {}", rates.column, cat.category),
            );
        }
    }

    assert_json_round_trip(&profile);
}

#[test]
fn all_null_and_empty_columns() {
    let all_null = Column::numeric("x", vec![f64::NAN; 4]);
    let cat = Column::new(
        "c",
        ColumnData::Categorical(fathom_core::CategoricalData::from_strings(&["a"; 4])),
        Some(Bitmap::new(4, false)),
    );
    let ts = Column::new(
        "t",
        ColumnData::Timestamp(vec![0; 4]),
        Some(Bitmap::new(4, false)),
    );
    let b = Column::new(
        "b",
        ColumnData::Bool(vec![true; 4]),
        Some(Bitmap::new(4, false)),
    );
    let frame = Frame::new(vec![all_null, cat, ts, b]).unwrap();
    let options = ProfileOptions {
        label: Some("b".into()),
        ..ProfileOptions::default()
    };
    let p = profile_frame(&frame, &options);
    for c in &p.columns {
        assert_eq!((c.count, c.nulls, c.distinct), (0, 4, 0), "{}", c.name);
        assert_eq!(c.null_rate, 1.0);
        assert!(c.numeric.is_none() && c.timestamp.is_none() && c.top.is_empty());
    }
    assert_eq!(p.correlation.columns, ["x", "b"]);
    assert_eq!(
        p.correlation.matrix,
        vec![vec![None, None], vec![None, None]]
    );
    assert!(p.label.is_none());
    assert!(p.warnings[0].contains("no values"), "{:?}", p.warnings);
    let html = render_html(&p, "all null");
    assert!(html.contains("no finite values"));

    let empty = profile_frame(&Frame::default(), &ProfileOptions::default());
    assert_eq!(empty.rows, 0);
    assert!(empty.columns.is_empty());
    render_html(&empty, "empty");

    let zero_rows = Frame::new(vec![Column::numeric("x", vec![])]).unwrap();
    let p = profile_frame(&zero_rows, &ProfileOptions::default());
    assert_eq!(p.columns[0].null_rate, 0.0);
    assert!(p.columns[0].numeric.is_none());
}

#[test]
fn constant_and_single_row_columns() {
    let frame = Frame::new(vec![
        Column::numeric("k", vec![2.5; 10]),
        Column::numeric("x", (0..10).map(f64::from).collect()),
    ])
    .unwrap();
    let p = profile_frame(&frame, &ProfileOptions::default());
    let k = p.columns[0].numeric.as_ref().unwrap();
    assert_eq!(
        (k.mean, k.std, k.min, k.max, k.p50),
        (2.5, 0.0, 2.5, 2.5, 2.5)
    );
    assert_eq!(k.histogram.counts, vec![10]);
    assert_eq!(k.histogram.edges, vec![2.5, 2.5]);
    assert_eq!(p.columns[0].distinct, 1);
    // Constant column: r undefined, like pandas.
    assert_eq!(p.correlation.matrix[0], vec![None, None]);
    assert_eq!(p.correlation.matrix[1][1], Some(1.0));

    let frame = Frame::new(vec![
        Column::numeric("x", vec![-3.0]),
        Column::categorical("c", &["only"]),
        Column::boolean("b", vec![true]),
        Column::timestamp("t", vec![1_700_000_000_000_000]),
    ])
    .unwrap();
    let options = ProfileOptions {
        label: Some("b".into()),
        ..ProfileOptions::default()
    };
    let p = profile_frame(&frame, &options);
    let x = p.columns[0].numeric.as_ref().unwrap();
    assert_eq!((x.mean, x.std, x.p01, x.p99), (-3.0, 0.0, -3.0, -3.0));
    assert_eq!(p.columns[1].top, vec![("only".to_string(), 1)]);
    let t = p.columns[3].timestamp.as_ref().unwrap();
    assert_eq!(t.min, "2023-11-14T22:13:20Z");
    assert_eq!(t.min, t.max);
    let label = p.label.as_ref().unwrap();
    assert_eq!(label.positive_rate, 1.0);
    assert_eq!(label.by_column[0].categories[0].rate, Some(1.0));
    assert_eq!(
        p.correlation.matrix,
        vec![vec![None, None], vec![None, None]]
    );
    let html = render_html(&p, "single");
    assert!(html.contains("only"));
}

#[test]
fn infinities_are_counted_but_kept_out_of_statistics() {
    let frame = Frame::new(vec![
        Column::numeric(
            "x",
            vec![
                1.0,
                f64::INFINITY,
                3.0,
                f64::NEG_INFINITY,
                f64::NAN,
                f64::INFINITY,
            ],
        ),
        Column::numeric("y", vec![2.0, 5.0, 6.0, 7.0, 8.0, 9.0]),
        Column::numeric("inf", vec![f64::INFINITY; 6]),
    ])
    .unwrap();
    let p = profile_frame(&frame, &ProfileOptions::default());
    let c = &p.columns[0];
    assert_eq!((c.count, c.nulls, c.infinities, c.distinct), (5, 1, 3, 4));
    let n = c.numeric.as_ref().unwrap();
    assert_eq!((n.mean, n.min, n.max, n.p50), (2.0, 1.0, 3.0, 2.0));
    close(n.std, 2f64.sqrt(), "std");
    assert_eq!(n.histogram.counts.iter().sum::<u64>(), 2);
    // Correlation over rows where both are finite: (1, 2) and (3, 6).
    close(p.correlation.matrix[0][1].unwrap(), 1.0, "r");
    let inf = &p.columns[2];
    assert_eq!((inf.count, inf.infinities, inf.distinct), (6, 6, 1));
    assert!(inf.numeric.is_none());
    assert_json_round_trip(&p);
}

#[test]
fn distinct_zero_signs_and_ties_by_name() {
    let frame = Frame::new(vec![Column::numeric("z", vec![0.0, -0.0, 1.0, 0.0])]).unwrap();
    let options = ProfileOptions {
        top_k: 2,
        ..ProfileOptions::default()
    };
    let p = profile_frame(&frame, &options);
    assert_eq!(p.columns[0].distinct, 2);
    assert_eq!(p.columns[0].numeric.as_ref().unwrap().zeros, 3);
    let frame = Frame::new(vec![Column::categorical(
        "c",
        &["b", "a", "c", "b", "a", "c", "d"],
    )])
    .unwrap();
    let p = profile_frame(&frame, &options);
    assert_eq!(p.columns[0].distinct, 4);
    assert_eq!(
        p.columns[0].top,
        vec![("a".to_string(), 2), ("b".to_string(), 2)]
    );
}

#[test]
fn odd_inputs_do_not_panic() {
    // A validity bitmap shorter than the data, a code outside the dictionary,
    // a dictionary with a repeated string.
    let numeric = Column {
        name: "x".into(),
        data: ColumnData::Numeric(vec![1.0, 2.0, 3.0]),
        validity: Some(Bitmap::from_bools(&[true, false])),
    };
    let cat = Column {
        name: "c".into(),
        data: ColumnData::Categorical(fathom_core::CategoricalData {
            codes: vec![0, 1, 7],
            dictionary: std::sync::Arc::new(vec!["a".into(), "a".into()]),
        }),
        validity: None,
    };
    let frame = Frame::new(vec![numeric, cat]).unwrap();
    let huge = ProfileOptions {
        bins: usize::MAX,
        ..ProfileOptions::default()
    };
    let five = Frame::new(vec![Column::numeric("v", (0..5).map(f64::from).collect())]).unwrap();
    let h = &profile_frame(&five, &huge).columns[0];
    assert_eq!(h.numeric.as_ref().unwrap().histogram.counts.len(), MAX_BINS);
    let options = ProfileOptions {
        bins: 0,
        top_k: 0,
        label: Some("missing".into()),
        max_correlation_columns: 0,
    };
    let p = profile_frame(&frame, &options);
    assert_eq!((p.columns[0].count, p.columns[0].nulls), (1, 2));
    assert_eq!(p.columns[0].numeric.as_ref().unwrap().histogram.counts, [1]);
    assert_eq!((p.columns[1].count, p.columns[1].distinct), (2, 1));
    assert!(p.columns[1].top.is_empty());
    assert!(p.correlation.columns.is_empty());
    assert_eq!(p.correlation.omitted, ["x"]);
    assert!(p.warnings.iter().any(|w| w.contains("'missing'")));

    let frame = Frame::new(vec![
        Column::numeric("y", vec![0.0, 2.0]),
        Column::categorical("c", &["a", "b"]),
    ])
    .unwrap();
    for label in ["y", "c"] {
        let options = ProfileOptions {
            label: Some(label.into()),
            ..ProfileOptions::default()
        };
        let p = profile_frame(&frame, &options);
        assert!(p.label.is_none());
        assert!(p.warnings[0].contains("not 0/1"), "{:?}", p.warnings);
    }
}

#[test]
fn correlation_limit_keeps_the_label() {
    let cols: Vec<Column> = (0..5)
        .map(|k| Column::numeric(format!("x{k}"), vec![f64::from(k), 1.0, 0.0, 1.0]))
        .chain([Column::numeric("y", vec![0.0, 1.0, 0.0, 1.0])])
        .collect();
    let frame = Frame::new(cols).unwrap();
    let options = ProfileOptions {
        label: Some("y".into()),
        max_correlation_columns: 3,
        ..ProfileOptions::default()
    };
    let p = profile_frame(&frame, &options);
    assert_eq!(p.correlation.columns, ["x0", "x1", "y"]);
    assert_eq!(p.correlation.omitted, ["x2", "x3", "x4"]);
    assert!(p.label.is_some());
}

/// SplitMix64: a tiny deterministic generator for the demo frame.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// A realistic ~2000-row frame of card transactions.
fn demo_frame() -> Frame {
    const CATEGORIES: [&str; 15] = [
        "grocery",
        "restaurants",
        "fuel",
        "online_retail",
        "travel",
        "electronics",
        "pharmacy",
        "clothing",
        "entertainment",
        "utilities",
        "home_improvement",
        "gaming",
        "jewelry",
        "gift_cards",
        "crypto_exchange",
    ];
    const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "NL", "BR"];
    let n = 2000;
    let mut rng = Rng(42);
    let mut age = Vec::new();
    let mut amount = Vec::new();
    let mut items = Vec::new();
    let mut category = Vec::new();
    let mut category_valid = Vec::new();
    let mut country = Vec::new();
    let mut online = Vec::new();
    let mut created = Vec::new();
    let mut score = Vec::new();
    let mut label = Vec::new();
    let start = fathom_core::time::parse_timestamp(b"2024-01-01T00:00:00Z").unwrap();
    for _ in 0..n {
        let a = (38.0 + 13.0 * rng.normal()).clamp(18.0, 95.0).round();
        age.push(if rng.uniform() < 0.08 { f64::NAN } else { a });
        let amt = (3.6 + 1.2 * rng.normal()).exp();
        amount.push((amt * 100.0).round() / 100.0);
        items.push((rng.uniform() * rng.uniform() * 9.0).floor() + 1.0);
        // Zipf-like category weights.
        let u = rng.uniform();
        let k = ((u * u * u) * CATEGORIES.len() as f64) as usize;
        let k = k.min(CATEGORIES.len() - 1);
        category.push(CATEGORIES[k]);
        category_valid.push(rng.uniform() > 0.02);
        country.push(COUNTRIES[((rng.uniform().powi(2)) * 6.0) as usize % 6]);
        let is_online = rng.uniform() < 0.45;
        online.push(is_online);
        let t = start + (rng.uniform() * 90.0 * 86_400e6) as i64;
        created.push(t);
        let s = 0.3 * amt.ln() + rng.normal();
        score.push(s);
        let logit = -3.2
            + 0.5 * (amt.ln() - 3.6)
            + 0.8 * f64::from(u8::from(is_online))
            + 0.12 * k as f64
            + 0.4 * s;
        let p = 1.0 / (1.0 + (-logit).exp());
        label.push(if rng.uniform() < p { 1.0 } else { 0.0 });
    }
    Frame::new(vec![
        Column::timestamp("created_at", created),
        Column::numeric("amount", amount),
        Column::numeric("customer_age", age),
        Column::numeric("n_items", items),
        Column::new(
            "merchant_category",
            ColumnData::Categorical(fathom_core::CategoricalData::from_strings(&category)),
            Some(Bitmap::from_bools(&category_valid)),
        ),
        Column::categorical("country <iso> & \"code\"", &country),
        Column::boolean("is_online", online),
        Column::numeric("risk_score", score),
        Column::numeric("is_fraud", label),
    ])
    .unwrap()
}

#[test]
fn demo_report_is_self_contained_and_escaped() {
    let frame = demo_frame();
    let options = ProfileOptions {
        label: Some("is_fraud".into()),
        ..ProfileOptions::default()
    };
    let mut profile = profile_frame(&frame, &options);
    profile.source = Some("demo/transactions.csv".into());
    // Deterministic: a second run gives the identical profile.
    assert_eq!(profile_frame(&frame, &options).columns, profile.columns);
    let html = render_html(&profile, "Transactions <demo>");
    if let Ok(path) = std::env::var("FATHOM_PROFILE_HTML") {
        std::fs::write(path, &html).unwrap();
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in [
        "<script", "http://", "https://", "<link", "<img", "@import", "url(http",
    ] {
        assert!(!html.contains(banned), "report contains {banned}");
    }
    assert!(html.contains("Transactions &lt;demo&gt;"));
    assert!(html.contains("country &lt;iso&gt; &amp; &quot;code&quot;"));
    assert!(!html.contains("<iso>"));
    // One chart per column, the heat map and one label chart per categorical/bool.
    assert_eq!(html.matches("<svg").count(), 9 + 1 + 3);
    assert!(html.contains("<rect class=\"bar\""));
    assert!(html.contains("<title>"));
    assert!(html.contains("class=\"warn\""), "8% nulls are highlighted");
    let mc = profile.column("merchant_category").unwrap();
    assert_eq!(mc.distinct, 15);
    assert_eq!(mc.top.len(), 10);
}

#[test]
fn wide_report_with_long_names_renders() {
    let mut rng = Rng(7);
    let n = 300;
    let base: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let mut cols: Vec<Column> = (0..32)
        .map(|k| {
            let w = f64::from(k % 7) / 6.0 - 0.5;
            let v = base.iter().map(|b| w * b + rng.normal()).collect();
            Column::numeric(format!("feature_with_a_rather_long_name_{k:02}"), v)
        })
        .collect();
    let long_cats: Vec<String> = (0..n)
        .map(|i| format!("a very long category value number {}", i % 40))
        .collect();
    cols.push(Column::categorical("long_categories", &long_cats));
    let frame = Frame::new(cols).unwrap();
    let options = ProfileOptions {
        max_correlation_columns: 30,
        ..ProfileOptions::default()
    };
    let p = profile_frame(&frame, &options);
    assert_eq!(p.correlation.columns.len(), 30);
    assert_eq!(p.correlation.omitted.len(), 2);
    assert!(p.label.is_none());
    let html = render_html(&p, "Wide");
    if let Ok(path) = std::env::var("FATHOM_PROFILE_HTML_WIDE") {
        std::fs::write(path, &html).unwrap();
    }
    assert!(html.contains("left out: feature_with_a_rather_long_name_30"));
    assert!(!html.contains("Label:"));
}
