//! The query parameters of the console's lists, read and checked: each reader notes what is
//! wrong with its parameter instead of returning at the first, and `finish` refuses the
//! request with every problem at once (400, each error's `path` the parameter's name, which
//! the page uses to mark the field). Values are never echoed: a parameter may hold personal
//! data.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Europe::Rome;

use crate::api::Problem;
use crate::clock::parse_instant;
use crate::gateway::Gateway;
use crate::store::{MessageStatus, Scope};

/// Rows a page holds unless `limit` says otherwise, and at most.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A request's query parameters, being checked.
pub struct Params {
    pairs: Vec<(String, String)>,
    problems: Vec<(String, String)>,
}

impl Params {
    /// The parameters of a query string, any name outside `known` (or given twice) noted as
    /// a problem.
    pub fn read(query: Result<Query<Vec<(String, String)>>, QueryRejection>, known: &[&str]) -> Params {
        let mut params = Params { pairs: Vec::new(), problems: Vec::new() };
        let pairs = match query {
            Ok(Query(pairs)) => pairs,
            Err(_) => {
                params.problem("query", "the query string is not form-urlencoded UTF-8");
                return params;
            }
        };
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                params.problem(&name, format!("not a parameter of this list (these are: {})", known.join(", ")));
            } else if params.pairs.iter().any(|(seen, _)| seen == &name) {
                params.problem(&name, "given twice");
            } else {
                params.pairs.push((name, value));
            }
        }
        params
    }

    pub fn problem(&mut self, name: &str, reason: impl Into<String>) {
        self.problems.push((name.to_owned(), reason.into()));
    }

    /// The parameter's text, trimmed; `None` when absent or empty (an empty form field).
    pub fn text(&mut self, name: &str) -> Option<String> {
        let value = self.pairs.iter().find(|(seen, _)| seen == name).map(|(_, value)| value.trim())?;
        if value.is_empty() {
            return None;
        }
        if value.chars().count() > 200 {
            self.problem(name, "longer than 200 characters");
            return None;
        }
        Some(value.to_owned())
    }

    /// `limit`: rows per page, 1 or more, at most `MAX_LIMIT` (a larger one is capped).
    pub fn limit(&mut self) -> i64 {
        match self.text("limit").map(|text| text.parse::<i64>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if limit >= 1 => limit.min(MAX_LIMIT),
            Some(_) => {
                self.problem("limit", format!("a whole number from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        }
    }

    /// `after`: the cursor of a page, as `next` gave it.
    pub fn after(&mut self) -> Option<i64> {
        let text = self.text("after")?;
        match decode_cursor(&text) {
            Some(seq) => Some(seq),
            None => {
                self.problem("after", "not a cursor this list gave (use its `next`)");
                None
            }
        }
    }

    /// An instant: RFC 3339, or a date (`yyyy-mm-dd`) in Rome's time, where the console's
    /// users are: its midnight, or with `end_of_day` the next midnight (so "until
    /// 2026-03-02" takes in the whole day).
    pub fn instant(&mut self, name: &str, end_of_day: bool) -> Option<i64> {
        let text = self.text(name)?;
        let instant = match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) => {
                let day = if end_of_day { date.succ_opt() } else { Some(date) };
                day.and_then(|day| day.and_hms_opt(0, 0, 0))
                    .and_then(|midnight| Rome.from_local_datetime(&midnight).earliest())
                    .map(|midnight| midnight.timestamp_millis())
            }
            Err(_) if text.contains('T') => parse_instant(&text),
            Err(_) => None,
        };
        if instant.is_none() {
            self.problem(name, "a date (yyyy-mm-dd) or an RFC 3339 instant such as 2026-03-02T10:00:00+01:00");
        }
        instant
    }

    /// A message type of the standard (short name), which `scope` sees.
    pub fn message_type(&mut self, name: &str, state: &Gateway, scope: &Scope) -> Option<String> {
        let text = self.text(name)?;
        if state.catalog.standard.message_type(&text).is_none() || !scope.sees_type(&text) {
            self.problem(name, "not a message type of the standard (`worker.registered`, …) you may see");
            return None;
        }
        Some(text)
    }

    /// A message status: `accepted`, `delivered` or `failed`.
    pub fn status(&mut self, name: &str) -> Option<MessageStatus> {
        let text = self.text(name)?;
        let status = MessageStatus::parse(&text);
        if status.is_none() {
            let known: Vec<&str> = MessageStatus::ALL.iter().map(|status| status.as_str()).collect();
            self.problem(name, format!("one of {}", known.join(", ")));
        }
        status
    }

    /// A configured party's id, which `scope` sees.
    pub fn party(&mut self, name: &str, state: &Gateway, scope: &Scope) -> Option<String> {
        let text = self.text(name)?;
        if state.parties.get(&text).is_none() || !scope.sees_party(&text) {
            self.problem(name, "not the id of a party you may see (e.g. cpi-cremona)");
            return None;
        }
        Some(text)
    }

    /// The request, or a problem naming every malformed parameter.
    pub fn finish(self) -> Result<(), Problem> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Problem::parameters(&self.problems))
        }
    }
}

/// The `next` of a page that continues after sequence number `seq`: opaque to the page,
/// which sends it back as `after`.
pub fn cursor(seq: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("s{seq}"))
}

fn decode_cursor(text: &str) -> Option<i64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()?;
    std::str::from_utf8(&bytes).ok()?.strip_prefix('s')?.parse().ok().filter(|seq: &i64| *seq >= 0)
}

/// `next` for a page of `rows` rows asked with `limit`: the last row's cursor when the
/// page is full (there may be more), none otherwise.
pub fn next<T>(rows: &[T], limit: i64, seq: impl Fn(&T) -> i64) -> Option<String> {
    (rows.len() as i64 >= limit).then(|| rows.last().map(|row| cursor(seq(row)))).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, known: &[&str], expect: expect_test::Expect) {
        let pairs: Vec<(String, String)> = serde_json::from_str(query).unwrap_or_default();
        let mut params = Params::read(Ok(Query(pairs)), known);
        let since = params.instant("since", false);
        let until = params.instant("until", true);
        let limit = params.limit();
        let after = params.after();
        let outcome = match params.finish() {
            Ok(()) => format!("since {since:?} until {until:?} limit {limit} after {after:?}"),
            Err(problem) => format!("{problem:?}"),
        };
        expect.assert_eq(&outcome);
    }

    #[test]
    fn parameters_are_read_or_refused_by_name() {
        let known = &["since", "until", "limit", "after"];
        check(r#"[]"#, known, expect_test::expect!["since None until None limit 50 after None"]);
        check(
            &format!(r#"[["since","2026-03-02"],["until","2026-03-02"],["limit","999"],["after","{}"]]"#, cursor(7)),
            known,
            expect_test::expect!["since Some(1772406000000) until Some(1772492400000) limit 200 after Some(7)"],
        );
        check(
            r#"[["since","2026-03-02T10:00:00Z"],["limit",""]]"#,
            known,
            expect_test::expect!["since Some(1772445600000) until None limit 50 after None"],
        );
        let refused = |query: &str| {
            let pairs: Vec<(String, String)> = serde_json::from_str(query).unwrap_or_default();
            let mut params = Params::read(Ok(Query(pairs)), known);
            params.instant("since", false);
            params.limit();
            params.after();
            params.finish().err().map(|problem| format!("{problem:?}")).unwrap_or_default()
        };
        let problem = refused(r#"[["since","notadate"],["limit","0"],["after","xyz"],["color","red"]]"#);
        for name in ["\"since\"", "\"limit\"", "\"after\"", "\"color\""] {
            assert!(problem.contains(&format!("path: {name}")), "{name} not named: {problem}");
        }
        assert!(!problem.contains("notadate") && !problem.contains("red\""), "a value is echoed: {problem}");
    }
}
