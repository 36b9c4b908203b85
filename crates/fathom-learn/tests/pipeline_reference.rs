//! The feature pipeline's fitted numbers against numpy, pandas,
//! scikit-learn and category_encoders (`fixtures/pipeline/make_fixture.py`
//! wrote `fixture.json` once; the tests only read it).

use fathom_core::{Bitmap, Column, ColumnData, ColumnSpec, ColumnType, Frame, Role, Schema};
use fathom_learn::pipeline::{PipelineOptions, fit_pipeline, fit_pipeline_with_oof};
use fathom_model::pipeline::{Formula, InputTransform, Value, value_at};
use serde_json::Value as Json;
use std::collections::BTreeMap;

fn fixture() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pipeline/fixture.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f(v: &Json) -> f64 {
    v.as_f64().unwrap()
}

fn floats(v: &Json) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(Json::as_f64).collect()
}

fn pair(v: &Json) -> (f64, f64) {
    (f(&v[0]), f(&v[1]))
}

/// Relative closeness, for numbers computed in another order or library.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

fn numeric(name: &str, v: &[Option<f64>]) -> Column {
    Column::new(
        name,
        ColumnData::Numeric(v.iter().map(|x| x.unwrap_or(f64::NAN)).collect()),
        Some(Bitmap::from_bools(
            &v.iter().map(Option::is_some).collect::<Vec<_>>(),
        )),
    )
}

fn categorical(name: &str, v: &[Option<String>]) -> Column {
    let mut c = Column::categorical(
        name,
        &v.iter()
            .map(|x| x.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
    );
    c.validity = Some(Bitmap::from_bools(
        &v.iter().map(Option::is_some).collect::<Vec<_>>(),
    ));
    c
}

struct Case {
    frame: Frame,
    schema: Schema,
    labels: Vec<f64>,
    train: Vec<usize>,
}

fn case(fx: &Json) -> Case {
    let d = &fx["data"];
    let text = |k: &str| -> Vec<Option<String>> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let labels: Vec<f64> = floats(&d["y"]).into_iter().map(Option::unwrap).collect();
    let frame = Frame::new(vec![
        numeric("amount", &floats(&d["amount"])),
        numeric("avg", &floats(&d["avg"])),
        numeric("delta", &floats(&d["delta"])),
        categorical("mcc", &text("mcc")),
        categorical("card", &text("card")),
        Column::numeric("y", labels.clone()),
    ])
    .unwrap();
    let schema = Schema::new(vec![
        ColumnSpec::new("amount", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("avg", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("delta", ColumnType::Numeric, Role::Feature),
        ColumnSpec::new("mcc", ColumnType::Categorical, Role::Feature),
        ColumnSpec::new("card", ColumnType::Categorical, Role::Key),
        ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
    ]);
    let train = d["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    Case {
        frame,
        schema,
        labels,
        train,
    }
}

/// Options as a `[features]` table would give them.
fn options(toml_text: &str, linear: bool) -> PipelineOptions {
    PipelineOptions {
        linear,
        seed: 3,
        ..toml::from_str(toml_text).unwrap()
    }
}

/// Bounds or `(mean, std)`.
type Pair = Option<(f64, f64)>;

/// `(impute, clip, scale)` of the `amount` input.
fn amount(c: &Case, o: &PipelineOptions) -> (f64, Pair, Pair) {
    match &fit_pipeline(&c.frame, &c.schema, &c.train, o)
        .unwrap()
        .inputs[0]
    {
        InputTransform::Numeric {
            impute,
            clip,
            scale,
            ..
        } => (*impute, *clip, *scale),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn imputation_matches_simple_imputer() {
    let fx = fixture();
    let c = case(&fx);
    let num = &fx["numeric"];
    // SimpleImputer(strategy="median" | "mean").fit(train).statistics_
    let (median, ..) = amount(&c, &options("clip = { method = \"none\" }", false));
    assert!(
        close(median, f(&num["median"])),
        "{median} vs {}",
        num["median"]
    );
    let (mean, ..) = amount(
        &c,
        &options(
            "clip = { method = \"none\" }\nimpute = { method = \"mean\" }",
            false,
        ),
    );
    assert!(close(mean, f(&num["mean"])), "{mean} vs {}", num["mean"]);
    let (constant, ..) = amount(
        &c,
        &options("impute = { method = \"constant\", value = -1 }", false),
    );
    assert_eq!(constant, -1.0);
}

#[test]
fn clipping_bounds_match_numpy_percentiles() {
    let fx = fixture();
    let c = case(&fx);
    let num = &fx["numeric"];
    let bounds = |text: &str| amount(&c, &options(text, false)).1.unwrap();
    let check = |got: (f64, f64), want: (f64, f64)| {
        assert!(
            close(got.0, want.0) && close(got.1, want.1),
            "{got:?} vs {want:?}"
        );
    };
    // The default is the training range.
    check(bounds(""), pair(&num["range"]));
    // np.percentile(x, [25, 75]) → [Q1 − k·IQR, Q3 + k·IQR]; k = 1.5 by default.
    check(bounds("clip = { method = \"iqr\" }"), pair(&num["iqr_1_5"]));
    check(
        bounds("clip = { method = \"iqr\", k = 3 }"),
        pair(&num["iqr_3"]),
    );
    // np.quantile(x, [0.05, 0.95])
    let q = "clip = { method = \"quantiles\", lo = 0.05, hi = 0.95 }";
    check(bounds(q), pair(&num["quantiles_5_95"]));
    // The median of the clipped values: np.median(np.clip(x, lo, hi)).
    let (median, ..) = amount(&c, &options(q, false));
    assert!(close(median, f(&num["median_after_quantiles"])));
    assert_eq!(
        amount(&c, &options("clip = { method = \"none\" }", false)).1,
        None
    );
}

#[test]
fn linear_numbers_match_a_scikit_learn_pipeline() {
    // make_pipeline(clip to the IQR fences, SimpleImputer("mean"), StandardScaler())
    let fx = fixture();
    let c = case(&fx);
    let want = &fx["numeric"]["linear_iqr_mean"];
    let o = options(
        "clip = { method = \"iqr\" }\nimpute = { method = \"mean\" }",
        true,
    );
    let (impute, _, scale) = amount(&c, &o);
    let (mean, std) = scale.unwrap();
    assert!(close(impute, f(&want["impute"])), "{impute}");
    assert!(close(mean, f(&want["mean"])), "{mean}");
    assert!(close(std, f(&want["std"])), "{std}");
    // Every row as served (the pipeline's feature 0 is `amount`).
    let p = fit_pipeline(&c.frame, &c.schema, &c.train, &o).unwrap();
    let x = p.transform_frame(&c.frame);
    let served = floats(&want["served"]);
    for (r, s) in served.iter().enumerate() {
        let got = x[r * p.width()];
        assert!(close(got, s.unwrap()), "row {r}: {got} vs {s:?}");
    }
}

#[test]
fn target_encoding_matches_category_encoders() {
    // MEstimateEncoder(m=10).fit(train); unseen and missing get the prior.
    let fx = fixture();
    let c = case(&fx);
    let want = &fx["target"];
    let o = options(
        "linear_encoding = { method = \"target\", smoothing = 10.0 }",
        true,
    );
    let (p, _) = fit_pipeline_with_oof(&c.frame, &c.schema, &c.train, &c.labels, &o).unwrap();
    let Some(InputTransform::Target {
        levels,
        means,
        prior,
        ..
    }) = p.inputs.iter().find(|t| t.column() == "mcc")
    else {
        panic!("mcc is not target encoded: {:?}", p.inputs);
    };
    let want_levels: Vec<&str> = want["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        levels.iter().map(String::as_str).collect::<Vec<_>>(),
        want_levels
    );
    for (got, w) in means.iter().zip(want["means"].as_array().unwrap()) {
        assert!(close(*got, f(w)), "{got} vs {w}");
    }
    assert!(close(*prior, f(&want["prior"])));
    assert!(close(*prior, f(&want["unseen"])));
    // Served: an unseen level and a missing one both get the prior.
    let at = p
        .feature_names()
        .iter()
        .position(|n| n == "mcc__target")
        .unwrap();
    let mut out = vec![0.0; p.width()];
    for v in [Value::Text("crypto"), Value::Missing] {
        let mut row = vec![Value::Missing; p.inputs.len()];
        row[3] = v;
        p.apply(&row, &mut out);
        assert_eq!(out[at], *prior);
    }
}

#[test]
fn frequency_encoding_matches_pandas_value_counts() {
    // pd.Series(card[train]).value_counts(normalize=True); `card` is a key
    // column, read only as the source of the derived feature.
    let fx = fixture();
    let c = case(&fx);
    let o = options(
        "[[derived]]\nname = \"card_share\"\nop = \"frequency\"\nof = \"card\"",
        false,
    );
    let p = fit_pipeline(&c.frame, &c.schema, &c.train, &o).unwrap();
    assert!(matches!(p.inputs.last(), Some(InputTransform::Source { column }) if column == "card"));
    let Formula::Frequency { levels, shares, .. } = &p.derived[0].formula else {
        panic!("{:?}", p.derived[0]);
    };
    let got: BTreeMap<&str, f64> = levels
        .iter()
        .map(String::as_str)
        .zip(shares.iter().copied())
        .collect();
    let want = &fx["frequency"];
    let want: BTreeMap<&str, f64> = want["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .zip(want["shares"].as_array().unwrap().iter().map(f))
        .collect();
    assert_eq!(got.len(), want.len());
    for (level, share) in &want {
        assert!(
            close(got[level], *share),
            "{level}: {} vs {share}",
            got[level]
        );
    }
    // An unseen card is 0, and is not clipped away from 0.
    let mut row = vec![Value::Missing; p.inputs.len()];
    row[p.inputs.len() - 1] = Value::Text("c999");
    let mut out = vec![0.0; p.width()];
    p.apply(&row, &mut out);
    assert_eq!(out[p.width() - 1], 0.0);
}

#[test]
fn derived_features_match_numpy() {
    // Raw values: np.sign(x)·np.log1p(|x|), a / b (b == 0 → missing), a − b,
    // a · b; served with SimpleImputer("median") fitted on training rows.
    let fx = fixture();
    let c = case(&fx);
    let o = options(
        r#"
        clip = { method = "none" }
        [[derived]]
        name = "delta_log"
        op = "log"
        of = "delta"
        [[derived]]
        name = "amount_to_avg"
        op = "ratio"
        of = ["amount", "avg"]
        [[derived]]
        name = "amount_minus_avg"
        op = "difference"
        of = ["amount", "avg"]
        [[derived]]
        name = "amount_times_delta"
        op = "product"
        of = ["amount", "delta"]
        "#,
        false,
    );
    let p = fit_pipeline(&c.frame, &c.schema, &c.train, &o).unwrap();
    let x = p.transform_frame(&c.frame);
    let w = p.width();
    let names = p.feature_names();
    let columns = p.input_columns(&c.frame);
    for d in &p.derived {
        let raw = floats(&fx["derived"]["raw"][&d.name]);
        let served = floats(&fx["derived"]["served"][&d.name]);
        let j = names.iter().position(|n| n == &d.name).unwrap();
        for r in 0..c.frame.num_rows() {
            let values: Vec<Value> = columns.iter().map(|col| value_at(*col, r)).collect();
            match (d.raw_value(&values), raw[r]) {
                (Some(a), Some(b)) => assert!(close(a, b), "{} row {r}: {a} vs {b}", d.name),
                (a, b) => assert_eq!(a, b, "{} row {r}", d.name),
            }
            let got = x[r * w + j];
            let want = served[r].unwrap();
            assert!(close(got, want), "{} row {r}: {got} vs {want}", d.name);
        }
    }
}
