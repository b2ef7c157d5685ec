//! The offline sentence encoder: all-MiniLM-L6-v2 run by the hub itself, built into the binary,
//! so that a question and a passage that say the same thing in different words ("my electric box
//! is beeping" and "your smart meter's display") come out near each other with no model server
//! and no network.
//!
//! Six BERT layers of 384 over WordPiece, mean pooled, as the model's own sentence-transformers
//! configuration does; its weights are int8 with one scale a row (`bench/vectors/encoder.py`
//! writes them, and checks that the int8 model's sentence vectors keep a cosine of 0.9995 to the
//! original's). The layers' matrices are widened to f32 once, on first use (42 MB); the
//! embedding tables stay int8 and are widened a row at a time. A question of 15 tokens costs about
//! 160 M multiply-adds; see `Knowledge::search` for when the hub pays them.

use std::{collections::HashMap, ops::Range, sync::OnceLock};

use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::vectors::{Cursor, Truncated};

const FILE: &[u8] = include_bytes!("vectors/minilm-l6.bin");
const MAGIC: &[u8] = b"SBEN1\0";
/// Tokens a text is cut to, `[CLS]` and `[SEP]` included: the model was trained on 128.
pub const MAX_TOKENS: usize = 128;
/// WordPiece's longest word, in characters: longer ones are `[UNK]`.
const MAX_WORD_CHARS: usize = 100;
const LAYER_NORM_EPS: f32 = 1e-12;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncoderError {
    #[error("the encoder's weights file is not one (bad magic)")]
    Magic,
    #[error("the encoder's weights file is cut short")]
    Truncated,
    #[error("the encoder's weights file has {0} extra bytes")]
    Trailing(usize),
    #[error("the encoder's vocabulary lacks {0}")]
    Special(&'static str),
}

/// The built-in encoder, read on first use (about 0.1 s in a release build); `None` when the
/// built-in file is corrupt, which the unit tests rule out.
pub fn builtin() -> Option<&'static Encoder> {
    static ENCODER: OnceLock<Option<Encoder>> = OnceLock::new();
    ENCODER
        .get_or_init(|| match Encoder::parse(FILE) {
            Ok(encoder) => Some(encoder),
            Err(err) => {
                tracing::error!(%err, "built-in sentence encoder unreadable: offline embeddings off");
                None
            }
        })
        .as_ref()
}

pub struct Encoder {
    vocab: HashMap<String, u32>,
    cls: u32,
    sep: u32,
    unk: u32,
    heads: usize,
    word: Table,
    position: Table,
    token_type: Array1<f32>,
    norm: Norm,
    layers: Vec<Layer>,
}

/// An int8 embedding table, a scale a row.
struct Table {
    scales: Vec<f32>,
    values: Vec<i8>,
    cols: usize,
}

impl Table {
    fn add_row(&self, row: usize, into: &mut [f32]) {
        let scale = self.scales[row];
        let values = &self.values[row * self.cols..(row + 1) * self.cols];
        for (out, &v) in into.iter_mut().zip(values) {
            *out += f32::from(v) * scale;
        }
    }

    fn rows(&self) -> usize {
        self.scales.len()
    }
}

/// `x · Wᵀ + b`, with `Wᵀ` kept as `in × out`.
struct Linear {
    weight: Array2<f32>,
    bias: Array1<f32>,
}

impl Linear {
    fn apply(&self, x: &Array2<f32>) -> Array2<f32> {
        x.dot(&self.weight) + &self.bias
    }
}

struct Norm {
    weight: Array1<f32>,
    bias: Array1<f32>,
}

impl Norm {
    fn apply(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inverse = 1.0 / (variance + LAYER_NORM_EPS).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inverse * w + b;
            }
        }
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    norm: Norm,
}

impl Encoder {
    pub fn parse(bytes: &[u8]) -> Result<Encoder, EncoderError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(EncoderError::Magic)?;
        let mut cursor = Cursor(rest);
        let mut next = || cursor.u32().map(|v| v as usize);
        let (vocab_size, hidden, layer_count) = (next()?, next()?, next()?);
        let (heads, intermediate, positions) = (next()?, next()?, next()?);
        let mut vocab = HashMap::with_capacity(vocab_size);
        for id in 0..vocab_size {
            vocab.entry(cursor.short_string()?).or_insert(id as u32);
        }
        let special =
            |name: &'static str| vocab.get(name).copied().ok_or(EncoderError::Special(name));
        let (cls, sep, unk) = (special("[CLS]")?, special("[SEP]")?, special("[UNK]")?);
        let mut cursor = Weights(cursor);
        let word = cursor.table(vocab_size, hidden)?;
        let position = cursor.table(positions, hidden)?;
        let token_type = cursor.vector(hidden)?;
        let norm = cursor.norm(hidden)?;
        let mut layers = Vec::with_capacity(layer_count);
        for _ in 0..layer_count {
            layers.push(Layer {
                query: cursor.linear(hidden, hidden)?,
                key: cursor.linear(hidden, hidden)?,
                value: cursor.linear(hidden, hidden)?,
                out: cursor.linear(hidden, hidden)?,
                attention_norm: cursor.norm(hidden)?,
                up: cursor.linear(intermediate, hidden)?,
                down: cursor.linear(hidden, intermediate)?,
                norm: cursor.norm(hidden)?,
            });
        }
        if !cursor.0.0.is_empty() {
            return Err(EncoderError::Trailing(cursor.0.0.len()));
        }
        Ok(Encoder {
            vocab,
            cls,
            sep,
            unk,
            heads: heads.max(1),
            word,
            position,
            token_type,
            norm,
            layers,
        })
    }

    /// Whether `word` (lowercase) is a whole word of the vocabulary.
    pub fn knows(&self, word: &str) -> bool {
        self.vocab.contains_key(word)
    }

    /// The vector of `text`, of unit length: its first [`MAX_TOKENS`] tokens, mean pooled.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_all(&[text]).pop().unwrap_or_default()
    }

    /// The vectors of `texts`, each as [`Encoder::embed`] gives it, in one pass: their tokens
    /// are stacked, so that each layer's matrices are multiplied once for all of them (a
    /// passage and its sentences cost about half as much as one at a time); attention stays
    /// within each text.
    pub fn embed_all(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let mut spans = Vec::with_capacity(texts.len());
        let mut ids = Vec::new();
        for text in texts {
            let start = ids.len();
            ids.extend(self.token_ids(text));
            spans.push(start..ids.len());
        }
        let hidden = self.token_type.len();
        let mut x = Array2::<f32>::zeros((ids.len(), hidden));
        for span in &spans {
            for (position, row) in span.clone().enumerate() {
                let mut row = x.row_mut(row);
                row.assign(&self.token_type);
                let row = row.as_slice_mut().unwrap_or_default();
                self.word.add_row(ids[span.start + position] as usize, row);
                self.position.add_row(position, row);
            }
        }
        self.norm.apply(&mut x);
        for layer in &self.layers {
            x = self.layer(layer, x, &spans);
        }
        spans
            .iter()
            .map(|span| {
                let pooled = x
                    .slice_axis(Axis(0), Slice::from(span.clone()))
                    .mean_axis(Axis(0))
                    .unwrap_or_else(|| Array1::zeros(hidden));
                let length = pooled.dot(&pooled).sqrt().max(f32::EPSILON);
                pooled.iter().map(|v| v / length).collect()
            })
            .collect()
    }

    /// One layer over the stacked tokens of several texts, `spans` the rows of each.
    fn layer(&self, layer: &Layer, mut x: Array2<f32>, spans: &[Range<usize>]) -> Array2<f32> {
        let q = layer.query.apply(&x);
        let k = layer.key.apply(&x);
        let v = layer.value.apply(&x);
        let width = x.ncols() / self.heads;
        let scale = 1.0 / (width as f32).sqrt();
        let mut context = Array2::<f32>::zeros(x.raw_dim());
        for span in spans {
            let rows = Slice::from(span.clone());
            for head in 0..self.heads {
                let part = Slice::from(head * width..(head + 1) * width);
                let mut scores = block(&q, rows, part).dot(&block(&k, rows, part).t());
                for mut row in scores.rows_mut() {
                    let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    row.mapv_inplace(|v| ((v - max) * scale).exp());
                    let sum = row.sum();
                    row /= sum;
                }
                context
                    .slice_axis_mut(Axis(0), rows)
                    .slice_axis_mut(Axis(1), part)
                    .assign(&scores.dot(&block(&v, rows, part)));
            }
        }
        x += &layer.out.apply(&context);
        layer.attention_norm.apply(&mut x);
        let mut up = layer.up.apply(&x);
        up.mapv_inplace(gelu);
        x += &layer.down.apply(&up);
        layer.norm.apply(&mut x);
        x
    }

    /// `[CLS]`, the text's word pieces, `[SEP]`, at most [`MAX_TOKENS`] and no more positions
    /// than the file keeps.
    fn token_ids(&self, text: &str) -> Vec<u32> {
        let limit = MAX_TOKENS.min(self.position.rows()).max(2) - 1;
        let mut ids = vec![self.cls];
        for word in basic_tokens(text) {
            self.word_pieces(&word, &mut ids);
            if ids.len() >= limit {
                break;
            }
        }
        ids.truncate(limit);
        ids.push(self.sep);
        ids
    }

    /// WordPiece: the longest entry that starts the word, then the longest `##` entry that
    /// continues it, and so on; a word that cannot be cut so is `[UNK]`.
    fn word_pieces(&self, word: &str, ids: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            ids.push(self.unk);
            return;
        }
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(word.len()))
            .collect();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start + 1 < bounds.len() {
            let found = (start + 1..bounds.len()).rev().find_map(|end| {
                let piece = &word[bounds[start]..bounds[end]];
                let id = if start == 0 {
                    self.vocab.get(piece)
                } else {
                    self.vocab.get(&format!("##{piece}"))
                };
                id.map(|&id| (id, end))
            });
            let Some((id, end)) = found else {
                ids.push(self.unk);
                return;
            };
            pieces.push(id);
            start = end;
        }
        ids.extend(pieces);
    }
}

/// The rows and columns of `m` that one text's tokens and one attention head take, without
/// copying them.
fn block(m: &Array2<f32>, rows: Slice, columns: Slice) -> ArrayView2<'_, f32> {
    m.slice_axis(Axis(0), rows)
        .slice_axis_move(Axis(1), columns)
}

/// GELU, in the tanh form (within 1e-3 of the erf form everywhere), written as
/// `x · σ(2u)` = `½x(1 + tanh u)`: one `exp` instead of `tanh`, whose `expm1` was a third of
/// the encoder's time.
fn gelu(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    let u = C * (x + 0.044_715 * x * x * x);
    x / (1.0 + (-2.0 * u).exp())
}

/// BERT's basic tokenizer, uncased: control characters dropped, lower case, accents stripped,
/// Chinese characters and punctuation each a token of their own, split on white space.
fn basic_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, tokens: &mut Vec<String>| {
        if !current.is_empty() {
            tokens.push(std::mem::take(current));
        }
    };
    for c in text.to_lowercase().nfd() {
        if is_combining_mark(c) || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() {
            flush(&mut current, &mut tokens);
        } else if is_punctuation(c) || is_chinese(c) {
            flush(&mut current, &mut tokens);
            tokens.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    flush(&mut current, &mut tokens);
    tokens
}

/// BERT's: ASCII symbols and punctuation, and (approximately) any other character that is
/// neither a letter, a digit nor a mark.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric())
}

fn is_chinese(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

impl From<Truncated> for EncoderError {
    fn from(_: Truncated) -> EncoderError {
        EncoderError::Truncated
    }
}

/// The weights file's tensors, read in order.
struct Weights<'a>(Cursor<'a>);

impl Weights<'_> {
    fn floats(&mut self, n: usize) -> Result<Vec<f32>, EncoderError> {
        Ok(self
            .0
            .take(n * 4)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn vector(&mut self, n: usize) -> Result<Array1<f32>, EncoderError> {
        Ok(Array1::from(self.floats(n)?))
    }

    fn table(&mut self, rows: usize, cols: usize) -> Result<Table, EncoderError> {
        let scales = self.floats(rows)?;
        let values = self.0.take(rows * cols)?.iter().map(|&b| b as i8).collect();
        Ok(Table {
            scales,
            values,
            cols,
        })
    }

    /// A linear layer stored as PyTorch keeps it (`out × in`), widened and transposed.
    fn linear(&mut self, out: usize, input: usize) -> Result<Linear, EncoderError> {
        let table = self.table(out, input)?;
        let mut weight = Array2::<f32>::zeros((input, out));
        for (o, scale) in table.scales.iter().enumerate() {
            let row = &table.values[o * input..(o + 1) * input];
            for (i, &v) in row.iter().enumerate() {
                weight[[i, o]] = f32::from(v) * scale;
            }
        }
        Ok(Linear {
            weight,
            bias: self.vector(out)?,
        })
    }

    fn norm(&mut self, n: usize) -> Result<Norm, EncoderError> {
        Ok(Norm {
            weight: self.vector(n)?,
            bias: self.vector(n)?,
        })
    }
}

/// The cosine of two vectors of unit length.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Reference {
        text: String,
        tokens: Vec<String>,
        vector: Vec<f32>,
    }

    fn references() -> Vec<Reference> {
        serde_json::from_str(include_str!("vectors/minilm-l6-reference.json")).expect("parses")
    }

    #[test]
    fn the_text_is_cut_into_the_models_word_pieces() {
        let encoder = builtin().expect("built in");
        for reference in references() {
            let ids = encoder.token_ids(&reference.text);
            let expected: Vec<u32> = std::iter::once("[CLS]")
                .chain(reference.tokens.iter().map(String::as_str))
                .chain(std::iter::once("[SEP]"))
                .map(|t| encoder.vocab[t])
                .collect();
            assert_eq!(ids, expected, "{}", reference.text);
        }
        assert_eq!(
            basic_tokens("Café's  déjà-vu\u{0}!"),
            ["cafe", "'", "s", "deja", "-", "vu", "!"]
        );
    }

    /// The sentence vectors of the original model (float32, in torch) against the hub's.
    #[test]
    fn the_sentence_vectors_are_the_models() {
        let encoder = builtin().expect("built in");
        for reference in references() {
            let vector = encoder.embed(&reference.text);
            let cosine = similarity(&vector, &reference.vector);
            assert!(cosine > 0.995, "{}: cosine {cosine}", reference.text);
        }
    }

    #[test]
    fn gelu_is_the_tanh_form() {
        const C: f32 = 0.797_884_6;
        for i in -2_000..=2_000 {
            let x = i as f32 / 100.0;
            let tanh_form = 0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh());
            assert!(
                (gelu(x) - tanh_form).abs() < 1e-5,
                "{x}: {} {tanh_form}",
                gelu(x)
            );
        }
        assert_eq!(gelu(-1e6), 0.0);
        assert_eq!(gelu(1e6), 1e6);
    }

    /// Texts encoded together come out as each does alone: attention stays within a text.
    #[test]
    fn texts_encoded_together_are_encoded_as_each_alone() {
        let encoder = builtin().expect("built in");
        let texts = [
            "Refunds: a refund takes 5 to 10 business days.",
            "",
            "How do I reset my password?",
            &"long ".repeat(300),
        ];
        let together = encoder.embed_all(&texts);
        assert_eq!(together.len(), texts.len());
        for (text, vector) in texts.iter().zip(&together) {
            let alone = encoder.embed(text);
            let cosine = similarity(&alone, vector);
            assert!(cosine > 0.9999, "{text:?}: cosine {cosine}");
        }
        assert!(encoder.embed_all(&[]).is_empty());
    }

    #[test]
    fn a_paraphrase_is_nearer_than_another_topic() {
        let encoder = builtin().expect("built in");
        let question = encoder.embed("my electric box is beeping and the screen went blank");
        let meter = encoder.embed("Smart meters: what the display on your smart meter shows");
        let refund = encoder.embed("Refunds take 5 to 10 business days to reach your card");
        assert!(similarity(&question, &meter) > similarity(&question, &refund) + 0.1);
    }

    #[test]
    fn a_long_or_odd_text_is_cut_and_never_panics() {
        let encoder = builtin().expect("built in");
        let long = "word ".repeat(5_000);
        assert_eq!(encoder.token_ids(&long).len(), MAX_TOKENS);
        for text in [
            "",
            " ",
            "\u{0}\u{1}",
            "😀😀",
            &"x".repeat(500),
            "日本語のテキスト",
        ] {
            let vector = encoder.embed(text);
            assert_eq!(vector.len(), 384);
            assert!(vector.iter().all(|v| v.is_finite()), "{text:?}");
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error() {
        assert_eq!(Encoder::parse(b"nope").err(), Some(EncoderError::Magic));
        assert_eq!(
            Encoder::parse(&FILE[..FILE.len() - 10]).err(),
            Some(EncoderError::Truncated)
        );
    }
}
