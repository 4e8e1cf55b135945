//! The dashboard's templates: minijinja, embedded in the binary (`include_str!`), HTML
//! autoescaping on (every template name ends in `.html`), strict about undefined values (a typo
//! in a template fails its page's test instead of printing nothing). One environment per process.
//!
//! Filters: `ms_time` (Unix ms → `2025-11-30 09:12:31 UTC`), `ms_iso` (→ RFC 3339, for
//! `<time datetime>`), `dur_ms` (milliseconds → `4.2s`, `3m 05s`, `1h 02m`), `compact_json`.

use std::sync::OnceLock;

use axum::http::StatusCode;
use minijinja::{Environment, UndefinedBehavior, Value};

use super::PageError;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("status.html", include_str!("templates/status.html")),
    ("calls.html", include_str!("templates/calls.html")),
    ("call.html", include_str!("templates/call.html")),
    ("outbound.html", include_str!("templates/outbound.html")),
    ("job.html", include_str!("templates/job.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("flows.html", include_str!("templates/flows.html")),
    ("flow.html", include_str!("templates/flow.html")),
    ("logs.html", include_str!("templates/logs.html")),
    ("settings.html", include_str!("templates/settings.html")),
];

/// The navigation: (page id, path, label).
#[derive(serde::Serialize)]
struct NavItem {
    id: &'static str,
    href: &'static str,
    label: &'static str,
}

const NAV: &[NavItem] = &[
    NavItem {
        id: "status",
        href: "/",
        label: "Status",
    },
    NavItem {
        id: "calls",
        href: "/calls",
        label: "Calls",
    },
    NavItem {
        id: "outbound",
        href: "/outbound",
        label: "Outbound",
    },
    NavItem {
        id: "flows",
        href: "/flows",
        label: "Flows",
    },
    NavItem {
        id: "alerts",
        href: "/alerts",
        label: "Alerts",
    },
    NavItem {
        id: "logs",
        href: "/logs",
        label: "Logs",
    },
    NavItem {
        id: "settings",
        href: "/settings",
        label: "Settings",
    },
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, text) in TEMPLATES {
            // The templates are part of the binary; the view tests render every one.
            if let Err(e) = env.add_template(name, text) {
                tracing::error!(template = name, error = %e, "dashboard template does not parse");
            }
        }
        env.add_global("phonetree_version", crate::VERSION);
        env.add_global("nav", Value::from(minijinja::value::Serde(NAV)));
        env.add_filter("ms_time", |ms: Option<i64>| {
            ms.map_or_else(String::new, |ms| {
                let t = crate::db::time::rfc3339(ms);
                // 2025-11-30T09:12:31.412Z → 2025-11-30 09:12:31 UTC
                let t = t.split('.').next().unwrap_or(&t).trim_end_matches('Z');
                format!("{} UTC", t.replacen('T', " ", 1))
            })
        });
        env.add_filter("ms_iso", |ms: Option<i64>| {
            ms.map_or_else(String::new, crate::db::time::rfc3339)
        });
        env.add_filter("dur_ms", |ms: Option<i64>| ms.map_or_else(String::new, dur));
        env.add_filter("compact_json", |v: Value| {
            serde_json::to_string(&v).unwrap_or_default()
        });
        env
    })
}

/// `4.2s`, `3m 05s`, `1h 02m` (negative durations read as 0).
pub fn dur(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    if s < 60 {
        format!("{}.{}s", s, (ms % 1000) / 100)
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Renders `name` with `ctx`.
pub fn render(name: &str, ctx: Value) -> Result<String, PageError> {
    let t = env().get_template(name).map_err(internal)?;
    t.render(ctx).map_err(internal)
}

fn internal(e: minijinja::Error) -> PageError {
    tracing::error!(error = %e, "dashboard template failed");
    PageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page could not be drawn",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_values_are_escaped() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let html = render(
            "error.html",
            ctx! { title => "Error", status => 500,
            message => "<script>alert(1)</script>" },
        )
        .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(dur(4_210), "4.2s");
        assert_eq!(dur(185_000), "3m 05s");
        assert_eq!(dur(3_720_000), "1h 02m");
        assert_eq!(dur(-5), "0.0s");
    }
}
