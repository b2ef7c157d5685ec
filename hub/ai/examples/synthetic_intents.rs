//! Writes a synthetic stand-in for a 77-intent banking benchmark (11 actions × 7 objects,
//! ~130 training and 40 test utterances per intent, with fillers, typos and some deliberately
//! vague phrasings) plus out-of-scope queries, as `train.csv`, `test.csv` and `test-oos.csv`.
//! It measures training time at that size; its accuracy says little about real data.
//!
//! `cargo run --release -p switchboard-ai --example synthetic_intents -- OUT_DIR`

use std::io::Write;

const ACTIONS: [(&str, [&str; 4]); 11] = [
    (
        "where",
        [
            "where is my",
            "has my {} arrived",
            "still waiting for my",
            "when will I receive my",
        ],
    ),
    (
        "cancel",
        [
            "cancel my",
            "I want to stop my",
            "how do I cancel the",
            "please cancel this",
        ],
    ),
    (
        "fee",
        [
            "how much does a {} cost",
            "is there a fee for the",
            "what do you charge for a",
            "price of a",
        ],
    ),
    (
        "charged",
        [
            "why was I charged for my",
            "extra charge on my",
            "I got billed twice for the",
            "unexpected fee on my",
        ],
    ),
    (
        "activate",
        [
            "how do I activate my",
            "my {} is not active yet",
            "turn on my new",
            "activation of the",
        ],
    ),
    (
        "change",
        [
            "can I change my",
            "update the details of my",
            "edit my",
            "how to modify my",
        ],
    ),
    (
        "lost",
        [
            "I lost my",
            "someone stole my",
            "can't find my",
            "my {} was stolen",
        ],
    ),
    (
        "get",
        [
            "can I get a",
            "how do I order a",
            "I'd like a new",
            "apply for a",
        ],
    ),
    (
        "time",
        [
            "how long does a {} take",
            "why is my {} so slow",
            "{} taking forever",
            "how many days for a",
        ],
    ),
    (
        "failed",
        [
            "my {} failed",
            "the {} was declined",
            "error with my",
            "{} didn't go through",
        ],
    ),
    (
        "limit",
        [
            "what is the limit on my",
            "maximum amount for a",
            "is there a cap on the",
            "raise the limit of my",
        ],
    ),
];

const OBJECTS: [(&str, [&str; 3]); 7] = [
    ("card", ["card", "debit card", "bank card"]),
    (
        "transfer",
        ["transfer", "bank transfer", "payment to a friend"],
    ),
    ("top_up", ["top up", "top-up", "topup"]),
    ("pin", ["pin", "pin code", "pin number"]),
    ("account", ["account", "savings account", "bank account"]),
    (
        "exchange",
        ["currency exchange", "exchange", "foreign currency exchange"],
    ),
    (
        "cash",
        ["cash withdrawal", "atm withdrawal", "cash from the atm"],
    ),
];

const PREFIXES: [&str; 8] = [
    "",
    "",
    "",
    "hi, ",
    "hello ",
    "please help, ",
    "quick question: ",
    "hey ",
];
const SUFFIXES: [&str; 8] = [
    "",
    "?",
    "?",
    " please",
    " today",
    " thanks",
    " for my trip",
    " asap",
];
const VAGUE: [&str; 4] = [
    "I have a question about my",
    "something is wrong with my",
    "help with",
    "issue with my",
];
const OOS: [&str; 20] = [
    "what's the weather tomorrow",
    "tell me a joke",
    "book a table for two",
    "who won the match",
    "how do I bake bread",
    "play some jazz",
    "what's the capital of peru",
    "set a timer for ten minutes",
    "recommend a movie",
    "how tall is the eiffel tower",
    "translate thank you to german",
    "what time is it in sydney",
    "how many calories in an apple",
    "find me a flight to rome",
    "what's a good name for a cat",
    "how do I change a car tyre",
    "read me the news",
    "what is the meaning of life",
    "remind me to call mum",
    "how far away is the moon",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn typo(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() > 4 {
        let at = 1 + (rng.next() % (chars.len() as u64 - 2)) as usize;
        chars.swap(at, at - 1);
    }
    chars.into_iter().collect()
}

fn utterance(rng: &mut Rng, action: usize, object: usize) -> String {
    let object_text = rng.pick(&OBJECTS[object].1);
    let phrase = if rng.chance(12) {
        rng.pick(&VAGUE)
    } else {
        rng.pick(&ACTIONS[action].1)
    };
    let core = if phrase.contains("{}") {
        phrase.replace("{}", object_text)
    } else {
        format!("{phrase} {object_text}")
    };
    let mut text = format!("{}{}{}", rng.pick(&PREFIXES), core, rng.pick(&SUFFIXES));
    if rng.chance(15) {
        text = typo(rng, &text);
    }
    text
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let mut rng = Rng(77);
    let mut train = std::io::BufWriter::new(std::fs::File::create(dir.join("train.csv"))?);
    let mut test = std::io::BufWriter::new(std::fs::File::create(dir.join("test.csv"))?);
    let mut oos = std::io::BufWriter::new(std::fs::File::create(dir.join("test-oos.csv"))?);
    writeln!(train, "text,label")?;
    writeln!(test, "text,label")?;
    writeln!(oos, "text,label")?;
    for (a, (action, _)) in ACTIONS.iter().enumerate() {
        for (o, (object, _)) in OBJECTS.iter().enumerate() {
            let label = format!("{action}_{object}");
            for _ in 0..130 {
                writeln!(train, "{},{label}", quote(&utterance(&mut rng, a, o)))?;
            }
            for _ in 0..40 {
                writeln!(test, "{},{label}", quote(&utterance(&mut rng, a, o)))?;
            }
        }
    }
    for _ in 0..500 {
        let mut text = format!(
            "{}{}{}",
            rng.pick(&PREFIXES),
            rng.pick(&OOS),
            rng.pick(&SUFFIXES)
        );
        if rng.chance(15) {
            text = typo(&mut rng, &text);
        }
        writeln!(oos, "{},oos", quote(&text))?;
    }
    for line in [&mut train, &mut test, &mut oos] {
        line.flush()?;
    }
    Ok(())
}
