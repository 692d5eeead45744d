//! The console's pages, scripts, styles and fonts, embedded in the binary from
//! `src/api/console/static/` and served with their content type and an ETag, so that a
//! browser revalidates them (`Cache-Control: no-cache`) and gets a 304 when nothing changed.
//!
//! Embedded rather than read from disk so the console works wherever the binary is copied,
//! offline, with nothing else to install; a changed file takes a rebuild, which is also
//! what keeps its ETag honest.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};

static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/src/api/console/static");

/// Each file's ETag (a quoted prefix of its SHA-256), computed once.
fn etags() -> &'static HashMap<&'static str, String> {
    static ETAGS: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        let mut etags = HashMap::new();
        let mut folders = vec![&FILES];
        while let Some(folder) = folders.pop() {
            folders.extend(folder.dirs());
            for file in folder.files() {
                let Some(path) = file.path().to_str() else { continue };
                let digest = openssl::sha::sha256(file.contents());
                let hex: String = digest.iter().take(12).map(|byte| format!("{byte:02x}")).collect();
                etags.insert(path, format!("\"{hex}\""));
            }
        }
        etags
    })
}

/// The content type of a file, by its extension; what the console does not ship is sent as
/// bytes, which `nosniff` keeps a browser from running.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file at `path` (relative to the static folder), or 404; 304 when the browser's
/// `If-None-Match` names its current ETag.
pub fn serve(path: &str, request: &HeaderMap) -> Response {
    let (Some(file), Some(etag)) = (FILES.get_file(path), etags().get(path)) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n")
            .into_response();
    };
    let cached = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(path))], file.contents()).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_kind_of_file_has_its_content_type() {
        for (path, expected) in [
            ("index.html", "text/html; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("i18n/it.json", "application/json"),
            ("favicon.svg", "image/svg+xml"),
            ("vendor/fonts/titillium-web-v10-latin-ext_latin-regular.woff2", "font/woff2"),
        ] {
            assert!(FILES.get_file(path).is_some(), "{path} is not embedded");
            assert_eq!(content_type(path), expected, "{path}");
        }
        assert!(etags().len() >= 20, "every file has an ETag: {}", etags().len());
    }
}
