//! Personal data out of text before it leaves for a model: email addresses, IBANs, payment card
//! numbers (checked by Luhn), national-id-like numbers and phone numbers become placeholders.
//! A scanner rather than patterns: each candidate is checked the way its kind is validated.

/// `text` with personal data replaced by `[EMAIL]`, `[IBAN]`, `[CARD]`, `[ID]` or `[PHONE]`.
pub fn redact(text: &str) -> String {
    let text = redact_emails(text);
    let text = redact_ibans(&text);
    redact_numbers(&text)
}

/// `text` with personal data left out altogether: what retrieval searches for, since an
/// address or a card number says nothing about the topic.
pub fn without_pii(text: &str) -> String {
    let mut text = redact(text);
    for placeholder in ["[EMAIL]", "[IBAN]", "[CARD]", "[ID]", "[PHONE]"] {
        text = text.replace(placeholder, " ");
    }
    text
}

fn is_email_local(c: char) -> bool {
    c.is_alphanumeric() || "._%+-'".contains(c)
}

fn is_email_domain(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

fn redact_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut emitted = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > emitted && is_email_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_email_domain(chars[end]) {
                end += 1;
            }
            // A trailing dot ends the sentence, not the domain.
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            let valid = start < i
                && domain.contains('.')
                && !domain.starts_with('.')
                && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
            if valid {
                out.extend(&chars[emitted..start]);
                out.push_str("[EMAIL]");
                emitted = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.extend(&chars[emitted.min(chars.len())..]);
    out
}

/// IBAN: two letters, two check digits, 11–30 letters or digits, optionally in groups of four
/// separated by spaces; valid when its mod-97 check holds.
fn redact_ibans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_uppercase()
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_some_and(char::is_ascii_uppercase)
            && chars.get(i + 2).is_some_and(char::is_ascii_digit)
            && chars.get(i + 3).is_some_and(char::is_ascii_digit);
        if starts {
            let mut compact = String::new();
            let mut end = i;
            let mut j = i;
            while j < chars.len() && compact.len() < 34 {
                let c = chars[j];
                if c.is_ascii_alphanumeric() {
                    compact.push(c.to_ascii_uppercase());
                    j += 1;
                    if compact.len() >= 15 && iban_valid(&compact) {
                        end = j;
                    }
                } else if c == ' ' && chars.get(j + 1).is_some_and(char::is_ascii_alphanumeric) {
                    j += 1;
                } else {
                    break;
                }
            }
            let whole_word = chars.get(end).is_none_or(|c| !c.is_alphanumeric());
            if end > i && whole_word {
                out.push_str("[IBAN]");
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn iban_valid(compact: &str) -> bool {
    if compact.len() < 15 || compact.len() > 34 {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(value) => value,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Luhn's check over the digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (position, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(*digit);
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Runs of digits with the separators people write numbers with (spaces, dashes, dots,
/// parentheses, a leading `+`), classified by their digits.
fn redact_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c.is_ascii_digit() || c == '+' || c == '(')
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        let mut last_digit = None;
        while j < chars.len() {
            let c = chars[j];
            if c.is_ascii_digit() {
                last_digit = Some(j);
            } else if !(" -.()/+".contains(c)) || (c == ' ' && chars.get(j + 1) == Some(&' ')) {
                break;
            }
            j += 1;
        }
        let Some(last) = last_digit else {
            out.push(c);
            i += 1;
            continue;
        };
        let end = last + 1;
        let run: String = chars[i..end].iter().collect();
        let digits: Vec<u8> = run
            .chars()
            .filter_map(|c| c.to_digit(10).map(|d| d as u8))
            .collect();
        let attached = chars.get(end).is_some_and(|c| c.is_alphabetic());
        match classify(&run, &digits) {
            Some(placeholder) if !attached => out.push_str(placeholder),
            _ => out.push_str(&run),
        }
        i = end;
    }
    out
}

fn classify(run: &str, digits: &[u8]) -> Option<&'static str> {
    let n = digits.len();
    if (13..=19).contains(&n) && luhn(digits) {
        return Some("[CARD]");
    }
    // US social security numbers and similar national ids: 3-2-4 digits.
    let groups: Vec<&str> = run.split(['-', ' ']).collect();
    if groups.len() == 3 && groups.iter().map(|g| g.len()).eq([3, 2, 4]) {
        return Some("[ID]");
    }
    let formatted = run.starts_with('+') || run.contains(['-', ' ', '(', ')', '.']);
    if (9..=15).contains(&n) && formatted {
        return Some("[PHONE]");
    }
    // A long bare number (national ids are 9–12 digits in most countries; dates, amounts and
    // order numbers are usually shorter or formatted).
    if (9..=12).contains(&n) && !run.contains(['.', '/']) {
        return Some("[ID]");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_each_kind_and_keeps_the_rest() {
        let text = "Mail ada.l+x@example.co.uk. Card 4111 1111 1111 1111, not 4111 1111 1111 1112. \
            IBAN GB82 WEST 1234 5698 7654 32 please. SSN 123-45-6789. Call +44 20 7946 0958 or \
            (555) 123-4567. Order 12345 on 2024-01-05, 30 days, code 1234.";
        let redacted = redact(text);
        assert_eq!(
            redacted,
            "Mail [EMAIL]. Card [CARD], not 4111 1111 1111 1112. IBAN [IBAN] please. SSN [ID]. \
            Call [PHONE] or [PHONE]. Order 12345 on 2024-01-05, 30 days, code 1234."
        );
    }

    #[test]
    fn a_bad_iban_checksum_is_left_alone() {
        assert!(redact("GB82 WEST 1234 5698 7654 33").contains("WEST"));
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    }
}
