//! The routes a router registers, read from its source: what the tests
//! that must cover every route (the authorisation matrix, the OpenAPI
//! document) compare themselves with. Reading the source, not a running
//! router, because axum does not list its routes.

use std::collections::BTreeSet;

use anyhow::{Context, ensure};

/// Every (METHOD, route) registered with `.route(…)` in `sources` (file
/// name, its text); a source using a way of registering this does not
/// read is an error, so no route slips past.
pub fn registered(sources: &[(&str, &str)]) -> anyhow::Result<BTreeSet<(String, String)>> {
    let mut out = BTreeSet::new();
    for (file, src) in sources {
        for unsupported in [".nest(", ".route_service(", ".fallback(", ".nest_service("] {
            ensure!(
                !src.contains(unsupported),
                "{file} uses {unsupported}: teach this test to read it"
            );
        }
        for (start, _) in src.match_indices(".route(") {
            let rest = &src[start + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .with_context(|| format!("unbalanced .route( in {file}"))?;
            let call = &rest[..end];
            let path = call
                .split('"')
                .nth(1)
                .with_context(|| format!("no path in .route({call}) of {file}"))?;
            let mut found = false;
            for method in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{method}(");
                let hit = call.match_indices(&needle).any(|(i, _)| {
                    i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    out.insert((method.to_uppercase(), path.to_string()));
                    found = true;
                }
            }
            ensure!(found, "no method in .route({call}) of {file}");
        }
    }
    Ok(out)
}
