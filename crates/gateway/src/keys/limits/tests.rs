//! The limiter in process and through a real Redis (`SWITCHYARD_TEST_REDIS`): limits that hold
//! over any 60 seconds, budgets that several replicas share without overshooting, holds of a
//! replica that died released after their expiry, and spend that survives Redis losing its data.

use super::*;

const MINUTE_MS: i64 = 60_000;

fn key(id: &str, rpm: Option<u32>, budget: Option<i64>) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        rpm,
        budget_nanos: budget,
        budget_period: budget.map(|_| Period::Total),
        ..KeyRecord::default()
    }
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn redis_url() -> Option<String> {
    let url = std::env::var("SWITCHYARD_TEST_REDIS").ok();
    if url.is_none() {
        eprintln!("skipped: set SWITCHYARD_TEST_REDIS to run the limiter against Redis");
    }
    url
}

fn replicas(url: &str, n: usize) -> Vec<Limiter> {
    (0..n).map(|_| Limiter::new(Some(url), OnSharedStateError::Local).unwrap()).collect()
}

fn admitted(a: &Admission) -> bool {
    matches!(a, Admission::Admitted { .. })
}

fn header<'a>(a: &'a Admission, name: &str) -> Option<&'a str> {
    let headers = match a {
        Admission::Admitted { headers, .. } | Admission::Refused { headers, .. } => headers,
    };
    headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_str().ok())
}

/// 60 requests just before a minute turns, then more just after: a fixed window would admit a
/// second 60 at once; the sliding one refuses until the first ones have left it.
async fn no_double_burst_at_the_boundary(limiters: &[Limiter]) {
    let k = key(&unique("rpm"), Some(60), None);
    let start = 1_800_000_000_000 - 1_000; // 1 s before a minute boundary
    let mut admitted_count = 0;
    for i in 0..90 {
        let limiter = &limiters[i % limiters.len()];
        if admitted(&limiter.admit(&Subject::key(&k), 0, 0, start + i as i64).await) {
            admitted_count += 1;
        }
    }
    assert_eq!(admitted_count, 60);
    let after = limiters[0].admit(&Subject::key(&k), 0, 0, start + 2_000).await;
    assert!(!admitted(&after), "a new minute does not bring 60 more");
    assert_eq!(header(&after, "x-ratelimit-remaining-requests"), Some("0"));
    let reset: u64 = header(&after, "retry-after").unwrap().parse().unwrap();
    assert!((59..=61).contains(&reset), "retry-after {reset}");
    assert!(!admitted(&limiters[0].admit(&Subject::key(&k), 0, 0, start + MINUTE_MS - 1).await));
    let later = limiters[limiters.len() - 1].admit(&Subject::key(&k), 0, 0, start + MINUTE_MS + 1_000).await;
    assert!(admitted(&later), "61 s on, the first second's requests have left the window");
}

#[tokio::test]
async fn a_local_limit_holds_over_any_sixty_seconds() {
    no_double_burst_at_the_boundary(&[Limiter::local()]).await;
}

#[tokio::test]
async fn a_shared_limit_holds_over_any_sixty_seconds_across_replicas() {
    let Some(url) = redis_url() else { return };
    no_double_burst_at_the_boundary(&replicas(&url, 3)).await;
}

#[tokio::test]
async fn replicas_admitting_at_once_share_one_budget() {
    let Some(url) = redis_url() else { return };
    let limiters = replicas(&url, 3);
    // $0.006 budget, $0.0005 estimate per request: exactly 12 fit, whichever replica asks.
    let k = key(&unique("budget"), None, Some(6_000_000));
    let now = 1_800_000_000_000;
    let admissions = (0..150).map(|i| {
        let (limiter, k) = (&limiters[i % 3], &k);
        async move {
            match limiter.admit(&Subject::key(k), 10, 500_000, now).await {
                Admission::Admitted { reservation, .. } => reservation,
                Admission::Refused { .. } => None,
            }
        }
    });
    let held: Vec<Reservation> = futures_util::future::join_all(admissions).await.into_iter().flatten().collect();
    assert_eq!(held.len(), 12, "three replicas admit one budget's worth together");
    // Each costs less than its estimate: the remainder frees room for more.
    for r in held {
        limiters[0].settle(r, 400_000);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while limiters[0].spent(&k.id) < 4_800_000 {
        assert!(std::time::Instant::now() < deadline, "settlements reach Redis");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // 4.8 m spent of 6 m: two more estimates of 0.5 m fit, a third does not.
    let mut more = 0;
    for limiter in limiters.iter().cycle().take(5) {
        if admitted(&limiter.admit(&Subject::key(&k), 10, 500_000, now).await) {
            more += 1;
        }
    }
    assert_eq!(more, 2);
    // Another replica sees the shared spend in its refusal.
    match limiters[2].admit(&Subject::key(&k), 10, 500_000, now).await {
        Admission::Refused { error, .. } => {
            assert!(error.message.contains("$0.0048 of $0.006"), "{}", error.message)
        }
        Admission::Admitted { .. } => panic!("over budget"),
    }
}

#[tokio::test]
async fn holds_of_a_replica_that_died_expire() {
    let Some(url) = redis_url() else { return };
    let limiters = replicas(&url, 2);
    let k = key(&unique("holds"), None, Some(1_000_000));
    let now = 1_800_000_000_000;
    // The "dead" replica holds the whole budget and never settles.
    assert!(admitted(&limiters[0].admit(&Subject::key(&k), 0, 1_000_000, now).await));
    assert!(!admitted(&limiters[1].admit(&Subject::key(&k), 0, 1, now + 1_000).await));
    let expired = now + shared::HOLD_TTL.as_millis() as i64 + 1;
    assert!(admitted(&limiters[1].admit(&Subject::key(&k), 0, 1_000_000, expired).await));
}

#[tokio::test]
async fn spend_is_seeded_again_when_redis_lost_it() {
    let Some(url) = redis_url() else { return };
    let limiter = Limiter::new(Some(&url), OnSharedStateError::Local).unwrap();
    let k = key(&unique("seed"), None, Some(1_000_000));
    // The ledger says 0.9 m were spent before this replica started.
    limiter.seed_spend(&k.id, 0, 900_000);
    assert!(!admitted(&limiter.admit(&Subject::key(&k), 0, 200_000, 1_800_000_000_000).await));
    // Redis loses the key (a restart without persistence): the replica's own view seeds it.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (budget, _) = shared::budget_keys(&k.id, 0);
    let _: () = redis::cmd("DEL").arg(&budget).query_async(&mut conn).await.unwrap();
    assert!(!admitted(&limiter.admit(&Subject::key(&k), 0, 200_000, 1_800_000_000_000).await));
    assert!(admitted(&limiter.admit(&Subject::key(&k), 0, 100_000, 1_800_000_000_000).await));
    let spent: i64 = redis::cmd("HGET").arg(&budget).arg("spent").query_async(&mut conn).await.unwrap();
    assert_eq!(spent, 900_000);
}

#[tokio::test]
async fn spend_settled_while_redis_was_unreachable_is_reported_when_it_is_back() {
    let Some(url) = redis_url() else { return };
    let limiter = Limiter::new(Some(&url), OnSharedStateError::Local).unwrap();
    let other = Limiter::new(Some(&url), OnSharedStateError::Local).unwrap();
    let k = key(&unique("unsynced"), None, Some(1_000_000));
    let now = 1_800_000_000_000;
    let Admission::Admitted { reservation: Some(r), .. } = limiter.admit(&Subject::key(&k), 0, 100_000, now).await
    else {
        panic!("admitted")
    };
    // Settled with no runtime to report it on: the cost waits as unsynced spend.
    std::thread::spawn({
        let limiter = limiter.clone();
        move || limiter.settle(r, 700_000)
    })
    .join()
    .unwrap();
    assert_eq!(limiter.spent(&k.id), 700_000);
    // The next admission carries it to Redis, where the other replica sees it.
    assert!(admitted(&limiter.admit(&Subject::key(&k), 0, 0, now).await));
    match other.admit(&Subject::key(&k), 0, 400_000, now).await {
        Admission::Refused { error, .. } => assert!(error.message.contains("$0.0007"), "{}", error.message),
        Admission::Admitted { .. } => panic!("the other replica knows of the 0.7 m spent"),
    }
}

#[tokio::test]
async fn seeding_spend_again_keeps_the_holds_of_requests_still_running() {
    let limiter = Limiter::local();
    let k = key("seeded", None, Some(1_000_000));
    assert!(admitted(&limiter.admit(&Subject::key(&k), 0, 600_000, 1_800_000_000_000).await));
    // A budget edit re-reads the ledger while that request is still running.
    limiter.seed_spend(&k.id, 0, 100_000);
    assert!(!admitted(&limiter.admit(&Subject::key(&k), 0, 400_000, 1_800_000_000_000).await));
    assert!(admitted(&limiter.admit(&Subject::key(&k), 0, 300_000, 1_800_000_000_000).await));
}

#[tokio::test]
async fn an_enormous_request_is_refused_without_knocking_redis_out_for_everyone() {
    let Some(url) = redis_url() else { return };
    let limiter = Limiter::new(Some(&url), OnSharedStateError::Local).unwrap();
    let mut k = key(&unique("huge"), None, Some(1_000_000));
    k.tpm = Some(1_000);
    // `max_tokens: 18446744073709551615` and a cost estimate to match.
    let huge = limiter.admit(&Subject::key(&k), u64::MAX, i64::MAX, 1_800_000_000_000).await;
    assert!(!admitted(&huge));
    assert_eq!(header(&huge, "x-ratelimit-remaining-tokens"), Some("1000"));
    let Some(shared) = limiter.inner.redis.as_ref() else { panic!("shared") };
    assert!(shared.available(), "Redis is still used for every other request");
    let mut budget_only = key(&unique("huge-budget"), None, Some(1_000_000));
    budget_only.tpm = None;
    assert!(!admitted(&limiter.admit(&Subject::key(&budget_only), u64::MAX, i64::MAX, 1_800_000_000_000).await));
    assert!(shared.available());
    assert!(admitted(&limiter.admit(&Subject::key(&budget_only), 10, 1_000, 1_800_000_000_000).await));
    // A key with an RPM but no TPM still counts the request's tokens: they must fit Redis's
    // 64-bit integers.
    let rpm_only = key(&unique("huge-rpm"), Some(10), None);
    let counted = limiter.admit(&Subject::key(&rpm_only), u64::MAX, 0, 1_800_000_000_000).await;
    assert!(admitted(&counted));
    assert!(shared.available(), "Redis is still used for every other request");
    assert_eq!(header(&counted, "x-ratelimit-remaining-requests"), Some("9"));
}
