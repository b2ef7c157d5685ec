//! What a question's words mean beyond their spelling: the words of customer support that stand
//! for one another ("customer" for "client", "yearly" for "annual", "non-profit" for "charity"),
//! and the everyday words that say little about what a question is about ("remember", "look",
//! "twice").
//!
//! A knowledge base is written in its authors' words and questions come in the customers'. A
//! question's term the knowledge base never uses is either a word for something it does not
//! cover ("bitcoin", "Berlin": the question is out of scope) or another way of saying what it
//! does cover ("customer", "cheaper": the question is in scope). The synonyms below turn the
//! second kind into the knowledge base's own terms, and the everyday words are not held against
//! a question when the knowledge base lacks them. The lists are general support and software
//! vocabulary, written for no one knowledge base.

use std::{collections::HashMap, sync::OnceLock};

use crate::text;

/// Groups of words that can stand for one another in a support question. A word after `>` is
/// only a target: the group's words find it, it does not find them ("discount" finds "off", but
/// "turn off" is not about discounts).
const SYNONYMS: &[&str] = &[
    // Money.
    "discount, discounts, cheaper, saving, savings, save, reduced, reduction, deal, promo, promotion, coupon, voucher > off, less",
    "price, prices, pricing, cost, costs, fee, fees, charge, charges, expensive, rate, rates",
    "annual, annually, yearly, year, years, 12 months",
    "monthly, month, months",
    "refund, refunds, refunded, reimburse, reimbursement, repay, repaid, compensation, money back",
    "bill, bills, invoice, invoices, invoiced, receipt, receipts, statement, statements",
    "card, cards, credit, debit, visa, mastercard, amex",
    "pay, paid, paying, payment, payments",
    "currency, currencies, dollar, dollars, euro, euros, pound, pounds, usd, eur, gbp",
    "tax, taxes, vat, gst",
    "trial, trials, demo > free",
    "plan, plans, subscription, subscriptions, tier, tiers, package, packages, membership, edition",
    "upgrade, upgrading > plan",
    "downgrade, downgrading, smaller, cheaper > plan",
    "charity, charities, nonprofit, non-profit, nonprofits, non-profits, not-for-profit, ngo, ngos",
    "student, students, education, educational, academic, university, school",
    // Accounts and access.
    "customer, customers, client, clients, buyer, buyers, shopper",
    "employee, employees, staff, colleague, colleagues, coworker, coworkers, teammate, teammates, member, members, team, people, seat, seats, user, users",
    "accountant, accountants, bookkeeper, bookkeepers, bookkeeping, accounting, cpa",
    "password, passwords, passcode, passphrase, credentials",
    "login, logins, signin, sign-in, log-in",
    "forgot, forget, forgotten, remember, lost > reset",
    "account, accounts, profile, profiles",
    "username, usernames, handle",
    "email, emails, e-mail > mail",
    "two-factor, two-step, 2fa, mfa, authenticator, verification, authentication",
    "secure, safe, safety, security, protect, protected, protection, hack, hacked",
    "encrypt, encrypted, encryption",
    "privacy, private, gdpr, personal",
    "permission, permissions, role, roles, rights, admin, administrator",
    // Things and places.
    "photo, photos, picture, pictures, image, images, pic, pics, screenshot, scan",
    "file, files, document, documents, doc, docs, attachment, attachments",
    "folder, folders, directory, directories",
    "storage, space, quota, capacity, room, gigabyte, gigabytes, gb, terabyte, tb",
    "phone, phones, mobile, smartphone, cellphone, cell, iphone, android, ios",
    "app, apps, application, applications, program, programs, software",
    "computer, computers, desktop, laptop, pc, mac, windows, macos, linux",
    "browser, browsers, web, website, chrome, firefox, safari",
    "server, servers, datacenter, datacentre, datacenters, data center, data centre, data centres, data centers, hosted, hosting, region",
    "country, countries, abroad, international, overseas, foreign",
    "language, languages, translate, translation, translated",
    "offline, internet, connection, connectivity, online, wifi, wi-fi, network, signal",
    "link, links, url, urls",
    "history, activity, audit > log, logs, record, records",
    "version, versions, revision, revisions, previous, older",
    "notification, notifications, alert, alerts, notify, notified",
    "company, companies, business, businesses, organization, organisation, organizations, firm, enterprise",
    // Actions.
    "cancel, cancelling, canceling, cancellation, terminate, termination, unsubscribe, quit, close",
    "delete, deleted, deleting, deletion, remove, removed, removing, erase, erased, trash, wipe, discard",
    "restore, restored, recover, recovered, recovery, undelete, undo, retrieve, retrieved",
    "download, downloads, downloading, export, exporting, backup, backups",
    "upload, uploads, uploading, import, importing",
    "share, shared, sharing, collaborate, collaborator, collaborators, invite, invited, invitation",
    "send, sending, sent, forward",
    "sync, syncs, syncing, synced, synchronize, synchronise, synchronization",
    "merge, merging, combine, combining, consolidate, duplicate, duplicates",
    "remind, reminder, reminders, chase, chasing, nudge, follow-up, overdue",
    "late, overdue, unpaid, outstanding",
    "pause, paused, suspend, suspended, freeze, frozen, hold",
    "recurring, repeat, repeating, repeated, automatic, automatically, schedule, scheduled",
    "enable, enabled, activate, activated, turn on, switch on, set up",
    "disable, disabled, deactivate, deactivated, turn off, switch off",
    "change, changing, edit, editing, modify, update, updating, rename",
    "contact, support, help, helpdesk, agent, representative, human",
    "call, calls, telephone, hotline, ring",
    "chat, message, messages, talk",
    "deliver, delivery, deliveries, ship, shipping, shipped, shipment, courier, arrive, arrives",
    "return, returns, returned, returning, send back",
    "broken, defective, faulty, damaged, broke, dead",
    "fix, repair, repaired, solve, troubleshoot, troubleshooting",
    "error, errors, problem, problems, issue, issues, bug, bugs, glitch, trouble, fail, fails, failed, failing",
    "slow, lag, lagging, speed, faster, sluggish",
    "limit, limits, maximum, max, cap, allowance, up to",
    "receive, received, arrive, arrived, incoming",
    "find, search, searching, look",
    "print, printing, printer, pdf",
];

/// Everyday words that tell little about a question's topic. When a knowledge base lacks one,
/// the question is no less in scope for it: it counts a little towards "unknown", where a word
/// like "bitcoin" counts fully.
const EVERYDAY: &[&str] = &[
    "look",
    "looked",
    "looking",
    "see",
    "seen",
    "saw",
    "remember",
    "kick",
    "kicks",
    "move",
    "moving",
    "make",
    "made",
    "making",
    "take",
    "took",
    "taking",
    "give",
    "gave",
    "giving",
    "go",
    "going",
    "goes",
    "gone",
    "went",
    "come",
    "comes",
    "coming",
    "came",
    "use",
    "used",
    "using",
    "work",
    "works",
    "worked",
    "working",
    "happen",
    "happens",
    "happened",
    "start",
    "starts",
    "started",
    "begin",
    "show",
    "shows",
    "try",
    "tried",
    "trying",
    "keep",
    "kept",
    "put",
    "set",
    "run",
    "runs",
    "say",
    "says",
    "said",
    "think",
    "mean",
    "means",
    "seem",
    "seems",
    "feel",
    "ask",
    "asked",
    "allow",
    "allowed",
    "allows",
    "wonder",
    "wondering",
    "like",
    "love",
    "hate",
    "hope",
    "wish",
    "stop",
    "stopped",
    "leave",
    "left",
    "bring",
    "brought",
    "happy",
    "sure",
    "small",
    "smaller",
    "big",
    "bigger",
    "large",
    "larger",
    "new",
    "old",
    "older",
    "long",
    "longer",
    "short",
    "same",
    "different",
    "whole",
    "full",
    "extra",
    "many",
    "few",
    "lot",
    "lots",
    "little",
    "good",
    "best",
    "better",
    "bad",
    "worse",
    "worst",
    "right",
    "wrong",
    "own",
    "only",
    "first",
    "last",
    "next",
    "early",
    "earlier",
    "quick",
    "fast",
    "soon",
    "ever",
    "never",
    "always",
    "often",
    "sometimes",
    "usually",
    "really",
    "actually",
    "exactly",
    "currently",
    "now",
    "today",
    "tomorrow",
    "yesterday",
    "later",
    "anymore",
    "instead",
    "front",
    "back",
    "away",
    "twice",
    "once",
    "ok",
    "okay",
    "yes",
    "no",
    "not",
    "guys",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "everyone",
    "everybody",
    "people",
    "person",
    "thing",
    "things",
    "stuff",
    "kind",
    "type",
    "sort",
    "part",
    "case",
    "point",
    "time",
    "times",
    "option",
    "options",
    "ways",
    "place",
    "problem",
    "question",
    "questions",
    "info",
    "information",
    "details",
    "detail",
    "happening",
    "help",
    "helps",
    "idea",
    "reason",
    "easy",
    "easily",
    "hard",
    "already",
    "every",
    "without",
    "within",
    "between",
    "through",
    "during",
    "until",
    "since",
    "per",
    "much",
    "enough",
    "almost",
    "even",
    "ago",
    "again",
    "yet",
    "though",
    "although",
    "because",
    "via",
    "across",
    "around",
    "near",
    "over",
    "under",
    "able",
    "unable",
    "whether",
    "cannot",
    "couldn",
    "won",
    "wants",
    "wanted",
    "needs",
    "needed",
    "trouble",
    "certain",
    "available",
    "exist",
    "exists",
    "apply",
    "applies",
    "possible",
    "possibly",
    "maybe",
    "perhaps",
    "someday",
    "anyway",
    "somehow",
    "still",
    "currently",
    "day",
    "days",
    "week",
    "weeks",
];

/// `(synonyms, targets)` by analyzed term: the terms a term may stand for.
struct Tables {
    synonyms: HashMap<String, Vec<String>>,
    everyday: std::collections::HashSet<String>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut analyzer = text::analyzer();
        // A phrase ("data centre") is its terms joined by spaces.
        let mut one_term = |word: &str| {
            let terms = text::terms(&mut analyzer, word);
            (!terms.is_empty() && terms.len() <= 3).then(|| terms.join(" "))
        };
        let mut synonyms: HashMap<String, Vec<String>> = HashMap::new();
        for group in SYNONYMS {
            let (sources, targets) = group.split_once('>').unwrap_or((group, ""));
            let sources: Vec<String> = sources.split(',').filter_map(&mut one_term).collect();
            let targets: Vec<String> = targets.split(',').filter_map(&mut one_term).collect();
            for source in &sources {
                let entry = synonyms.entry(source.clone()).or_default();
                for other in sources.iter().chain(&targets) {
                    if other != source && !entry.contains(other) {
                        entry.push(other.clone());
                    }
                }
            }
        }
        let everyday = EVERYDAY
            .iter()
            .filter_map(|word| one_term(word))
            .filter(|term| !term.contains(' '))
            .collect();
        Tables { synonyms, everyday }
    })
}

/// The terms `term` (analyzed) may stand for, in the thesaurus' order.
pub fn synonyms(term: &str) -> &'static [String] {
    tables().synonyms.get(term).map_or(&[], Vec::as_slice)
}

/// Whether `term` (analyzed) is an everyday word that says little about a question's topic.
pub fn everyday(term: &str) -> bool {
    tables().everyday.contains(term)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(word: &str) -> String {
        text::terms(&mut text::analyzer(), word).remove(0)
    }

    #[test]
    fn synonyms_are_found_by_their_stems() {
        assert!(synonyms(&term("customers")).contains(&term("client")));
        assert!(synonyms(&term("yearly")).contains(&term("annual")));
        assert!(synonyms(&term("charities")).contains(&term("nonprofit")));
        assert!(synonyms(&term("unknownword")).is_empty());
    }

    #[test]
    fn a_phrase_is_its_terms() {
        assert!(synonyms(&term("charity")).contains(&"non profit".to_owned()));
    }

    #[test]
    fn a_target_finds_nothing_itself() {
        assert!(synonyms(&term("discount")).contains(&term("off")));
        assert!(synonyms(&term("off")).is_empty());
    }

    #[test]
    fn everyday_words_are_not_topics() {
        assert!(everyday(&term("remembered")));
        assert!(everyday(&term("twice")));
        assert!(!everyday(&term("bitcoin")));
        assert!(!everyday(&term("refund")));
    }
}
