//! Route patterns, precedence and the no-route answer.

use islet::route::{RouteError, RoutePattern, Router};

use crate::support::Project;

fn router(patterns: &[&str]) -> Router<String> {
    let mut router = Router::new();
    for p in patterns {
        router
            .insert(&RoutePattern::parse(p).unwrap(), p.to_string())
            .unwrap();
    }
    router
}

fn hit<'a>(router: &'a Router<String>, host: &str, path: &str) -> Option<&'a str> {
    router.lookup(host, path).map(String::as_str)
}

#[test]
fn the_most_specific_pattern_wins() {
    let r = router(&[
        "*/*",
        "*/hello*",
        "*.example.com/*",
        "*.example.com/v1/*",
        "*.eu.example.com/*",
        "api.example.com/*",
        "api.example.com/v1/users",
        "api.example.com/v1/*",
    ]);
    // An exact host beats wildcards; an exact path beats prefixes.
    assert_eq!(
        hit(&r, "api.example.com", "/v1/users"),
        Some("api.example.com/v1/users")
    );
    assert_eq!(
        hit(&r, "api.example.com", "/v1/users/7"),
        Some("api.example.com/v1/*")
    );
    assert_eq!(
        hit(&r, "api.example.com", "/other"),
        Some("api.example.com/*")
    );
    // Wildcard hosts: the longest suffix first, then longer path prefixes.
    assert_eq!(
        hit(&r, "shop.example.com", "/v1/cart"),
        Some("*.example.com/v1/*")
    );
    assert_eq!(
        hit(&r, "shop.example.com", "/cart"),
        Some("*.example.com/*")
    );
    assert_eq!(
        hit(&r, "a.eu.example.com", "/v1/x"),
        Some("*.eu.example.com/*")
    );
    // `*.example.com` does not match the apex; `*` catches it.
    assert_eq!(hit(&r, "example.com", "/hello/world"), Some("*/hello*"));
    assert_eq!(hit(&r, "example.com", "/x"), Some("*/*"));
    // Ports, case and the query string are ignored.
    assert_eq!(
        hit(&r, "API.Example.COM:8080", "/v1/users?x=1"),
        Some("api.example.com/v1/users")
    );
}

#[test]
fn a_host_whose_paths_do_not_match_falls_through() {
    let r = router(&["api.example.com/v1/*", "*.example.com/*"]);
    assert_eq!(hit(&r, "api.example.com", "/v2"), Some("*.example.com/*"));
    assert_eq!(hit(&r, "other.org", "/v1/x"), None);
}

#[test]
fn bad_patterns_are_refused() {
    assert_eq!(
        RoutePattern::parse("example.com"),
        Err(RouteError::MissingPath)
    );
    assert_eq!(
        RoutePattern::parse("a*.com/*"),
        Err(RouteError::MisplacedWildcard)
    );
    assert_eq!(
        RoutePattern::parse("a.com/*/x"),
        Err(RouteError::MisplacedWildcard)
    );
    assert!(matches!(
        RoutePattern::parse("a..com/*"),
        Err(RouteError::BadHost(_))
    ));
    let mut r = Router::new();
    let p = RoutePattern::parse("a.com/x*").unwrap();
    r.insert(&p, 1).unwrap();
    assert!(r.insert(&p, 2).is_err());
}

#[test]
fn thousands_of_routes_resolve_correctly() {
    let mut r = Router::new();
    for i in 0..10_000 {
        let p = RoutePattern::parse(&format!("t{i}.example.com/api/v{}/*", i % 7)).unwrap();
        r.insert(&p, i).unwrap();
    }
    assert_eq!(r.len(), 10_000);
    // 4242 % 7 == 0
    assert_eq!(r.lookup("t4242.example.com", "/api/v0/x"), Some(&4242));
    assert_eq!(r.lookup("t4242.example.com", "/api/v5/x"), None);
    assert_eq!(r.lookup("t10000.example.com", "/api/v0/x"), None);
}

#[tokio::test]
async fn requests_follow_precedence_and_unrouted_ones_get_404() {
    let project = Project::new();
    let worker = |name: &str| {
        format!(r#"export default {{ fetch() {{ return new Response("{name}"); }} }};"#)
    };
    project
        .file("exact.js", worker("exact"))
        .file("wild.js", worker("wild"))
        .file("any.js", worker("any"))
        .config(
            r#"
            [[tenant]]
            name = "exact"
            main = "exact.js"
            routes = ["api.example.com/v1/*"]

            [[tenant]]
            name = "wild"
            main = "wild.js"
            routes = ["*.example.com/*"]

            [[tenant]]
            name = "any"
            main = "any.js"
            routes = ["*/hello*"]
            "#,
        );
    let server = project.serve();
    assert_eq!(server.get("api.example.com", "/v1/x").await.body, "exact");
    assert_eq!(server.get("api.example.com", "/v2/x").await.body, "wild");
    assert_eq!(server.get("shop.example.com:8080", "/").await.body, "wild");
    assert_eq!(server.get("other.org", "/hello/there").await.body, "any");

    let reply = server.get("other.org", "/nothing").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.outcome(), Some("no-route"));
    server.wait_for_log(&["outcome=\"no-route\"", "path=\"/nothing\""]);
}
