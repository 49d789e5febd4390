//! Money end to end: ledger rows priced by `cost_nanos` from varied token counts and prices that
//! do not divide evenly, written through the real ledger `Store` into SQLite, and `spend` adding
//! them back up to the exact nano-dollar. The big variant is run by hand:
//! `cargo test --release -p gateway --test it money:: -- --ignored --nocapture`.

use dialect::Usage;
use gateway::ledger::{Entry, SpendBy, Store};
use gateway::money::NanosPerMTok;
use gateway::pipeline::cost_nanos;
use gateway::routing::Prices;

/// Prices (dollars per million tokens) chosen so that tokens × price is rarely a whole number
/// of nano-dollars, with cache and reasoning prices on some models.
const MODELS: [(&str, [&str; 5]); 8] = [
    ("tiny", ["0.000001234", "0.3333333", "", "", ""]),
    ("euler", ["2.718281828", "10.000000001", "0.271828183", "3.397852285", ""]),
    ("cheap", ["0.0375", "0.15", "0.00375", "", ""]),
    ("odd", ["17.000000001", "68.999999999", "", "", "137.000000003"]),
    ("pi", ["3.14159265", "12.5663706", "0.314159265", "3.926990817", "25.1327412"]),
    ("tenth", ["0.1", "0.7", "", "", ""]),
    ("dear", ["49.999999999", "150.000000003", "4.999999999", "62.499999999", ""]),
    ("digits", ["1.23456789", "9.87654321", "0.123456789", "", "19.75308642"]),
];

fn prices(spec: &[&str; 5]) -> Prices {
    let price = |t: &str| (!t.is_empty()).then(|| NanosPerMTok::parse(t).unwrap());
    Prices {
        input: price(spec[0]).unwrap(),
        output: price(spec[1]).unwrap(),
        cached_input: price(spec[2]),
        cache_write: price(spec[3]),
        reasoning: price(spec[4]),
    }
}

/// SplitMix64: the same rows on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// The exact cost in millionths of a nano-dollar, written out independently of `cost_nanos`.
fn exact_micro_nanos(p: &Prices, u: &Usage) -> i128 {
    let cached = u.cached_input_tokens.unwrap_or(0);
    let written = u.cache_write_tokens.unwrap_or(0);
    let reasoning = if p.reasoning.is_some() { u.reasoning_tokens.unwrap_or(0).min(u.output_tokens) } else { 0 };
    let at = |n: u64, price: NanosPerMTok| i128::from(n) * i128::from(price.0);
    at(u.input_tokens - cached - written, p.input)
        + at(cached, p.cached_input.unwrap_or(p.input))
        + at(written, p.cache_write.unwrap_or(p.input))
        + at(u.output_tokens - reasoning, p.output)
        + at(reasoning, p.reasoning.unwrap_or(p.output))
}

/// Writes `total` rows in batches and checks spend by model and by key against the sums of the
/// rows' own costs, in i128. Returns the grand total in nano-dollars.
async fn spend_adds_up(total: usize) -> i128 {
    let store = Store::open(&testkit::gateway::fresh_sqlite_url()).await.unwrap();
    let models: Vec<(&str, Prices)> = MODELS.iter().map(|(name, spec)| (*name, prices(spec))).collect();
    let now = gateway::keys::now_ms();
    let mut rng = Rng(0x5eed);
    let mut by_model = std::collections::BTreeMap::<String, (i128, i64)>::new();
    let mut by_key = std::collections::BTreeMap::<String, i128>::new();
    let mut half_ups = 0u64;
    let started = std::time::Instant::now();
    const BATCH: usize = 10_000;
    for batch in 0..total.div_ceil(BATCH) {
        let rows: Vec<Entry> = (batch * BATCH..((batch + 1) * BATCH).min(total))
            .map(|n| {
                let (model, p) = &models[rng.below(models.len() as u64) as usize];
                let input = rng.below(12_000_000);
                let cached = if rng.below(3) == 0 { rng.below(input + 1) } else { 0 };
                let written = if rng.below(5) == 0 { rng.below(input - cached + 1) } else { 0 };
                let output = rng.below(400_000);
                let reasoning = rng.below(output + 1);
                let usage = Usage {
                    input_tokens: input,
                    output_tokens: output,
                    cached_input_tokens: Some(cached),
                    cache_write_tokens: Some(written),
                    reasoning_tokens: Some(reasoning),
                };
                // One row in 50 has no price: it adds nothing and is counted as unpriced.
                let priced = n % 50 != 7;
                let cost = if priced { cost_nanos(Some(*p), &usage) } else { None };
                if let Some(c) = cost {
                    let exact = exact_micro_nanos(p, &usage);
                    let error = i128::from(c) * 1_000_000 - exact;
                    assert!((-500_000 + 1..=500_000).contains(&error), "{model} {usage:?}: {c} for {exact}/10⁶");
                    half_ups += u64::from(error > 0);
                }
                let key = format!("key_{}", n % 37);
                let group = by_model.entry((*model).to_owned()).or_default();
                group.0 += i128::from(cost.unwrap_or(0));
                group.1 += i64::from(cost.is_none());
                *by_key.entry(key.clone()).or_default() += i128::from(cost.unwrap_or(0));
                Entry {
                    request_id: format!("req_{n}"),
                    at_unix_ms: now - (n as i64 % 3_600_000),
                    key_id: Some(key),
                    alias: "a".into(),
                    deployment: format!("p/{model}"),
                    provider: "p".into(),
                    model: (*model).into(),
                    input_tokens: input as i64,
                    output_tokens: output as i64,
                    cached_tokens: cached as i64,
                    cache_write_tokens: written as i64,
                    reasoning_tokens: reasoning as i64,
                    cost_nanos: cost,
                    status: 200,
                    outcome: "ok".into(),
                    ..Default::default()
                }
            })
            .collect();
        store.insert(&rows).await.unwrap();
    }
    let inserted = started.elapsed();
    assert!(half_ups > 0, "some rows round up");

    let t = std::time::Instant::now();
    let spend = store.spend(SpendBy::Model, 0).await.unwrap();
    let spend_time = t.elapsed();
    assert_eq!(spend.len(), models.len());
    for r in &spend {
        let (cost, unpriced) = by_model[&r.group];
        assert_eq!(i128::from(r.cost_nanos), cost, "spend for {}", r.group);
        assert_eq!(r.unpriced, unpriced, "unpriced rows of {}", r.group);
    }
    assert_eq!(spend.iter().map(|r| r.requests).sum::<i64>(), total as i64);
    let grand: i128 = spend.iter().map(|r| i128::from(r.cost_nanos)).sum();
    assert_eq!(grand, by_model.values().map(|v| v.0).sum::<i128>());

    let by_key_spend = store.spend(SpendBy::Key, 0).await.unwrap();
    assert_eq!(by_key_spend.len(), by_key.len());
    for r in &by_key_spend {
        assert_eq!(i128::from(r.cost_nanos), by_key[&r.group], "spend for {}", r.group);
    }
    eprintln!(
        "{total} rows: inserted in {inserted:?}, spend by model in {spend_time:?}; total {grand} nano-dollars \
         (${}), {half_ups} rows rounded up",
        gateway::money::NanoUsd(i64::try_from(grand).unwrap())
    );
    grand
}

#[tokio::test]
async fn spend_is_the_exact_sum_of_two_hundred_thousand_priced_rows() {
    let total = spend_adds_up(200_000).await;
    // Past 2^53 nano-dollars a sum in f64 could no longer hold every nano-dollar.
    assert!(total > 1 << 53, "{total}");
}

/// Ten million rows; about three minutes in release on two shared cores. Run by hand:
/// `cargo test --release -p gateway --test it money:: -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "ten million rows, run by hand in release"]
async fn spend_is_the_exact_sum_of_ten_million_priced_rows() {
    let total = spend_adds_up(10_000_000).await;
    assert!(total > 1 << 53, "{total}");
}

/// A price written as a string and one written as a float, neither a whole number of
/// nano-dollars per token, from the config through a request to the header, the ledger, the
/// admin API and the CLI. The first gateway's stop flushes its ledger; a second one on the same
/// database answers the admin API.
#[tokio::test]
async fn odd_prices_cost_the_same_in_the_header_the_ledger_and_both_spend_reports() {
    use crate::common::{client, gateway_with, post_json, user, MASTER_KEY};
    use testkit::{openai_wire as wire, FakeUpstream, Reply};

    let up = FakeUpstream::always(Reply::json(wire::completion("odd", "ok"))).await;
    let models = "[models.odd]\ndeployments = [{ provider = \"up\", model = \"odd\", input_price = \"0.0375\", \
                  output_price = 0.3333333 }]";
    let gw = gateway_with(&up, models).await;
    // 12 × 37,500,000 + 5 × 333,333,300 = 2,116,666,500 millionths: 2,116.6665 nano-dollars,
    // rounded half up to 2,117.
    for _ in 0..3 {
        let (status, headers, _) =
            post_json(&gw, "/v1/chat/completions", &serde_json::json!({"model": "odd", "messages": user("hi")})).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-switchyard-cost-usd"], "0.000002117");
    }
    let url = gw.database_url.clone();
    gw.stop().await;

    let gw = gateway_with(&up, &format!("database_url = \"{url}\"\n{models}")).await;
    let spend: serde_json::Value = client()
        .get(gw.url("/admin/spend?by=model&since=1h"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = spend["data"].as_array().unwrap().iter().find(|r| r["group"] == "odd").unwrap();
    assert_eq!((&row["requests"], &row["cost_nanos"]), (&3.into(), &6_351.into()), "{spend}");
    assert_eq!(row["cost_usd"].as_f64(), Some(0.000_006_351), "the double nearest the exact amount: {spend}");
    gw.stop().await;

    let (status, out, err) = testkit::run_command(
        env!("CARGO_BIN_EXE_switchyard"),
        &["spend", "--by", "model", "--since", "1h"],
        &[("SWITCHYARD_DATABASE_URL", &url)],
    );
    assert!(status.success(), "{err}");
    let line = out.lines().find(|l| l.starts_with("odd ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line.split_whitespace().nth(4), Some("0.000006"), "{out}");
}
