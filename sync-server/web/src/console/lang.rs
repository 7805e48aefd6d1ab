//! The console's language: Chinese first, English second, switchable.
//!
//! The choice lives in a plain `linli_lang` cookie (not tied to the
//! session, so the sign-in page follows it too) and is changed by
//! `GET /admin/lang/{zh|en}?back=/admin/...`. Labels are written in place as
//! `l.t("中文", "English")`, so both texts sit side by side in the template
//! where they are used. Messages that travel as values (validation errors)
//! are written `中文 (English)` and shown with [`Lang::msg`], which picks
//! the reader's half.

use axum::{
    extract::{FromRequestParts, Path, Query},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

const COOKIE: &str = "linli_lang";

/// The reader's language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文, the default.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The label in this language.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// The reader's half of a message written `中文 (English)`; a message
    /// not of that shape is shown whole.
    pub fn msg(self, message: &str) -> String {
        let Some(open) = message.rfind(" (") else {
            return message.to_string();
        };
        let (zh, rest) = (&message[..open], &message[open + 2..]);
        let Some(en) = rest.strip_suffix(')') else {
            return message.to_string();
        };
        if zh.is_empty()
            || en.is_empty()
            || en.contains(|c: char| ('\u{4e00}'..='\u{9fff}').contains(&c))
        {
            return message.to_string();
        }
        match self {
            Lang::Zh => zh.to_string(),
            Lang::En => en.to_string(),
        }
    }

    /// The `lang` attribute of the page.
    pub fn html_lang(self) -> &'static str {
        self.t("zh-CN", "en")
    }

    /// The language a request asks for through its cookie.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Lang {
        let chosen = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v);
        match chosen {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// Where to go back to after switching.
#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// A path on this server that is safe to redirect to: absolute, not
/// protocol-relative, printable ASCII only (a `Location` header allows
/// nothing else; `Redirect::to` would panic on it).
fn local_path(p: &str) -> Option<String> {
    (p.starts_with('/')
        && p.is_ascii()
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control))
    .then(|| p.to_string())
}

/// `GET /admin/lang/{zh|en}`: remember the choice and go back to the page
/// it was chosen on (`?back=`, else the Referer's path; only ever a path on
/// this server, so it cannot send anyone elsewhere; else the overview).
pub async fn switch(
    Path(code): Path<String>,
    Query(q): Query<Back>,
    headers: axum::http::HeaderMap,
) -> Response {
    let value = match code.as_str() {
        "en" => "en",
        _ => "zh",
    };
    let referer = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()));
    let back = q
        .back
        .as_deref()
        .and_then(local_path)
        .or_else(|| referer.as_deref().and_then(local_path))
        .unwrap_or_else(|| "/admin".to_string());
    let mut resp = Redirect::to(&back).into_response();
    let cookie = format!("{COOKIE}={value}; Path=/; SameSite=Lax; Max-Age=31536000");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn messages_show_the_readers_half() {
        let m = "日期格式应为 2026-11-23 (date like 2026-11-23)";
        assert_eq!(Lang::Zh.msg(m), "日期格式应为 2026-11-23");
        assert_eq!(Lang::En.msg(m), "date like 2026-11-23");
        // Not of the shape: shown whole.
        assert_eq!(
            Lang::En.msg("hall xianfeng not found"),
            "hall xianfeng not found"
        );
        assert_eq!(Lang::En.msg("其他 (另)"), "其他 (另)");
        assert_eq!(Lang::Zh.t("概览", "Overview"), "概览");
        assert_eq!(Lang::En.t("概览", "Overview"), "Overview");
    }
}
