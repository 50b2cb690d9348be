//! `405 Method Not Allowed` with an `Allow` header for a known API path asked with another
//! method (RFC 9110 §15.5.6). The paths and their methods come from the OpenAPI document, which
//! is built from the same handlers the server registers, so the list cannot drift.

use std::sync::LazyLock;

use actix_web::http::Method;

/// A path template's segments (`None` for a `{parameter}`) and its methods.
type Route = (Vec<Option<String>>, Vec<Method>);

static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let doc = crate::openapi::document();
    doc.paths
        .paths
        .iter()
        .map(|(path, item)| {
            let segments =
                path.split('/').map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned())).collect();
            let methods = [
                (item.get.is_some(), Method::GET),
                (item.post.is_some(), Method::POST),
                (item.put.is_some(), Method::PUT),
                (item.patch.is_some(), Method::PATCH),
                (item.delete.is_some(), Method::DELETE),
            ]
            .into_iter()
            .filter_map(|(has, m)| has.then_some(m))
            .collect();
            (segments, methods)
        })
        .collect()
});

/// The methods of the API path `path` when it is known but `method` is not among them (then the
/// answer is 405); `None` for an unknown path or an allowed method (404 stays).
#[must_use]
pub fn allowed_instead(method: &Method, path: &str) -> Option<Vec<Method>> {
    if !path.starts_with("/api/") {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    // The most literal templates that match: `/imports/{id}` and `/imports/export` both
    // match `/imports/export`; the literal one decides.
    let mut best: Option<(usize, Vec<Method>)> = None;
    for (segments, methods) in ROUTES.iter() {
        if segments.len() != parts.len() {
            continue;
        }
        let fits = segments.iter().zip(&parts).all(|(s, p)| s.as_deref().map_or(!p.is_empty(), |s| s == *p));
        if !fits {
            continue;
        }
        let literal = segments.iter().filter(|s| s.is_some()).count();
        match &mut best {
            Some((n, m)) if *n == literal => m.extend(methods.iter().cloned()),
            Some((n, _)) if *n > literal => {}
            _ => best = Some((literal, methods.clone())),
        }
    }
    let (_, mut methods) = best?;
    if methods.contains(method) {
        return None;
    }
    methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    methods.dedup();
    Some(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_name_their_methods() {
        let allowed = allowed_instead(&Method::DELETE, "/api/v1/imports").unwrap();
        assert_eq!(allowed, [Method::GET, Method::POST]);
        assert_eq!(allowed_instead(&Method::GET, "/api/v1/imports"), None, "allowed: not a 405");
        assert!(allowed_instead(&Method::PATCH, "/api/v1/users/0190c2a4-0000-7000-8000-000000000000").is_some());
        assert_eq!(allowed_instead(&Method::GET, "/api/v1/nothing-here"), None);
        assert_eq!(allowed_instead(&Method::PUT, "/login"), None, "pages are not listed");
    }
}
