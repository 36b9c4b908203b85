//! Tests of the chart builders: escaping, tooltips, balanced markup,
//! degenerate input, thinning and step lines.

use super::*;

/// Every opened element of the kinds the charts use is closed.
fn assert_balanced(svg: &str) {
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    for tag in [
        "svg", "g", "text", "title", "path", "rect", "line", "circle",
    ] {
        let opened =
            svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count();
        let closed = svg.matches(&format!("</{tag}>")).count();
        // Self-closing elements (`<line …/>`) close themselves.
        let self_closed = svg
            .match_indices(&format!("<{tag} "))
            .filter(|(i, _)| {
                svg[*i..]
                    .split('>')
                    .next()
                    .is_some_and(|s| s.ends_with('/'))
            })
            .count();
        assert_eq!(opened, closed + self_closed, "<{tag}> in {svg}");
    }
}

#[test]
fn diverging_scale_endpoints() {
    assert_eq!(diverging(-1.0), "#2166ac");
    assert_eq!(diverging(0.0), "#f7f7f7");
    assert_eq!(diverging(1.0), "#b2182b");
    assert_eq!(diverging(f64::NAN), "#f7f7f7");
    assert_eq!(sequential(0.0), "#f1f5fa");
    assert_eq!(sequential(1.0), "#2f5d8a");
    assert_eq!(sequential(f64::NAN), sequential(0.0));
}

#[test]
fn charts_escape_text_and_carry_tooltips() {
    let svg = histogram_chart(
        &[0.0, 1.0, 2.0],
        &[3, 0],
        Axis::Number,
        Some((0.5, "median")),
        "a<b",
    );
    assert_balanced(&svg);
    assert!(svg.contains("aria-label=\"a&lt;b\""));
    assert!(svg.contains("<title>[0 – 1): 3 (100.0%)</title>"), "{svg}");
    let bars = [Bar {
        label: "<script>".into(),
        value: 2.0,
        annotation: "2".into(),
        tooltip: "<script>: 2".into(),
        muted: false,
    }];
    let svg = hbar_chart(&bars, 2.0, Some((1.0, "overall")), "x");
    assert_balanced(&svg);
    assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    assert_eq!(Bar::new("a", 1.0, "1 (50%)").tooltip, "a: 1 (50%)");
    let svg = heatmap(&["a&b".into()], &[vec![Some(1.0)]]);
    assert_balanced(&svg);
    assert!(svg.contains("a&amp;b") && svg.contains("r = 1.0000"));
    // Degenerate inputs draw empty charts instead of panicking.
    let empty = histogram_chart(&[], &[], Axis::Time, None, "e");
    assert!(empty.ends_with("</svg>"));
    assert!(hbar_chart(&[], f64::NAN, None, "e").ends_with("</svg>"));
    assert!(heatmap(&[], &[]).ends_with("</svg>"));
}

#[test]
fn downsample_keeps_ends_bounds_points_and_follows_the_path() {
    // A quarter circle of radius 300 "pixels" in 10,000 points.
    let n = 10_000;
    let pts: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = std::f64::consts::FRAC_PI_2 * i as f64 / (n - 1) as f64;
            (300.0 * a.cos(), 300.0 * a.sin())
        })
        .collect();
    for max in [2, 3, 10, 400] {
        let d = downsample(&pts, max);
        assert!(d.len() <= max, "{} > {max}", d.len());
        assert_eq!((d[0], d[d.len() - 1]), (pts[0], pts[n - 1]));
        // Kept points are original points, in order.
        let mut at = 0;
        for p in &d {
            at += pts[at..]
                .iter()
                .position(|q| q == p)
                .expect("an original point");
        }
    }
    // With 400 points every original point is within one step (arc length
    // 300·π/2 / 398 ≈ 1.2 px) of a kept point.
    let d = downsample(&pts, 400);
    assert!(d.len() >= 350, "{}", d.len());
    let step = 300.0 * std::f64::consts::FRAC_PI_2 / 398.0;
    for p in &pts {
        let nearest = d
            .iter()
            .map(|q| (p.0 - q.0).hypot(p.1 - q.1))
            .fold(f64::INFINITY, f64::min);
        assert!(nearest <= step + 1e-9, "{nearest}");
    }
    // Short or degenerate input is returned as is or as its ends.
    assert_eq!(downsample(&pts[..5], 400), pts[..5].to_vec());
    let same = vec![(1.0, 1.0); 1000];
    assert_eq!(downsample(&same, 10), vec![(1.0, 1.0); 2]);
}

#[test]
fn steps_post_holds_each_value_until_the_next_x() {
    // Recall falling, precision per point: the area under the step line is
    // Σ (r_i − r_{i+1}) · p_i, the average precision.
    let pts = [(1.0, 0.5), (0.5, 0.8), (0.0, 1.0)];
    assert_eq!(
        steps_post(&pts),
        vec![(1.0, 0.5), (0.5, 0.5), (0.5, 0.8), (0.0, 0.8), (0.0, 1.0)]
    );
    assert!(steps_post(&[]).is_empty());
}

#[test]
fn line_chart_draws_series_legend_references_and_markers() {
    let long: Vec<(f64, f64)> = (0..5000)
        .map(|i| {
            let x = i as f64 / 4999.0;
            (x, x.sqrt())
        })
        .collect();
    let mut best = Series::new("gbdt <best>", long.clone());
    best.emphasis = true;
    let mut dots = Series::new("bins", vec![(0.1, 0.2), (f64::NAN, 0.5), (0.9, 0.8)]);
    dots.markers = true;
    dots.tooltips = vec!["bin 1 & more".into(), "nan".into(), "bin 3".into()];
    let series = [Series::new("logistic", long), best, dots];
    let refs = [Reference {
        from: (0.0, 0.0),
        to: (1.0, 1.0),
        label: "chance".into(),
    }];
    let svg = line_chart(&LineChart {
        label: "ROC <curves>",
        x_title: "false-positive rate",
        y_title: "true-positive rate",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        series: &series,
        references: &refs,
    });
    assert_balanced(&svg);
    assert!(svg.contains("aria-label=\"ROC &lt;curves&gt;\""));
    assert!(svg.contains("gbdt &lt;best&gt;") && !svg.contains("<best>"));
    assert_eq!(svg.matches("<path ").count(), 3);
    for d in svg.split("<path d=\"").skip(1) {
        let d = d.split('"').next().unwrap();
        let points = d.matches(['M', 'L']).count();
        assert!((2..=MAX_POINTS).contains(&points), "{points}");
    }
    // Two finite dots with their own tooltips; the NaN point is skipped.
    assert_eq!(svg.matches("<circle").count(), 2);
    assert!(svg.contains("<title>bin 1 &amp; more</title>") && svg.contains("bin 3"));
    assert!(svg.contains("stroke-dasharray=\"5 4\"><title>chance</title>"));
    assert!(
        svg.contains(">chance</text>"),
        "the reference is in the legend"
    );
    // The emphasised series is drawn after the others (on top).
    let at = |s: &str| svg.find(s).unwrap();
    assert!(at("<title>gbdt &lt;best&gt;</title>") > at("<title>logistic</title>"));
    // Degenerate ranges and empty series do not panic.
    let svg = line_chart(&LineChart {
        label: "e",
        x_title: "",
        y_title: "",
        x_range: (1.0, 1.0),
        y_range: (f64::NAN, 0.0),
        series: &[Series::new("empty", vec![])],
        references: &[],
    });
    assert_balanced(&svg);
}

#[test]
fn heat_cells_label_shade_and_escape() {
    let cell = |text: &str, t: f64| MatrixCell {
        text: text.into(),
        detail: format!("{text} <detail>"),
        tooltip: format!("tip {text}"),
        intensity: t,
    };
    let rows = ["actual 0".to_string(), "actual <1>".to_string()];
    let cols = ["predicted 0".to_string(), "predicted 1".to_string()];
    let cells = vec![
        vec![cell("90", 0.9), cell("10", 0.1)],
        vec![cell("2", 0.2)], // a missing cell is drawn blank
    ];
    let svg = heat_cells(&MatrixChart {
        label: "Confusion",
        row_title: "actual",
        col_title: "predicted",
        rows: &rows,
        cols: &cols,
        cells: &cells,
    });
    assert_balanced(&svg);
    assert_eq!(svg.matches("<rect class=\"cell\"").count(), 4);
    assert!(svg.contains(&format!("fill=\"{}\"", sequential(0.9))));
    assert!(svg.contains("actual &lt;1&gt;") && svg.contains("90 &lt;detail&gt;"));
    assert!(svg.contains("<title>tip 10</title>"));
    // Dark cells get white text.
    assert!(svg.contains("fill=\"#ffffff\" style=\"font-size:16px;font-weight:600\">90<"));
}
