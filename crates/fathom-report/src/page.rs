//! The page shell: `<head>` with the inline style sheet, a dark header with
//! the title, a source line, figure tiles and notes, section headings, and
//! the footer. Pages add their own CSS after [`BASE_CSS`].

use crate::format::escape;
use std::fmt::Write;

/// The style sheet every report shares: layout, header and tiles, tables,
/// cards, notes, and the classes the [`chart`](crate::chart) builders use.
pub const BASE_CSS: &str = r#"
:root{--bg:#f5f7fa;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--head:#1f2d3d;
--accent:#4c78a8;--warn:#b7791f;--warnbg:#fff4e0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans",Arial,sans-serif}
header{background:var(--head);color:#fff;padding:26px 0 30px}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
header h1{margin:0 0 4px;font-size:24px;font-weight:600;letter-spacing:.2px}
header .src{color:#b8c4d0;font-size:13px;word-break:break-all}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.tile{background:rgba(255,255,255,.08);border:1px solid rgba(255,255,255,.14);border-radius:8px;padding:10px 16px;min-width:130px}
.tile .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .k{font-size:12px;color:#b8c4d0;text-transform:uppercase;letter-spacing:.6px}
main{padding:8px 0 48px}
h2{font-size:18px;font-weight:600;margin:30px 0 12px;color:#323f4b}
h2 .sub{font-size:13px;font-weight:400;color:var(--muted);margin-left:8px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:4px 0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 12px;text-align:right;white-space:nowrap}
th{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.4px;border-bottom:1px solid var(--line)}
td{border-bottom:1px solid #f0f2f5}
tr:last-child td{border-bottom:0}
th.l,td.l{text-align:left}
td.name{max-width:280px;overflow:hidden;text-overflow:ellipsis}
td a{color:var(--ink);text-decoration:none;font-weight:500}
td a:hover{color:var(--accent);text-decoration:underline}
td.warn,dd.warn{color:var(--warn);font-weight:600}
td.warn{background:var(--warnbg)}
td.idx{color:#9aa5b1;width:1%}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 8px;border-radius:10px;text-transform:lowercase;letter-spacing:.3px}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px 12px;min-width:0}
.card-head{display:flex;align-items:center;gap:10px;margin-bottom:10px}
.card-head h3{margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card-head .badge{flex:none}
.card-head .flag{margin-left:auto;flex:none;font-size:12px;color:var(--warn);background:var(--warnbg);border-radius:10px;padding:1px 8px;font-weight:600}
svg.chart{display:block;width:100%;height:auto;max-width:100%}
svg.chart text{font-family:inherit}
svg .tick{font-size:11px;fill:#616e7c}
svg .cat{font-size:12px;fill:#323f4b}
svg .cellv{font-size:10.5px}
svg .marker-text{fill:#c05621;font-weight:600}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .axis-title{font-size:12px;fill:#323f4b;font-weight:500}
svg .legend{font-size:12px;fill:#323f4b}
.caption{color:var(--muted);font-size:12px;margin:2px 0 0 52px}
svg rect.bar:hover,svg g.bin:hover rect.bar{fill:#2f5d8a}
svg rect.cell:hover{stroke:#1f2933;stroke-width:2}
svg g.series:hover path{stroke-width:3.5}
.note{color:var(--muted);font-size:13px;margin:4px 0 0}
.empty{color:var(--muted);font-style:italic;padding:24px 0;text-align:center}
.warnbox{background:var(--warnbg);border:1px solid #f3d19c;color:#744210;border-radius:8px;padding:10px 14px;margin-top:20px}
.warnbox ul{margin:4px 0 0;padding-left:20px}
footer{color:#9aa5b1;font-size:12px;text-align:center;padding:8px 0 28px}
"#;

/// One figure in the header ("12,000" over "rows").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// The figure, as text.
    pub value: String,
    /// What it counts, shown small under it.
    pub key: String,
}

impl Tile {
    /// A tile from plain text (escaped when written).
    pub fn new(value: impl Into<String>, key: impl Into<String>) -> Self {
        Tile {
            value: value.into(),
            key: key.into(),
        }
    }
}

/// What the page header shows. All fields are plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Page title, also the document's `<title>`.
    pub title: String,
    /// One line under the title, e.g. "Source: data/transactions.csv".
    pub source: String,
    /// Figures shown as tiles.
    pub tiles: Vec<Tile>,
    /// Things the reader should know first, listed in a highlighted box.
    pub notes: Vec<String>,
}

/// An HTML report being written: [`Page::begin`] writes the head and the
/// header and opens `<main>`; sections are appended with [`Page::heading`],
/// [`Page::push`] or `write!`; [`Page::finish`] closes the document.
#[derive(Debug, Clone)]
pub struct Page {
    html: String,
}

impl Page {
    /// Starts a page: the head with [`BASE_CSS`] followed by `extra_css`,
    /// then the header.
    pub fn begin(header: &Header, extra_css: &str) -> Self {
        let mut html = String::with_capacity(64 * 1024);
        let title = escape(&header.title);
        let _ = write!(
            html,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{BASE_CSS}{extra_css}</style></head><body>
<header><div class="wrap"><h1>{title}</h1><div class="src">{}</div><div class="tiles">"#,
            escape(&header.source)
        );
        for t in &header.tiles {
            let _ = write!(
                html,
                r#"<div class="tile"><div class="v">{}</div><div class="k">{}</div></div>"#,
                escape(&t.value),
                escape(&t.key)
            );
        }
        html.push_str("</div>");
        if !header.notes.is_empty() {
            html.push_str(r#"<div class="warnbox"><strong>Notes</strong><ul>"#);
            for n in &header.notes {
                let _ = write!(html, "<li>{}</li>", escape(n));
            }
            html.push_str("</ul></div>");
        }
        html.push_str("</div></header>\n<main class=\"wrap\">\n");
        Page { html }
    }

    /// A section heading with an optional grey subtitle (plain text).
    pub fn heading(&mut self, title: &str, sub: Option<&str>) {
        let _ = write!(self.html, "<h2>{}", escape(title));
        if let Some(sub) = sub {
            let _ = write!(self.html, r#"<span class="sub">{}</span>"#, escape(sub));
        }
        self.html.push_str("</h2>");
    }

    /// A one-line note in muted text (plain text), e.g. why a chart is left out.
    pub fn note(&mut self, text: &str) {
        let _ = write!(self.html, r#"<p class="note">{}</p>"#, escape(text));
    }

    /// Appends markup as is (the caller escapes any text in it).
    pub fn push(&mut self, html: &str) {
        self.html.push_str(html);
    }

    /// Closes `<main>`, adds the footer (plain text) and returns the document.
    pub fn finish(mut self, footer: &str) -> String {
        let _ = write!(
            self.html,
            "</main><footer>{}</footer>\n</body></html>\n",
            escape(footer)
        );
        self.html
    }
}

impl Write for Page {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.html.push_str(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_escapes_text_and_closes_the_document() {
        let mut p = Page::begin(
            &Header {
                title: "a <b> & c".into(),
                source: "Source: \"x\"".into(),
                tiles: vec![Tile::new("<0.1%", "rate of <y>")],
                notes: vec!["n <1>".into()],
            },
            ".x{}",
        );
        p.heading("H <2>", Some("sub & more"));
        p.note("why <not>");
        let html = p.finish("made by <fathom>");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</body></html>\n"));
        assert!(html.contains("<title>a &lt;b&gt; &amp; c</title>"));
        assert!(html.contains("<h1>a &lt;b&gt; &amp; c</h1>"));
        assert!(html.contains("&lt;0.1%") && html.contains("rate of &lt;y&gt;"));
        assert!(html.contains("<li>n &lt;1&gt;</li>"));
        assert!(html.contains("<h2>H &lt;2&gt;<span class=\"sub\">sub &amp; more</span></h2>"));
        assert!(html.contains("why &lt;not&gt;"));
        assert!(html.contains("<footer>made by &lt;fathom&gt;</footer>"));
        assert!(html.contains(".x{}</style>"));
        for tag in ["main", "header", "footer", "body", "html", "style", "ul"] {
            assert_eq!(
                html.matches(&format!("<{tag}")).count(),
                html.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }
}
