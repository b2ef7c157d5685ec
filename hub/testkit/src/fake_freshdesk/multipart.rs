//! `multipart/form-data` as Freshdesk reads it: the parts of a reply's or note's form, their fields and files.

use super::*;

/// The parts of a `multipart/form-data` body, or the refusal of a malformed one; `None` for any
/// other content type.
pub(super) fn multipart_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Result<Vec<FormPart>, Answer>> {
    let content_type = headers.get("content-type")?.to_str().ok()?;
    let (kind, _) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    Some(multipart_parts(content_type, body).ok_or_else(|| {
        Answer::refusal(
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
            "Request body is not valid multipart/form-data",
        )
    }))
}

/// The parts of a `multipart/form-data` body (RFC 7578) sent as `content_type`, in order;
/// `None` when the type is another or the body is malformed. For tests that check a form a
/// connector sent.
pub fn multipart_parts(content_type: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parameters(params)
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .filter(|boundary| !boundary.is_empty())?;
    form_parts(&boundary, body)
}

pub(super) fn form_parts(boundary: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let delimiter = format!("--{boundary}");
    let between = format!("\r\n{delimiter}");
    let start = find(body, delimiter.as_bytes())?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    // After each delimiter: `--` ends the body, CRLF starts a part.
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, between.as_bytes())?;
        let (part, after) = rest.split_at(end);
        rest = &after[between.len()..];
        let head_end = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..head_end]).ok()?;
        let mut disposition = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':')?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => disposition = Some(value.trim()),
                "content-type" => content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let (kind, params) = disposition?.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("form-data") {
            return None;
        }
        let params = parameters(params);
        let param = |wanted: &str| {
            params
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.clone())
        };
        parts.push(FormPart {
            name: param("name")?,
            file_name: param("filename"),
            content_type,
            bytes: part[head_end + 4..].to_vec(),
        });
    }
    Some(parts)
}

/// `; name=value; name="a \"quoted\" value"` as `(lowercase name, value)` pairs.
pub(super) fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let name = name
            .trim()
            .trim_start_matches(';')
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            while chars.next_if(|c| *c != ';').is_some() {}
        } else {
            value = chars.by_ref().take_while(|c| *c != ';').collect();
            value = value.trim().to_owned();
        }
        pairs.push((name, value));
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A form's fields as Freshdesk reads them (`true`/`false` and ids from their text), and its
/// files, which only `attachments[]` parts may carry.
pub(super) fn form_fields(
    parts: Vec<FormPart>,
) -> Result<(Map<String, Value>, Vec<FormFile>), Answer> {
    let mut fields = Map::new();
    let mut files = Vec::new();
    for part in parts {
        if let Some(name) = part.file_name {
            if part.name != "attachments[]" {
                return Err(validation(vec![unexpected(&part.name)]));
            }
            files.push(FormFile {
                name,
                content_type: part.content_type.unwrap_or_default(),
                bytes: part.bytes,
            });
            continue;
        }
        let Ok(text) = String::from_utf8(part.bytes) else {
            return Err(validation(vec![field_error(
                &part.name,
                "It should be UTF-8 text",
                "invalid_value",
            )]));
        };
        let value = match (part.name.as_str(), text.as_str()) {
            ("private" | "incoming", "true" | "false") => Value::Bool(text == "true"),
            ("user_id", _) => text.parse::<u64>().map_or(Value::String(text), Value::from),
            _ => Value::String(text),
        };
        fields.insert(part.name, value);
    }
    Ok((fields, files))
}

/// Freshdesk refuses more than 20 MB of files on one reply or note.
pub(super) fn check_files(files: &[FormFile], errors: &mut Vec<FieldError>) {
    let total: usize = files.iter().map(|file| file.bytes.len()).sum();
    if total > MAX_ATTACHMENT_BYTES {
        errors.push(field_error(
            "attachments",
            "The total size of the attachments should not exceed 20 MB",
            "invalid_size",
        ));
    }
}
