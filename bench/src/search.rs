//! `switchboard-bench search`: the inbox's search box over a large history. Writes
//! conversations of five messages each straight into a fresh database (the analytics
//! benchmark's generator, with support-like text: a long-tailed vocabulary, order numbers,
//! one contact per conversation with a name and an email), then times `Store::search` over
//! every kind (conversations, contacts, articles), as `GET /api/v1/search` runs it, for
//! queries of several shapes: a rare order number, a word of the long tail, a common word, the
//! first letters of a word being typed, two words, part of an email address.

use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database, TransactionTrait, Value};
use switchboard_store::SearchScope;
use switchboard_testkit::Backend;

use crate::analytics::{history_database, history_end, insert, write_history};

#[derive(Args)]
pub struct Options {
    /// `postgres` uses a fresh database beside SWITCHBOARD_TEST_DATABASE_URL
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: crate::BackendArg,
    /// Messages in the history (five a conversation)
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Times each query is asked
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// The head of the vocabulary, most frequent first: what support conversations are about.
const COMMON: &[&str] = &[
    "order",
    "refund",
    "parcel",
    "delivery",
    "account",
    "password",
    "invoice",
    "payment",
    "card",
    "tracking",
    "return",
    "subscription",
    "cancel",
    "address",
    "shipping",
    "broken",
    "login",
    "charged",
    "twice",
    "discount",
    "voucher",
    "exchange",
    "size",
    "warranty",
    "email",
    "phone",
    "update",
    "missing",
    "late",
    "damaged",
    "courier",
    "store",
    "app",
    "error",
    "reset",
    "plan",
    "upgrade",
    "receipt",
    "bank",
    "transfer",
];

const FILLER: &[&str] = &[
    "i",
    "my",
    "the",
    "a",
    "is",
    "was",
    "it",
    "please",
    "can",
    "you",
    "help",
    "with",
    "not",
    "still",
    "yesterday",
    "today",
    "again",
    "why",
    "when",
    "how",
    "thanks",
    "hello",
    "hi",
    "and",
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ven", "tor", "sa", "rel", "qu", "in", "do", "ber", "an", "ti", "zel", "mo",
    "ra", "fen", "gu", "lis", "par", "no", "vix", "tem", "ou", "ly", "cor", "sen", "dra", "pi",
    "wel",
];

const FIRST_NAMES: &[&str] = &[
    "jane", "omar", "li", "maria", "tom", "aiko", "sven", "fatima", "lucas", "nina", "raj", "emma",
];
const LAST_NAMES: &[&str] = &[
    "doe", "khan", "wei", "garcia", "berg", "sato", "larsen", "haddad", "silva", "novak", "patel",
    "moreau",
];

/// Words in the long tail of the vocabulary.
const TAIL: usize = 30_000;

/// A pseudo-word of the long tail: `n` written in syllables, so that every one is distinct.
fn tail_word(mut n: usize) -> String {
    let mut word = String::new();
    loop {
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break;
        }
    }
    word.push_str(SYLLABLES[word.len() % SYLLABLES.len()]);
    word
}

/// Draws words with Zipf's law over the common words and the long tail after them.
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let words: Vec<String> = COMMON
            .iter()
            .map(|word| (*word).to_owned())
            .chain((0..TAIL).map(tail_word))
            .collect();
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn draw(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let at = rng.random::<f64>() * total;
        let index = self.cumulative.partition_point(|sum| *sum < at);
        &self.words[index.min(self.words.len() - 1)]
    }
}

/// One message: filler and vocabulary words, and an order number in some customers' messages.
fn message(vocabulary: &Vocabulary, seq: i64, rng: &mut StdRng, orders: &mut Vec<u32>) -> String {
    let length = rng.random_range(8..26);
    let mut words: Vec<String> = (0..length)
        .map(|_| {
            if rng.random_bool(0.4) {
                FILLER[rng.random_range(0..FILLER.len())].to_owned()
            } else {
                vocabulary.draw(rng).to_owned()
            }
        })
        .collect();
    if seq % 2 == 1 && rng.random_bool(0.15) {
        let order = rng.random_range(10_000..100_000u32);
        if orders.len() < 1_000 {
            orders.push(order);
        }
        let at = rng.random_range(0..words.len());
        words.insert(at, format!("order {order}"));
    }
    words.join(" ")
}

/// One contact for each generated conversation (`bench-contact-<i>`), with a name and an email.
async fn write_contacts(url: &str, org_id: &str, count: usize) -> anyhow::Result<()> {
    let connection = Database::connect(url).await?;
    let kind = connection.get_database_backend();
    let now = history_end()?;
    for first in (0..count).step_by(1_000) {
        let rows = (first..(first + 1_000).min(count))
            .map(|i| {
                let first_name = FIRST_NAMES[i % FIRST_NAMES.len()];
                let last_name = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()];
                vec![
                    Value::from(format!("bench-contact-{i:09}")),
                    Value::from(org_id.to_owned()),
                    Value::from(format!("{first_name} {last_name} {i}")),
                    Value::from(format!("{first_name}.{last_name}{i}@mail.example")),
                    Value::from(format!("+44 7700 {i:06}")),
                    Value::from(now),
                    Value::from(now),
                ]
            })
            .collect();
        let txn = connection.begin().await?;
        txn.execute_raw(insert(
            kind,
            "contacts",
            &[
                "id",
                "org_id",
                "name",
                "email",
                "phone",
                "created_at",
                "updated_at",
            ],
            rows,
        ))
        .await?;
        txn.commit().await?;
    }
    Ok(())
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let (db, store, ids) = history_database(options.backend).await?;
    let backend = db.backend;
    let conversations = options.messages.div_ceil(5);
    let vocabulary = Vocabulary::new();
    let mut orders = Vec::new();
    write_history(&db.url, &ids, conversations, 365, &mut |seq, rng| {
        message(&vocabulary, seq, rng, &mut orders)
    })
    .await?;
    write_contacts(&db.url, &ids.org, conversations).await?;
    let connection = Database::connect(&db.url).await?;
    connection
        .execute_unprepared(match backend {
            Backend::Sqlite => "ANALYZE",
            Backend::Postgres => "VACUUM ANALYZE",
        })
        .await?;

    let mut rng = StdRng::seed_from_u64(26);
    let pick = |rng: &mut StdRng, from: std::ops::Range<usize>| {
        vocabulary.words[rng.random_range(from)].clone()
    };
    let mut classes: Vec<(&str, Vec<String>)> = vec![
        (
            "an order number (\"order 48213\")",
            orders
                .iter()
                .take(20)
                .map(|n| format!("order {n}"))
                .collect(),
        ),
        (
            "a word of the long tail",
            (0..20).map(|_| pick(&mut rng, 2_000..10_000)).collect(),
        ),
        (
            "a common word",
            COMMON.iter().take(20).map(|w| (*w).to_owned()).collect(),
        ),
        (
            "three letters, typing",
            COMMON
                .iter()
                .take(20)
                .map(|w| w.chars().take(3).collect())
                .collect(),
        ),
        (
            "two words",
            (0..20)
                .map(|i| format!("{} {}", COMMON[i % 10], pick(&mut rng, 40..400)))
                .collect(),
        ),
        (
            "part of an email address",
            (0..20)
                .map(|i| format!("{}.{}", FIRST_NAMES[i % 12], LAST_NAMES[(i * 7) % 12]))
                .collect(),
        ),
    ];
    classes.retain(|(_, queries)| !queries.is_empty());
    let everything = SearchScope {
        conversations: true,
        contacts: true,
        articles: true,
    };
    println!(
        "{} messages, {conversations} conversations and contacts, {:?}",
        conversations * 5,
        backend
    );
    println!("| query | p50 ms | p95 ms | max ms | hits p50 |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut all: Vec<Duration> = Vec::new();
    for (label, queries) in &classes {
        let mut times = Vec::new();
        let mut hits = Vec::new();
        for _ in 0..options.rounds.max(1) {
            for query in queries {
                let asked = Instant::now();
                let results = store.search(&ids.org, query, everything, 20).await?;
                times.push(asked.elapsed());
                hits.push(
                    results.conversations.len() + results.contacts.len() + results.articles.len(),
                );
            }
        }
        times.sort();
        hits.sort();
        all.extend(&times);
        println!(
            "| {label} | {:.1} | {:.1} | {:.1} | {} |",
            crate::percentile_ms(&times, 0.5),
            crate::percentile_ms(&times, 0.95),
            crate::percentile_ms(&times, 1.0),
            hits[hits.len() / 2]
        );
    }
    all.sort();
    println!(
        "| every query | {:.1} | {:.1} | {:.1} | |",
        crate::percentile_ms(&all, 0.5),
        crate::percentile_ms(&all, 0.95),
        crate::percentile_ms(&all, 1.0)
    );
    Ok(())
}
