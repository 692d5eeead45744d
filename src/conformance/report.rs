//! The reports of a run: a terminal summary, JSON (the `RunReport` as it is), JUnit XML
//! (one testcase per case, for a vendor's CI) and one self-contained HTML page a person
//! reads: the summary first, then each failure with what was expected, what happened and
//! the requirement broken.

use std::fmt::Write as _;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::run::{RunReport, Status};
use super::Suite;
use crate::error::Error;

/// Where docs/STANDARD.md of the raccordo `version` that checked is read online: the
/// reports link each requirement to the text it was checked against.
pub fn standard_url(version: &str) -> String {
    format!("https://github.com/raccordo/raccordo/blob/v{version}/docs/STANDARD.md")
}

/// What the report is evidence of, in one line: who was checked, by what, when.
fn provenance(report: &RunReport) -> String {
    format!(
        "system under test: {}; checked by raccordo {} with suite {} on {}",
        report.system.as_deref().unwrap_or("not named (--system)"),
        report.raccordo,
        report.suite,
        report.started
    )
}

/// The verdict in words, claiming no more than was checked.
fn verdict(report: &RunReport) -> String {
    let (passed, failed, skipped) =
        (report.count(Status::Pass), report.count(Status::Fail), report.count(Status::Skip));
    let should = report.results.iter().filter(|r| r.status == Status::Fail && !r.mandatory).count();
    match (&report.stopped, report.passed()) {
        (Some(why), _) => format!("STOPPED: {why}"),
        (None, true) => format!(
            "PASSED: {passed} of {} cases passed, no mandatory case failed ({skipped} not applicable here, {should} should-level failures)",
            report.results.len()
        ),
        (None, false) => format!(
            "FAILED: {failed} of {} cases failed ({passed} passed, {skipped} not applicable here)",
            report.results.len()
        ),
    }
}

/// The terminal summary: who and what was checked, the failures grouped by requirement,
/// then each failure on a few lines.
pub fn summary(report: &RunReport, suite: &Suite) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} cases ({} {} {}): {} passed, {} failed, {} skipped",
        report.results.len(),
        report.mode,
        report.profile,
        report.subject,
        report.count(Status::Pass),
        report.count(Status::Fail),
        report.count(Status::Skip)
    );
    let _ = writeln!(out, "{}", provenance(report));
    let groups = report.failures_by_requirement();
    if !groups.is_empty() {
        let _ = writeln!(out, "failures by requirement:");
    }
    for group in &groups {
        let title = suite.requirement(&group.requirement).map_or("", |r| r.title.as_str());
        let _ = writeln!(out, "  {} ({} cases) {title}", group.requirement, group.cases.len());
        if let Some(finding) = group.first_finding {
            let _ = writeln!(out, "      fix first: {}", finding.message);
        }
    }
    for result in report.results.iter().filter(|r| r.status == Status::Fail) {
        let level = if result.mandatory { "" } else { " (should)" };
        let _ = writeln!(out, "FAIL {} [{}]{level}", result.id, result.requirement);
        let _ = writeln!(out, "     expected: {}", result.expected);
        let _ = writeln!(out, "     actual:   {}", result.actual);
        for finding in &result.findings {
            let code = finding.code.as_deref().unwrap_or("-");
            let _ = writeln!(out, "     {} {code} {} {}", finding.requirement, finding.path, finding.message);
        }
    }
    let _ = writeln!(out, "{}", verdict(report));
    out
}

pub fn json(report: &RunReport) -> Result<String, Error> {
    serde_json::to_string_pretty(report).map_err(|e| Error::Internal(e.to_string()))
}

/// JUnit XML: one testsuite, one testcase per case (classname: the requirement), a
/// `failure` with the findings for each failed case, `skipped` for the skipped.
pub fn junit(report: &RunReport) -> Result<String, Error> {
    let xml = |e: std::io::Error| Error::Internal(format!("writing JUnit: {e}"));
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None))).map_err(xml)?;
    let mut suites = BytesStart::new("testsuite");
    let name = format!("raccordo conformance, {} {}", report.profile, report.mode);
    let tests = report.results.len().to_string();
    let failures = report.count(Status::Fail).to_string();
    let skipped = report.count(Status::Skip).to_string();
    let seconds: u64 = report.results.iter().map(|r| r.millis).sum();
    let time = format!("{:.3}", seconds as f64 / 1000.0);
    suites.push_attribute(("name", name.as_str()));
    suites.push_attribute(("tests", tests.as_str()));
    suites.push_attribute(("failures", failures.as_str()));
    suites.push_attribute(("errors", "0"));
    suites.push_attribute(("skipped", skipped.as_str()));
    suites.push_attribute(("time", time.as_str()));
    suites.push_attribute(("timestamp", report.started.as_str()));
    writer.write_event(Event::Start(suites)).map_err(xml)?;
    writer.write_event(Event::Start(BytesStart::new("properties"))).map_err(xml)?;
    let system = report.system.clone().unwrap_or_default();
    let stopped = report.stopped.clone().unwrap_or_default();
    for (name, value) in [
        ("system", system.as_str()),
        ("raccordo", report.raccordo.as_str()),
        ("suite", report.suite.as_str()),
        ("profile", report.profile.as_str()),
        ("subject", report.subject.as_str()),
        ("stopped", stopped.as_str()),
    ] {
        let mut property = BytesStart::new("property");
        property.push_attribute(("name", name));
        property.push_attribute(("value", value));
        writer.write_event(Event::Empty(property)).map_err(xml)?;
    }
    writer.write_event(Event::End(BytesEnd::new("properties"))).map_err(xml)?;
    for result in &report.results {
        let mut case = BytesStart::new("testcase");
        let time = format!("{:.3}", result.millis as f64 / 1000.0);
        case.push_attribute(("classname", result.requirement.as_str()));
        case.push_attribute(("name", result.id.as_str()));
        case.push_attribute(("time", time.as_str()));
        match result.status {
            Status::Pass => writer.write_event(Event::Empty(case)).map_err(xml)?,
            Status::Skip => {
                writer.write_event(Event::Start(case)).map_err(xml)?;
                let mut skipped = BytesStart::new("skipped");
                skipped.push_attribute(("message", result.actual.as_str()));
                writer.write_event(Event::Empty(skipped)).map_err(xml)?;
                writer.write_event(Event::End(BytesEnd::new("testcase"))).map_err(xml)?;
            }
            Status::Fail => {
                writer.write_event(Event::Start(case)).map_err(xml)?;
                let mut failure = BytesStart::new("failure");
                let message = format!("{}: expected {}, got {}", result.requirement, result.expected, result.actual);
                failure.push_attribute(("message", message.as_str()));
                failure.push_attribute(("type", result.requirement.as_str()));
                writer.write_event(Event::Start(failure)).map_err(xml)?;
                let mut text = String::new();
                for finding in &result.findings {
                    let _ = writeln!(
                        text,
                        "{} {} {} {}",
                        finding.requirement,
                        finding.code.as_deref().unwrap_or("-"),
                        finding.path,
                        finding.message
                    );
                }
                writer.write_event(Event::Text(BytesText::new(&text))).map_err(xml)?;
                writer.write_event(Event::End(BytesEnd::new("failure"))).map_err(xml)?;
                writer.write_event(Event::End(BytesEnd::new("testcase"))).map_err(xml)?;
            }
        }
    }
    writer.write_event(Event::End(BytesEnd::new("testsuite"))).map_err(xml)?;
    String::from_utf8(writer.into_inner()).map_err(|e| Error::Internal(e.to_string()))
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One self-contained page: no script, no external style or font.
pub fn html(report: &RunReport, suite: &Suite) -> String {
    let (passed, failed, skipped) =
        (report.count(Status::Pass), report.count(Status::Fail), report.count(Status::Skip));
    let verdict = if report.passed() { "passed" } else { "failed" };
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>raccordo conformance: {profile} {verdict}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1b1b1b; }}
h1 {{ font-size: 1.5rem; }} table {{ border-collapse: collapse; }} td, th {{ padding: .25rem .6rem; text-align: left; border-bottom: 1px solid #ddd; vertical-align: top; }}
.passed {{ color: #0a6b2d; }} .failed {{ color: #a4161a; }} .verdict {{ font-size: 1.2rem; font-weight: 600; }}
section.failure {{ border-left: 4px solid #a4161a; padding: .25rem 1rem; margin: 1rem 0; background: #fff6f6; }}
code {{ font: 13px ui-monospace, monospace; }} dt {{ font-weight: 600; }} dd {{ margin: 0 0 .4rem 0; }}
</style></head><body>
<h1>raccordo conformance report</h1>
<p class="verdict {verdict}" id="verdict">{verdict_text}</p>
<table id="summary">
<tr><th>system under test</th><td id="system">{system}</td></tr>
<tr><th>profile</th><td>{profile}</td></tr>
<tr><th>checked</th><td>{mode}: {subject}</td></tr>
<tr><th>checked by</th><td>raccordo {raccordo}, suite {suite_version}</td></tr>
<tr><th>started</th><td>{started}</td></tr>
<tr><th>cases</th><td>{total}</td></tr>
<tr><th>passed</th><td class="passed">{passed}</td></tr>
<tr><th>failed</th><td class="failed">{failed}</td></tr>
<tr><th>skipped</th><td>{skipped}</td></tr>
</table>
"#,
        profile = escape(&report.profile),
        verdict = verdict,
        verdict_text = match (&report.stopped, report.passed()) {
            (Some(why), _) => format!("Stopped: {}", escape(why)),
            (None, true) => format!(
                "Passed: {passed} of {total} cases passed; no mandatory case failed ({skipped} not applicable here).",
                total = report.results.len()
            ),
            (None, false) => format!("Failed: {failed} cases failed."),
        },
        system = escape(report.system.as_deref().unwrap_or("not named")),
        raccordo = escape(&report.raccordo),
        suite_version = escape(&report.suite),
        mode = escape(&report.mode),
        subject = escape(&report.subject),
        started = escape(&report.started),
        total = report.results.len(),
    );
    let standard = standard_url(&report.raccordo);
    let link = |id: &str| {
        suite.requirement(id).map_or_else(
            || escape(id),
            |r| format!(r#"<a href="{standard}#{}">{} — {}</a>"#, escape(&r.anchor()), escape(&r.id), escape(&r.title)),
        )
    };
    let groups = report.failures_by_requirement();
    if !groups.is_empty() {
        page.push_str(
            "<h2>Failures by requirement</h2>\n<table id=\"requirements\"><tr><th>requirement</th><th>cases</th><th>what to fix first</th></tr>\n",
        );
        for group in &groups {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                link(&group.requirement),
                group.cases.len(),
                escape(group.first_finding.map_or("", |f| f.message.as_str()))
            );
        }
        page.push_str("</table>\n");
    }
    if failed > 0 {
        page.push_str("<h2>Failures</h2>\n");
    }
    for result in report.results.iter().filter(|r| r.status == Status::Fail) {
        let link = link(&result.requirement);
        let _ = write!(
            page,
            "<section class=\"failure\"><h3><code>{id}</code></h3><p>{title}</p><dl>\n\
             <dt>requirement</dt><dd>{link}{level}</dd>\n<dt>expected</dt><dd>{expected}</dd>\n<dt>actual</dt><dd>{actual}</dd>\n</dl>\n",
            id = escape(&result.id),
            title = escape(&result.title),
            level = if result.mandatory { "" } else { " (should)" },
            expected = escape(&result.expected),
            actual = escape(&result.actual),
        );
        if !result.findings.is_empty() {
            page.push_str("<table><tr><th>requirement</th><th>code</th><th>path</th><th>finding</th></tr>\n");
            for finding in &result.findings {
                let _ = writeln!(
                    page,
                    "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(&finding.requirement),
                    escape(finding.code.as_deref().unwrap_or("")),
                    escape(&finding.path),
                    escape(&finding.message)
                );
            }
            page.push_str("</table>\n");
        }
        page.push_str("</section>\n");
    }
    page.push_str(
        "<h2>Every case</h2>\n<table id=\"cases\"><tr><th>case</th><th>requirement</th><th>result</th></tr>\n",
    );
    for result in &report.results {
        let status = match result.status {
            Status::Pass => "passed",
            Status::Fail => "failed",
            Status::Skip => "skipped",
        };
        let _ = writeln!(
            page,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{status}\">{status}</td></tr>",
            escape(&result.id),
            escape(&result.requirement)
        );
    }
    page.push_str("</table>\n</body></html>\n");
    page
}
