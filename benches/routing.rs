//! The cost of one route lookup at 10 and 10,000 routes.
//!
//! Run with `cargo bench -p islet-benches --bench routing`. The router
//! hashes the host (and each of its dot-separated suffixes) and walks a
//! byte trie for the path, so the cost should not grow with the number of
//! routes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use islet::route::{RoutePattern, Router};

/// A mix of the pattern shapes users write, `n` routes in all.
fn router(n: usize) -> Router<usize> {
    let mut router = Router::new();
    for i in 0..n {
        let pattern = match i % 4 {
            0 => format!("tenant{i}.example.com/*"),
            1 => format!("*.tenant{i}.example.net/v1/*"),
            2 => format!("api{i}.example.org/users/{i}"),
            _ => format!("*/t{i}/hello*"),
        };
        router
            .insert(&RoutePattern::parse(&pattern).expect("valid"), i)
            .expect("unique");
    }
    router
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for n in [10usize, 10_000] {
        let router = router(n);
        // Requests that hit each shape, plus one that matches nothing.
        let last = |shape: usize| (0..n).rev().find(|i| i % 4 == shape).unwrap_or(0);
        let requests = [
            (
                format!("tenant{}.example.com", last(0)),
                "/cart/42".to_string(),
            ),
            (
                format!("a.b.tenant{}.example.net", last(1)),
                "/v1/items".to_string(),
            ),
            (
                format!("api{}.example.org", last(2)),
                format!("/users/{}", last(2)),
            ),
            (
                "unknown.example.io".to_string(),
                format!("/t{}/hello/x", last(3)),
            ),
            ("nobody.example.io".to_string(), "/nothing/here".to_string()),
        ];
        for (host, path) in &requests {
            assert!(
                router.lookup(host, path).is_some() || host.starts_with("nobody"),
                "{host}{path} should match"
            );
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &requests, |b, reqs| {
            b.iter(|| {
                for (host, path) in reqs {
                    black_box(router.lookup(black_box(host), black_box(path)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
