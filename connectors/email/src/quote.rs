//! Cuts the quoted history and the signature off a reply, so that the conversation shows what
//! the customer wrote this time. The whole text is kept beside it.
//!
//! A reply is cut at the first line that starts the history: an attribution ("On … wrote:" and
//! its German, French, Spanish, Dutch, Portuguese, Italian and Scandinavian forms, also when a
//! client wrapped it over two lines), Outlook's "-----Original Message-----" or its
//! "From: … / Sent: …" header block, a signature separator "-- ", or a mobile client's "Sent
//! from my iPhone". Lines quoted with `>` are dropped wherever they are.

/// Attribution lines, lower-cased: how they start and the verb they hold; they end with `:`.
const ATTRIBUTIONS: &[(&str, &str)] = &[
    ("on ", " wrote"),
    ("am ", " schrieb "),
    ("am ", " geschrieben"),
    ("le ", " a écrit"),
    ("el ", " escribió"),
    ("op ", " geschreven"),
    ("op ", " schreef "),
    ("em ", " escreveu"),
    ("il ", " ha scritto"),
    ("den ", " skrev"),
    ("på ", " skrev"),
];

/// Separators after which everything is history.
const SEPARATORS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "-----message d'origine-----",
    "-----mensaje original-----",
    "-----oorspronkelijk bericht-----",
    "-----mensagem original-----",
    "----- forwarded message -----",
];

/// Mobile clients' sign-offs, cut with everything after them.
const SIGN_OFFS: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "get outlook for ",
    "von meinem iphone gesendet",
    "von meinem ipad gesendet",
    "envoyé de mon ",
    "enviado desde mi ",
    "enviado do meu ",
    "verzonden vanaf mijn ",
    "inviato da ",
];

/// Header names that open Outlook's quoted header block, and the ones that must follow.
const BLOCK_FROM: &[&str] = &["from:", "von:", "de:", "van:", "da:", "*from:*"];
const BLOCK_NEXT: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "enviado:",
    "fecha:",
    "verzonden:",
    "inviato:",
    "to:",
    "an:",
    "*sent:*",
];

fn is_attribution(line: &str) -> bool {
    let line = line.trim().to_lowercase();
    ATTRIBUTIONS
        .iter()
        .any(|(start, verb)| line.starts_with(start) && line.ends_with(':') && line.contains(verb))
}

fn opens_header_block(lines: &[&str], at: usize) -> bool {
    let first = lines[at].trim().to_lowercase();
    if !BLOCK_FROM.iter().any(|name| first.starts_with(name)) {
        return false;
    }
    lines[at + 1..]
        .iter()
        .take(4)
        .map(|line| line.trim().to_lowercase())
        .any(|line| BLOCK_NEXT.iter().any(|name| line.starts_with(name)))
}

/// Where the history starts, as a line index.
fn history_starts(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find(|&at| {
        let line = lines[at];
        let lower = line.trim().to_lowercase();
        let wrapped_attribution = at + 1 < lines.len()
            && ATTRIBUTIONS
                .iter()
                .any(|(start, _)| lower.starts_with(start))
            && is_attribution(&format!("{} {}", line.trim(), lines[at + 1].trim()));
        line == "-- "
            || line == "--"
            || is_attribution(line)
            || wrapped_attribution
            || SEPARATORS.iter().any(|separator| lower == *separator)
            || (lower.len() >= 16
                && lower.chars().all(|c| c == '_')
                && (at + 1..lines.len().min(at + 3)).any(|next| opens_header_block(lines, next)))
            || SIGN_OFFS
                .iter()
                .any(|sign_off| lower.starts_with(sign_off) && lower.len() < 60)
            || opens_header_block(lines, at)
    })
}

/// The new part of a reply. Returns the text unchanged when nothing is history, and the
/// unchanged text too when the cut would leave nothing (a forward with no comment).
pub fn strip_reply(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.lines().collect();
    let end = history_starts(&lines).unwrap_or(lines.len());
    let kept: Vec<&str> = lines[..end]
        .iter()
        .copied()
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect();
    let stripped = kept.join("\n").trim().to_owned();
    if stripped.is_empty() {
        normalized.trim().to_owned()
    } else {
        stripped
    }
}

#[cfg(test)]
mod tests {
    use super::strip_reply;

    fn check(input: &str, expected: &str) {
        assert_eq!(strip_reply(input), expected, "input:\n{input}");
    }

    #[test]
    fn attributions_in_several_languages() {
        check(
            "Thanks!\n\nOn Mon, 2 Nov 2026 at 10:00, Acme <help@acme.test> wrote:\n> old",
            "Thanks!",
        );
        check(
            "Danke!\n\nAm 02.11.2026 um 10:00 schrieb Acme <help@acme.test>:\n> alt",
            "Danke!",
        );
        check("Merci\n\nLe lun. 2 nov. 2026, Acme a écrit :\n> x", "Merci");
        check(
            "Gracias\n\nEl lun, 2 nov 2026, Acme escribió:\n> x",
            "Gracias",
        );
        check(
            "Bedankt\n\nOp ma 2 nov. 2026 schreef Acme <a@b.c>:\n> x",
            "Bedankt",
        );
        check(
            "Obrigado\n\nEm seg., 2 de nov. de 2026, Acme escreveu:\n> x",
            "Obrigado",
        );
        check(
            "Thanks\n\nOn Mon, 2 Nov 2026 at 10:00, Acme Support <help@acme.test>\nwrote:\n> x",
            "Thanks",
        );
    }

    #[test]
    fn outlook_blocks_signatures_and_quotes() {
        check(
            "Yes please.\n\n-----Original Message-----\nFrom: Acme\nSent: Monday\n\nold",
            "Yes please.",
        );
        check(
            "Yes.\r\n\r\n________________________________\r\nFrom: Acme Support <help@acme.test>\r\nSent: Monday, November 2, 2026 10:00\r\nTo: Ann\r\nSubject: RE: x\r\n\r\nold",
            "Yes.",
        );
        check("Ja.\n\nVon: Acme\nGesendet: Montag\nAn: Ann\n\nalt", "Ja.");
        check("Fine.\n\n-- \nAnn Example\nCEO", "Fine.");
        check("Fine.\n\nSent from my iPhone", "Fine.");
        check("> quoted\nmine\n> more quoted", "mine");
        check(
            "From: is how I start lines\nbut not a header block",
            "From: is how I start lines\nbut not a header block",
        );
        check("> only a quote", "> only a quote");
    }
}
