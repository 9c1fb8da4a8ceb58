//! Reports a city manager can open offline: one self-contained HTML file (inline CSS and SVG
//! charts, no script, no external file) built from sections of paragraphs, KPI tables and
//! charts. Used by `twin scenario run`, `twin waste compare` and `twin ev study`, so every study
//! reads the same way.

pub mod chart;
pub mod ev;
pub mod waste;

use std::fmt::Write;
use std::path::Path;

pub use chart::{BarChart, LineChart, Series, escape, format_number};

/// A table of KPIs: a header row and rows of a label and cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
}

/// One piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Paragraph(String),
    Table(Table),
    Line(LineChart),
    Bars(BarChart),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// A report: a title, a line saying what was run, and sections.
#[derive(Debug, Clone, PartialEq)]
pub struct HtmlReport {
    pub title: String,
    pub subtitle: String,
    pub sections: Vec<Section>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:820px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
.subtitle{color:#555;margin-top:0}table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}\
th,td{padding:.3em .8em;border-bottom:1px solid #e4e4e4;text-align:right}th:first-child,td:first-child{text-align:left}\
thead th{border-bottom:2px solid #999}svg.chart{width:100%;height:auto;margin:1em 0}\
.chart-title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#444}.axis-label{font-size:12px;fill:#333}\
.legend{font-size:12px}.grid{stroke:#e8e8e8}.axis{stroke:#888}footer{margin-top:3em;color:#777;font-size:.85em}\
@media print{svg.chart{page-break-inside:avoid}}";

impl HtmlReport {
    pub fn new(title: impl Into<String>, subtitle: impl Into<String>) -> HtmlReport {
        HtmlReport {
            title: title.into(),
            subtitle: subtitle.into(),
            sections: Vec::new(),
        }
    }

    /// Start a section; blocks are added to the newest one.
    pub fn section(&mut self, heading: impl Into<String>) -> &mut Section {
        self.sections.push(Section {
            heading: heading.into(),
            blocks: Vec::new(),
        });
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    pub fn to_html(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1><p class=\"subtitle\">{s}</p>",
            t = escape(&self.title),
            s = escape(&self.subtitle)
        );
        for section in &self.sections {
            let _ = write!(out, "<section><h2>{}</h2>", escape(&section.heading));
            for block in &section.blocks {
                match block {
                    Block::Paragraph(p) => {
                        let _ = write!(out, "<p>{}</p>", escape(p));
                    }
                    Block::Table(t) => out.push_str(&table_html(t)),
                    Block::Line(c) => out.push_str(&c.to_svg()),
                    Block::Bars(c) => out.push_str(&c.to_svg()),
                }
            }
            out.push_str("</section>");
        }
        let _ = writeln!(
            out,
            "<footer>citytwin {} — a digital twin of the city. This file is self-contained and opens offline.</footer></body></html>",
            env!("CARGO_PKG_VERSION")
        );
        out
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_html())
    }
}

impl Section {
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Section {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    pub fn table(&mut self, table: Table) -> &mut Section {
        self.blocks.push(Block::Table(table));
        self
    }

    pub fn line_chart(&mut self, chart: LineChart) -> &mut Section {
        self.blocks.push(Block::Line(chart));
        self
    }

    pub fn bar_chart(&mut self, chart: BarChart) -> &mut Section {
        self.blocks.push(Block::Bars(chart));
        self
    }
}

fn table_html(t: &Table) -> String {
    let mut out = String::from("<table><thead><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for (label, cells) in &t.rows {
        let _ = write!(out, "<tr><td>{}</td>", escape(label));
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// `x` rounded to `decimals` places, for figures written to JSON reports.
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_one_self_contained_page() {
        let mut r = HtmlReport::new("Waste <policies>", "30 days");
        r.section("Results")
            .paragraph("Dynamic drives less & overflows less.")
            .table(Table {
                columns: vec!["".into(), "fixed".into(), "dynamic".into()],
                rows: vec![("km".into(), vec!["35 728".into(), "35 276".into()])],
            })
            .line_chart(LineChart {
                title: "km per day".into(),
                x_label: "day".into(),
                y_label: "km".into(),
                x: vec![1.0, 2.0],
                series: vec![Series::new("fixed", vec![1.0, 2.0])],
            });
        let html = r.to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Waste &lt;policies&gt;</title>"));
        assert!(html.contains("&amp; overflows"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches("<tr>").count(), 2);
        // Nothing to fetch: no scripts, no external stylesheets, images or fonts.
        for forbidden in ["<script", "src=", "<link", "url(", "@import"] {
            assert!(!html.contains(forbidden), "{forbidden}");
        }
    }
}
