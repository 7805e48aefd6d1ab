//! Security headers on every response the server sends — console pages,
//! exports, the mobile page, the JSON API, errors — added by one layer
//! ([`secure`]) around the whole router:
//!
//! | header | value | why |
//! | --- | --- | --- |
//! | `Content-Security-Policy` | [`CONTENT_SECURITY_POLICY`] | only this server's own scripts run; no page can be framed |
//! | `X-Content-Type-Options` | `nosniff` | a CSV or JSON body is never run as a script or page |
//! | `X-Frame-Options` | `DENY` | no framing (browsers older than `frame-ancestors`) |
//! | `Referrer-Policy` | `same-origin` | console URLs (halls, filters) stay on this server |
//!
//! The policy allows scripts from this server only: the console's pages
//! carry no inline script (the statistics page loads its chart code from
//! `/admin/assets/stats.js` and reads its numbers from a JSON data block),
//! so `script-src` needs no `'unsafe-inline'`. Styles do allow
//! `'unsafe-inline'`: every page embeds its stylesheet in a `<style>`
//! block, the chart boxes size themselves with `style` attributes and
//! ECharts writes inline styles into its tooltips. A style cannot run
//! code, and markup from residents is escaped before it reaches a page.
//! A handler that sets one of these headers itself keeps its own value.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

/// The `Content-Security-Policy` of every response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The headers [`secure`] adds.
pub const HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "same-origin"),
];

/// The middleware: runs the request, then adds [`HEADERS`] to the
/// response unless the handler set them.
pub async fn secure(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    resp
}
