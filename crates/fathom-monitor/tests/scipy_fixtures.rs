//! The drift statistics against SciPy and NumPy on committed fixtures
//! (`tests/fixtures/make_fixtures.py` wrote `scipy_reference.json`), to
//! 1e-9 relative.

use fathom_monitor::stats::chi2::chi2_contingency;
use fathom_monitor::stats::distance::{
    bin_counts, equal_width_edges, jensenshannon, psi, shares_filled, std_population, wasserstein,
    wasserstein_normed,
};
use fathom_monitor::stats::kolmogorov::kstwo_sf;
use fathom_monitor::stats::ks::ks_2samp;
use fathom_monitor::stats::proportion::proportions_z;
use fathom_monitor::stats::special::chi2_sf;
use serde_json::Value;

const RTOL: f64 = 1e-9;

fn fixtures() -> Value {
    let text = include_str!("fixtures/scipy_reference.json");
    serde_json::from_str(text).expect("fixture JSON")
}

fn close(got: f64, want: f64, what: &str) {
    let ok = if want == 0.0 {
        got.abs() < 1e-300
    } else {
        ((got - want) / want).abs() <= RTOL
    };
    assert!(
        ok,
        "{what}: got {got:e}, scipy {want:e} (rel {:e})",
        ((got - want) / want).abs()
    );
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

/// A literal list, or `(a·i + b) mod p / p · scale + shift` for `i < n`.
fn sample(v: &Value) -> Vec<f64> {
    if let Some(list) = v.as_array() {
        return list.iter().map(num).collect();
    }
    let get = |k: &str| v[k].as_u64().expect("integer");
    let (n, a, b, p) = (get("n"), get("a"), get("b"), get("p"));
    let (scale, shift) = (num(&v["scale"]), num(&v["shift"]));
    (0..n)
        .map(|i| ((a * i + b) % p) as f64 / p as f64 * scale + shift)
        .collect()
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

#[test]
fn ks_2samp_matches_scipy_exact_and_asymptotic() {
    let doc = fixtures();
    for case in doc["ks_2samp"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let a = sorted(sample(&case["a"]));
        let b = sorted(sample(&case["b"]));
        let r = ks_2samp(&a, &b).unwrap();
        close(r.statistic, num(&case["statistic"]), &format!("{name} D"));
        close(r.p_value, num(&case["pvalue"]), &format!("{name} p"));
        assert_eq!(r.exact, a.len().max(b.len()) <= 10_000, "{name}");
    }
}

#[test]
fn kolmogorov_survival_matches_scipy_kstwo_in_every_region() {
    let doc = fixtures();
    for case in doc["kstwo_sf"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap();
        let x = num(&case["x"]);
        close(
            kstwo_sf(n, x),
            num(&case["sf"]),
            &format!("kstwo.sf({x}, {n})"),
        );
    }
}

#[test]
fn chi2_contingency_matches_scipy() {
    let doc = fixtures();
    for case in doc["chi2_contingency"].as_array().unwrap() {
        let counts = |k: &str| -> Vec<u64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        };
        let r = chi2_contingency(&counts("reference"), &counts("current")).unwrap();
        assert_eq!(r.dof as u64, case["dof"].as_u64().unwrap());
        close(r.statistic, num(&case["statistic"]), "chi2 statistic");
        close(r.p_value, num(&case["pvalue"]), "chi2 p");
    }
    for case in doc["chi2_sf"].as_array().unwrap() {
        let (x, k) = (num(&case["x"]), num(&case["dof"]));
        close(
            chi2_sf(x, k),
            num(&case["sf"]),
            &format!("chi2.sf({x}, {k})"),
        );
    }
}

#[test]
fn proportion_z_test_matches_scipy_normal_tail() {
    let doc = fixtures();
    for case in doc["proportions_z"].as_array().unwrap() {
        let g = |k: &str| case[k].as_u64().unwrap();
        let r = proportions_z(g("k1"), g("n1"), g("k2"), g("n2")).unwrap();
        close(r.statistic, num(&case["z"]), "z");
        close(r.p_value, num(&case["pvalue"]), "z p");
    }
}

#[test]
fn distances_match_scipy_and_numpy() {
    let doc = fixtures();
    for case in doc["distances"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let a = sorted(sample(&case["a"]));
        let b = sorted(sample(&case["b"]));
        close(wasserstein(&a, &b), num(&case["wasserstein"]), name);
        close(std_population(&a), num(&case["std_a"]), name);
        close(
            wasserstein_normed(&a, &b),
            num(&case["wasserstein"]) / num(&case["std_a"]).max(0.001),
            name,
        );
        // Binning: equal-width bins over both samples when the reference
        // has more than 20 distinct values, else one bin per value.
        let mut distinct = a.clone();
        distinct.dedup();
        let (rc, cc) = if distinct.len() > 20 {
            let lo = a[0].min(b[0]);
            let hi = a[a.len() - 1].max(b[b.len() - 1]);
            let edges = equal_width_edges(lo, hi, 30);
            (bin_counts(&a, &edges), bin_counts(&b, &edges))
        } else {
            let mut keys: Vec<f64> = a.iter().chain(&b).copied().collect();
            keys.sort_by(f64::total_cmp);
            keys.dedup();
            let count = |s: &[f64]| -> Vec<u64> {
                keys.iter()
                    .map(|k| s.iter().filter(|v| *v == k).count() as u64)
                    .collect()
            };
            (count(&a), count(&b))
        };
        let (r, c) = shares_filled(&rc, &cc);
        close(jensenshannon(&r, &c), num(&case["jensenshannon"]), name);
        close(psi(&r, &c), num(&case["psi"]), name);
    }
    for case in doc["jensenshannon_counts"].as_array().unwrap() {
        let v = |k: &str| -> Vec<f64> { case[k].as_array().unwrap().iter().map(num).collect() };
        close(
            jensenshannon(&v("p"), &v("q")),
            num(&case["distance"]),
            "js",
        );
    }
}
