//! Static word vectors, built into the binary: what a word means, as a point in space, with no
//! model and no network at run time. Distilled from the sentence model all-MiniLM-L6-v2 by
//! `bench/vectors/distill.py` (each entry of its WordPiece vocabulary run alone through the model,
//! reduced by PCA, int8), see `src/vectors/README.md`.
//!
//! The knowledge index works on analyzed terms (stems), so the vectors are read by stem: the
//! vector of a stem is the mean of its words' ("deliver", "delivery", "delivered"). A stem of no
//! whole word of the vocabulary is cut into word pieces ("treadmill" → "tread", "##mill") and
//! their vectors averaged.
//!
//! The file: `SBWV1\0`, then the dimensions and the entry count (u32, little-endian), then each
//! entry's length (u8) and ASCII text (`##` starts a piece that continues a word), then the
//! entries' vectors, `dims` int8 each, in the same order.

use std::{collections::HashMap, sync::OnceLock};

use crate::text;

const FILE: &[u8] = include_bytes!("vectors/minilm-words.bin");
const MAGIC: &[u8] = b"SBWV1\0";
/// WordPiece's longest word: longer ones are not cut.
const MAX_PIECES_LEN: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VectorsError {
    #[error("the word vectors file is not one (bad magic)")]
    Magic,
    #[error("the word vectors file is cut short")]
    Truncated,
    #[error("the word vectors file has {0} extra bytes")]
    Trailing(usize),
}

/// The vectors by stem and by word piece, each of unit length.
pub struct WordVectors {
    dims: usize,
    /// Analyzed stem → vector.
    stems: HashMap<String, Vec<f32>>,
    /// Whole words (`word`) and pieces (`##piece`) → vector, for the word-piece fallback.
    pieces: HashMap<String, Vec<f32>>,
}

/// The built-in vectors, parsed on first use (about 30 ms); `None` when the built-in file is
/// corrupt, which the unit tests rule out.
pub fn builtin() -> Option<&'static WordVectors> {
    static VECTORS: OnceLock<Option<WordVectors>> = OnceLock::new();
    VECTORS
        .get_or_init(|| match WordVectors::parse(FILE) {
            Ok(vectors) => Some(vectors),
            Err(err) => {
                tracing::error!(%err, "built-in word vectors unreadable: semantic matching off");
                None
            }
        })
        .as_ref()
}

impl WordVectors {
    pub fn parse(bytes: &[u8]) -> Result<WordVectors, VectorsError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(VectorsError::Magic)?;
        let mut cursor = Cursor(rest);
        let dims = cursor.u32()? as usize;
        let count = cursor.u32()? as usize;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(cursor.short_string()?);
        }
        let data = cursor.take(dims * count)?;
        if !cursor.0.is_empty() {
            return Err(VectorsError::Trailing(cursor.0.len()));
        }
        let mut pieces = HashMap::with_capacity(count);
        let mut by_stem: HashMap<String, Vec<f32>> = HashMap::new();
        let mut analyzer = text::analyzer();
        for (entry, row) in entries.into_iter().zip(data.chunks_exact(dims.max(1))) {
            let vector = normalized(row.iter().map(|&b| f32::from(b as i8)).collect());
            if !entry.starts_with("##") {
                // A stop word has no stem: the index never sees it.
                if let [stem] = text::terms(&mut analyzer, &entry).as_slice() {
                    let sum = by_stem
                        .entry(stem.clone())
                        .or_insert_with(|| vec![0.0; dims]);
                    add(sum, &vector, 1.0);
                }
            }
            pieces.insert(entry, vector);
        }
        let stems = by_stem
            .into_iter()
            .map(|(stem, sum)| (stem, normalized(sum)))
            .collect();
        Ok(WordVectors {
            dims,
            stems,
            pieces,
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The vector of an analyzed term that stems a whole word of the vocabulary: the mean of
    /// those words'. Only these stand for one another: a word cut into pieces ("bitcoin" →
    /// "bit", "##coin") lands near unrelated words ("login").
    pub fn word(&self, stem: &str) -> Option<&[f32]> {
        self.stems.get(stem).map(Vec::as_slice)
    }

    /// The vector of an analyzed term: its words' mean, else its word pieces' mean; `None` when
    /// it cannot be cut into known pieces.
    pub fn term(&self, stem: &str) -> Option<Vec<f32>> {
        if let Some(vector) = self.stems.get(stem) {
            return Some(vector.clone());
        }
        self.word_pieces(stem)
    }

    /// Greedy longest-match WordPiece, as the model's tokenizer cuts an unknown word.
    fn word_pieces(&self, word: &str) -> Option<Vec<f32>> {
        if word.is_empty() || word.len() > MAX_PIECES_LEN || !word.is_ascii() {
            return None;
        }
        let mut sum = vec![0.0; self.dims];
        let mut start = 0;
        while start < word.len() {
            let found = (start + 1..=word.len()).rev().find_map(|end| {
                let piece = if start == 0 {
                    word[..end].to_owned()
                } else {
                    format!("##{}", &word[start..end])
                };
                self.pieces.get(&piece).map(|vector| (end, vector))
            });
            let (end, vector) = found?;
            add(&mut sum, vector, 1.0);
            start = end;
        }
        Some(normalized(sum))
    }

    /// The weighted mean of the terms' vectors, of unit length; terms without one are skipped.
    /// `None` when none has one.
    pub fn mean<'a>(&self, terms: impl IntoIterator<Item = (&'a str, f64)>) -> Option<Vec<f32>> {
        let mut sum = vec![0.0; self.dims];
        let mut any = false;
        for (term, weight) in terms {
            if let Some(vector) = self.term(term) {
                add(&mut sum, &vector, weight as f32);
                any = true;
            }
        }
        any.then(|| normalized(sum))
    }
}

/// A knowledge base's terms as vectors, made when its index changes: which of its terms a
/// question's word it lacks stands for.
#[derive(Default)]
pub struct TermSpace {
    dims: usize,
    terms: Vec<String>,
    /// `terms.len()` rows of `dims`, each of unit length.
    matrix: Vec<f32>,
}

impl TermSpace {
    /// The space of `terms` (analyzed) that stem whole words of the vocabulary.
    pub fn new<'a>(vectors: &WordVectors, terms: impl IntoIterator<Item = &'a str>) -> TermSpace {
        let mut space = TermSpace {
            dims: vectors.dims,
            ..TermSpace::default()
        };
        for term in terms {
            if let Some(vector) = vectors.word(term) {
                space.terms.push(term.to_owned());
                space.matrix.extend_from_slice(vector);
            }
        }
        space
    }

    /// Up to `limit` terms of the space nearest to `vector` with a cosine of at least `least`,
    /// the nearest first.
    pub fn nearest(&self, vector: &[f32], limit: usize, least: f32) -> Vec<(&str, f32)> {
        if vector.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        let mut found: Vec<(&str, f32)> = Vec::new();
        for (term, row) in self.terms.iter().zip(self.matrix.chunks_exact(self.dims)) {
            let similarity = dot(vector, row);
            if similarity >= least {
                found.push((term, similarity));
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found.truncate(limit);
        found
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// The dot product: the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn add(sum: &mut [f32], vector: &[f32], weight: f32) {
    for (s, v) in sum.iter_mut().zip(vector) {
        *s += v * weight;
    }
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = dot(&vector, &vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}

/// Reads a built-in model file front to back (here and in `encoder.rs`).
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

/// The file ends before what it announces.
#[derive(Debug)]
pub(crate) struct Truncated;

impl From<Truncated> for VectorsError {
    fn from(_: Truncated) -> VectorsError {
        VectorsError::Truncated
    }
}

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], Truncated> {
        if self.0.len() < len {
            return Err(Truncated);
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Ok(head)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Truncated> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A length-prefixed (u8) string.
    pub(crate) fn short_string(&mut self) -> Result<String, Truncated> {
        let len = usize::from(self.take(1)?[0]);
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem(word: &str) -> String {
        text::terms(&mut text::analyzer(), word).remove(0)
    }

    fn similarity(vectors: &WordVectors, a: &str, b: &str) -> f32 {
        let a = vectors.term(&stem(a)).expect("a vector");
        let b = vectors.term(&stem(b)).expect("a vector");
        dot(&a, &b)
    }

    #[test]
    fn the_built_in_vectors_load_and_mean_what_words_mean() {
        let started = std::time::Instant::now();
        let vectors = WordVectors::parse(FILE).expect("the built-in file parses");
        println!("parsed in {:?}", started.elapsed());
        assert!(vectors.dims() >= 32 && vectors.stems.len() > 10_000);
        for (word, near, far) in [
            ("driver", "courier", "invoice"),
            ("beer", "alcohol", "password"),
            ("room", "space", "refund"),
            ("yearly", "annual", "courier"),
            ("television", "tv", "boat"),
        ] {
            let (close, distant) = (
                similarity(&vectors, word, near),
                similarity(&vectors, word, far),
            );
            assert!(close > distant, "{word}: {near} {close} vs {far} {distant}");
        }
        // Off-topic words stay far from a support vocabulary.
        for (word, other) in [("boat", "invoice"), ("football", "password")] {
            let cosine = similarity(&vectors, word, other);
            assert!(cosine < 0.3, "{word} {other} {cosine}");
        }
    }

    #[test]
    fn a_term_space_finds_the_nearest_whole_words() {
        let vectors = builtin().expect("built in");
        // "invoice" is cut into pieces ("in", "##voice"): left out.
        let space = TermSpace::new(vectors, ["alcohol", "invoic", "password"]);
        assert_eq!(space.len(), 2);
        let beer = vectors.word(&stem("beer")).expect("a whole word");
        let nearest = space.nearest(beer, 3, 0.5);
        assert_eq!(nearest.first().map(|n| n.0), Some("alcohol"), "{nearest:?}");
        // The cost of one unknown word against a large knowledge base's vocabulary.
        let everything = TermSpace::new(vectors, vectors.stems.keys().map(String::as_str));
        let started = std::time::Instant::now();
        for _ in 0..20 {
            everything.nearest(beer, 3, 0.65);
        }
        println!(
            "nearest of one word among {} terms: {:?}",
            everything.len(),
            started.elapsed() / 20
        );
    }

    #[test]
    fn a_word_outside_the_vocabulary_is_cut_into_pieces() {
        let vectors = builtin().expect("built in");
        assert!(vectors.term("zzqx").is_some());
        assert!(vectors.term("日本").is_none());
    }

    #[test]
    fn a_corrupt_file_is_refused() {
        assert_eq!(WordVectors::parse(b"nope").err(), Some(VectorsError::Magic));
        assert_eq!(
            WordVectors::parse(&FILE[..FILE.len() - 1]).err(),
            Some(VectorsError::Truncated)
        );
        let mut longer = FILE.to_vec();
        longer.push(0);
        assert_eq!(
            WordVectors::parse(&longer).err(),
            Some(VectorsError::Trailing(1))
        );
    }
}
