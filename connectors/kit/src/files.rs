//! A reply with files sent as the platform's own messages, in the order the connector spec
//! asks: the text as the first file's caption where it fits, or first, on its own; then each
//! file. The connector says how one text and one file are sent.

use std::future::Future;

use switchboard_model::{DeliveryError, DeliveryReceipt, OutboundFile};

/// Sends `text` and `files`: the text alone when there are no files, or when it does not fit
/// as a caption (`caption_fits`); otherwise as the first file's caption. The receipt names
/// the first message sent, the one a customer's reply quotes. An empty text is not sent.
pub async fn send_text_and_files<'a, Text, TextSent, File, FileSent>(
    text: &'a str,
    files: &'a [OutboundFile],
    caption_fits: bool,
    send_text: Text,
    mut send_file: File,
) -> Result<DeliveryReceipt, DeliveryError>
where
    Text: FnOnce() -> TextSent,
    TextSent: Future<Output = Result<DeliveryReceipt, DeliveryError>>,
    File: FnMut(&'a OutboundFile, Option<&'a str>) -> FileSent,
    FileSent: Future<Output = Result<String, DeliveryError>>,
{
    let text = text.trim();
    let mut first = None;
    let mut caption = None;
    if files.is_empty() || !text.is_empty() && !caption_fits {
        first = send_text().await?.channel_message_id;
    } else if !text.is_empty() {
        caption = Some(text);
    }
    for file in files {
        let sent = send_file(file, caption.take()).await?;
        first.get_or_insert(sent);
    }
    Ok(DeliveryReceipt {
        channel_message_id: first,
    })
}
