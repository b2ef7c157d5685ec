//! How the hub shows a contact: their name, email or phone; an anonymous web-chat visitor gets
//! a generated, stable, friendly name ("Curious Otter") until they give one; and every contact
//! gets an avatar colour from a fixed palette that white text reads on (WCAG AA). The one
//! generator the API, search and the inbox use.

use crate::ContactIdentity;

/// The prefix of an anonymous web-chat visitor's identity: `visitor:<64 hex>`.
pub const VISITOR_PREFIX: &str = "visitor:";

/// Avatar colours, each with a contrast of at least 4.5:1 against white text (WCAG AA for
/// normal text; checked by a test).
pub const AVATAR_PALETTE: [&str; 12] = [
    "#b42318", "#c4320a", "#93370d", "#027a48", "#107569", "#0e7090", "#175cd3", "#3538cd",
    "#6927da", "#c11574", "#4a5578", "#854a0e",
];

const ADJECTIVES: [&str; 100] = [
    "Amber",
    "Agile",
    "Azure",
    "Bold",
    "Brave",
    "Breezy",
    "Bright",
    "Brisk",
    "Calm",
    "Candid",
    "Cheerful",
    "Clever",
    "Cosy",
    "Crisp",
    "Curious",
    "Daring",
    "Dapper",
    "Dreamy",
    "Eager",
    "Earnest",
    "Easy",
    "Fancy",
    "Fearless",
    "Festive",
    "Friendly",
    "Frosty",
    "Gentle",
    "Giddy",
    "Glad",
    "Golden",
    "Graceful",
    "Grand",
    "Happy",
    "Hardy",
    "Helpful",
    "Honest",
    "Humble",
    "Jolly",
    "Jovial",
    "Keen",
    "Kind",
    "Lively",
    "Lucky",
    "Lunar",
    "Mellow",
    "Merry",
    "Mighty",
    "Misty",
    "Modest",
    "Nimble",
    "Noble",
    "Patient",
    "Peppy",
    "Plucky",
    "Polite",
    "Proud",
    "Quick",
    "Quiet",
    "Radiant",
    "Rapid",
    "Ready",
    "Rosy",
    "Royal",
    "Rustic",
    "Sandy",
    "Serene",
    "Sharp",
    "Shiny",
    "Silver",
    "Sincere",
    "Smiling",
    "Snowy",
    "Snug",
    "Solar",
    "Spry",
    "Steady",
    "Stellar",
    "Sunny",
    "Swift",
    "Tidy",
    "Tranquil",
    "Trusty",
    "Upbeat",
    "Valiant",
    "Velvet",
    "Vivid",
    "Warm",
    "Wary",
    "Whimsical",
    "Wise",
    "Witty",
    "Zesty",
    "Zippy",
    "Buoyant",
    "Cosmic",
    "Dashing",
    "Elegant",
    "Gallant",
    "Hearty",
    "Jaunty",
];

const ANIMALS: [&str; 100] = [
    "Albatross",
    "Alpaca",
    "Antelope",
    "Badger",
    "Beaver",
    "Bison",
    "Bobcat",
    "Buffalo",
    "Camel",
    "Capybara",
    "Caribou",
    "Cheetah",
    "Chipmunk",
    "Condor",
    "Corgi",
    "Coyote",
    "Crane",
    "Cricket",
    "Dingo",
    "Dolphin",
    "Dove",
    "Eagle",
    "Egret",
    "Elk",
    "Falcon",
    "Ferret",
    "Finch",
    "Flamingo",
    "Fox",
    "Gazelle",
    "Gecko",
    "Gibbon",
    "Giraffe",
    "Goose",
    "Gopher",
    "Heron",
    "Hedgehog",
    "Hippo",
    "Ibex",
    "Ibis",
    "Impala",
    "Jackal",
    "Jaguar",
    "Kestrel",
    "Kingfisher",
    "Kiwi",
    "Koala",
    "Lark",
    "Lemur",
    "Leopard",
    "Llama",
    "Lynx",
    "Magpie",
    "Manatee",
    "Marmot",
    "Meerkat",
    "Mink",
    "Moose",
    "Narwhal",
    "Newt",
    "Ocelot",
    "Orca",
    "Osprey",
    "Otter",
    "Owl",
    "Panda",
    "Panther",
    "Parrot",
    "Pelican",
    "Penguin",
    "Puffin",
    "Quail",
    "Quokka",
    "Rabbit",
    "Raccoon",
    "Raven",
    "Reindeer",
    "Robin",
    "Salmon",
    "Seal",
    "Sparrow",
    "Squirrel",
    "Stork",
    "Swan",
    "Tapir",
    "Tiger",
    "Toucan",
    "Turtle",
    "Walrus",
    "Weasel",
    "Whale",
    "Wombat",
    "Wren",
    "Yak",
    "Zebra",
    "Bee",
    "Hare",
    "Marten",
    "Pika",
    "Tern",
];

/// A 64-bit FNV-1a hash, finished with SplitMix64's mixer so that every bit depends on every
/// byte. Written out rather than `std`'s hasher, whose output may change between releases: a
/// visitor's name must not.
fn stable_hash(seed: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

fn pick<'a>(words: &[&'a str], bits: u64) -> &'a str {
    // The lists are short; the index fits in usize on every target.
    words[usize::try_from(bits % words.len() as u64).unwrap_or(0)]
}

/// "Curious Otter": two words for an anonymous visitor, from their visitor id (the part after
/// `visitor:`, or the whole identity). The same id always gives the same name.
pub fn friendly_name(visitor_id: &str) -> String {
    let hash = stable_hash(
        visitor_id
            .strip_prefix(VISITOR_PREFIX)
            .unwrap_or(visitor_id),
    );
    format!("{} {}", pick(&ADJECTIVES, hash), pick(&ANIMALS, hash >> 24))
}

/// An avatar colour (`#rrggbb` from [`AVATAR_PALETTE`]) for `seed`, stable for the seed.
pub fn avatar_colour(seed: &str) -> &'static str {
    let hash = stable_hash(seed.strip_prefix(VISITOR_PREFIX).unwrap_or(seed));
    pick(&AVATAR_PALETTE, hash >> 48)
}

/// The first anonymous visitor identity among `external_ids`, if any.
fn visitor_id<'a>(external_ids: &[&'a str]) -> Option<&'a str> {
    external_ids
        .iter()
        .copied()
        .find(|id| id.starts_with(VISITOR_PREFIX))
}

/// The name the hub shows for a contact: their name, email or phone (the first not blank); an
/// anonymous web-chat visitor's [`friendly_name`]; else their first identity, or "Customer".
pub fn contact_display_name(
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
    external_ids: &[&str],
) -> String {
    let given = [name, email, phone]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|value| !value.is_empty());
    if let Some(given) = given {
        return given.to_owned();
    }
    if let Some(visitor) = visitor_id(external_ids) {
        return friendly_name(visitor);
    }
    external_ids
        .first()
        .map_or_else(|| "Customer".to_owned(), |id| (*id).to_owned())
}

/// A contact's avatar colour: from their visitor id when they have one, so that it stays the
/// same when they later give a name, else from the contact's id.
pub fn contact_avatar_colour(contact_id: &str, identities: &[ContactIdentity]) -> &'static str {
    let external_ids: Vec<&str> = identities.iter().map(|i| i.external_id.as_str()).collect();
    avatar_colour(visitor_id(&external_ids).unwrap_or(contact_id))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::ChannelKind;

    /// 64 hex characters, as the widget's visitor ids are.
    fn visitor(n: u32) -> String {
        format!(
            "visitor:{:064x}",
            u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
        )
    }

    #[test]
    fn the_same_visitor_always_gets_the_same_name_and_colour() {
        let id = "visitor:aead424967b31e33c3f1c2b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0";
        let name = friendly_name(id);
        assert_eq!(name, friendly_name(id));
        assert_eq!(
            name,
            friendly_name(id.trim_start_matches(VISITOR_PREFIX)),
            "the visitor id with or without its prefix"
        );
        assert_eq!(avatar_colour(id), avatar_colour(id));
        // Fixed forever: a release that changed it would rename every visitor in the inbox.
        assert_eq!(name, "Misty Dingo");
        assert_eq!(avatar_colour(id), "#3538cd");
        let words: Vec<&str> = name.split(' ').collect();
        assert!(ADJECTIVES.contains(&words[0]) && ANIMALS.contains(&words[1]));
    }

    #[test]
    fn many_visitors_get_distinct_names_and_every_colour_is_used() {
        let ids: Vec<String> = (0..1000).map(visitor).collect();
        let names: HashSet<String> = ids.iter().map(|id| friendly_name(id)).collect();
        // 10,000 names: among 1,000 visitors about 48 share a name by chance (the birthday
        // bound); the colour tells most of those apart.
        assert!(names.len() >= 940, "{} distinct names", names.len());
        let pairs: HashSet<(String, &str)> = ids
            .iter()
            .map(|id| (friendly_name(id), avatar_colour(id)))
            .collect();
        assert!(
            pairs.len() >= 990,
            "{} distinct name and colour",
            pairs.len()
        );
        let colours: HashSet<&str> = ids.iter().map(|id| avatar_colour(id)).collect();
        assert_eq!(colours.len(), AVATAR_PALETTE.len());
        let adjectives: HashSet<&str> = names.iter().filter_map(|n| n.split(' ').next()).collect();
        assert!(adjectives.len() >= 90, "the lists are used evenly");
    }

    #[test]
    fn only_anonymous_visitors_get_a_generated_name() {
        let ids = ["visitor:aead4249", "customer@example.test"];
        let generated = friendly_name("visitor:aead4249");
        assert_eq!(contact_display_name(None, None, None, &ids), generated);
        assert_eq!(
            contact_display_name(
                None,
                None,
                None,
                &["customer@example.test", "visitor:aead4249"]
            ),
            generated,
            "a visitor identity wins over a raw external id"
        );
        assert_eq!(contact_display_name(Some("Ada"), None, None, &ids), "Ada");
        assert_eq!(
            contact_display_name(Some("  "), Some("a@b.test"), None, &ids),
            "a@b.test"
        );
        assert_eq!(
            contact_display_name(None, None, Some("+44 1"), &ids),
            "+44 1"
        );
        assert_eq!(
            contact_display_name(None, None, None, &["U024BE7LH"]),
            "U024BE7LH"
        );
        assert_eq!(contact_display_name(None, None, None, &[]), "Customer");
    }

    #[test]
    fn a_visitor_keeps_their_colour_when_they_give_a_name() {
        let identities = [ContactIdentity {
            channel: ChannelKind::Webchat,
            external_id: "visitor:aead4249".into(),
        }];
        assert_eq!(
            contact_avatar_colour("contact-1", &identities),
            avatar_colour("visitor:aead4249")
        );
        assert_eq!(
            contact_avatar_colour("contact-1", &[]),
            avatar_colour("contact-1")
        );
    }

    /// WCAG 2.x relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |at: usize| {
            let value = f64::from(u8::from_str_radix(&hex[at..at + 2], 16).expect("hex")) / 255.0;
            if value <= 0.039_28 {
                value / 12.92
            } else {
                ((value + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    #[test]
    fn white_text_reads_on_every_avatar_colour() {
        for colour in AVATAR_PALETTE {
            let contrast = (1.0 + 0.05) / (luminance(colour) + 0.05);
            assert!(contrast >= 4.5, "{colour}: {contrast:.2}:1");
        }
        let distinct: HashSet<&str> = AVATAR_PALETTE.iter().copied().collect();
        assert_eq!(distinct.len(), AVATAR_PALETTE.len());
    }

    #[test]
    fn the_word_lists_hold_no_word_twice() {
        for words in [&ADJECTIVES[..], &ANIMALS[..]] {
            let distinct: HashSet<&str> = words.iter().copied().collect();
            assert_eq!(distinct.len(), words.len());
        }
    }
}
