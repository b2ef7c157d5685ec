//! The knowledge index: one tantivy (BM25) index of passages per organization, in
//! `<data dir>/kb/<org id>/`, kept in step with the database through an [`ArticleSource`].
//!
//! The database is the truth; the index is a cache of it. Before a search the index compares the
//! organization's knowledge stamp (which changes with every article change) with the stamp it was
//! built from, and re-reads only the articles whose version moved. A missing, corrupt or older
//! index is rebuilt from the database, so the data dir can be deleted at any time.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use serde::{Deserialize, Serialize};
use tantivy::{
    Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term,
    collector::TopDocs,
    query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{
        Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
    },
    tokenizer::TextAnalyzer,
};

use crate::{
    article::{ArticleDoc, Passage, passages},
    embeddings::{Embedder, cosine},
    encoder::{self, Encoder},
    house, text, thesaurus,
    vectors::{self, TermSpace},
    vocabulary::Vocabulary,
};

/// Bumped when the index layout changes: an index of another version is rebuilt.
const SCHEMA_VERSION: u32 = 2;
/// Articles fetched from the database per round trip while syncing.
const FETCH_BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("knowledge source: {0}")]
    Source(String),
    #[error("embeddings: {0}")]
    Embeddings(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where the published articles come from (the database, in the hub).
#[async_trait::async_trait]
pub trait ArticleSource: Send + Sync + 'static {
    /// A value that changes whenever any article of the organization changes.
    async fn stamp(&self, org_id: &str) -> Result<String, KnowledgeError>;
    /// `(id, version)` of every published article.
    async fn published(&self, org_id: &str) -> Result<Vec<(String, i64)>, KnowledgeError>;
    /// The published articles among `ids`.
    async fn articles(
        &self,
        org_id: &str,
        ids: &[String],
    ) -> Result<Vec<ArticleDoc>, KnowledgeError>;
}

/// What the index remembers between starts about what it holds.
#[derive(Default, Serialize, Deserialize)]
struct Manifest {
    schema: u32,
    stamp: String,
    articles: BTreeMap<String, i64>,
}

#[derive(Clone, Copy)]
struct Fields {
    article_id: Field,
    title: Field,
    heading: Field,
    body: Field,
    tags: Field,
    /// Everything together, not stored: the document frequencies behind the term weights.
    all: Field,
    ordinal: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(text::ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let stored_text = TextOptions::default()
        .set_indexing_options(indexing.clone())
        .set_stored();
    let fields = Fields {
        article_id: builder.add_text_field("article_id", STRING | STORED),
        title: builder.add_text_field("title", stored_text.clone()),
        heading: builder.add_text_field("heading", stored_text.clone()),
        body: builder.add_text_field("body", stored_text.clone()),
        tags: builder.add_text_field("tags", stored_text),
        all: builder.add_text_field("all", TextOptions::default().set_indexing_options(indexing)),
        ordinal: builder.add_u64_field("ordinal", STORED),
    };
    (builder.build(), fields)
}

/// A passage found for a question, with what the confidence is computed from.
#[derive(Clone, Debug)]
pub struct Hit {
    pub passage: Passage,
    pub tags: Vec<String>,
    /// BM25 (or the fused rank score when embeddings are on).
    pub score: f32,
    /// For each of the question's terms (same order as [`Retrieval::terms`]): does the passage,
    /// its heading, its article's title or tags contain it.
    pub matched: Vec<bool>,
    /// How closely the title or the heading restates the question (0 to 1): near 1 when the
    /// question is a paraphrase of an FAQ-shaped article's question.
    pub title_match: f64,
    /// The cosine of the question's and the passage's word vectors (`vectors.rs`), 0 without.
    pub meaning: f64,
    /// The cosine of the question's and the passage's sentence vectors (`encoder.rs`), 0
    /// without.
    pub cosine: f64,
    /// The highest cosine of the question's and one of the passage's sentences' vectors, 0
    /// without.
    pub sentence: f64,
}

/// A question's term and how much it tells apart (inverse document frequency over passages).
#[derive(Clone, Debug)]
pub struct QueryTerm {
    pub term: String,
    /// Passages holding the term, or its most frequent variant when it has none.
    pub doc_freq: u64,
    pub idf: f64,
    /// Whether the index holds the term as it is written (else it is known, if at all, through
    /// its variants or synonyms).
    pub held: bool,
    /// Known terms standing in for a term the index does not hold (a typo, a word cut short).
    pub variants: Vec<String>,
    /// Known terms the thesaurus says the term may stand for ("customer" for "client"); a
    /// synonym of several words ("data centre") is their terms joined by spaces.
    pub synonyms: Vec<String>,
    /// An everyday word that says little about the question's topic (`thesaurus::everyday`).
    pub everyday: bool,
    /// For a term the knowledge base lacks that its nearest terms by meaning stand in for (they
    /// are among `synonyms`, `vectors.rs`): the cosine of the nearest; 0 otherwise.
    pub closeness: f64,
}

impl QueryTerm {
    /// Whether `present` (analyzed terms) holds the term, one of its variants or synonyms (all
    /// the words of a synonym of several).
    pub fn found_in(&self, present: &[String]) -> bool {
        present
            .iter()
            .any(|term| self.term == *term || self.variants.contains(term))
            || self.synonyms.iter().any(|synonym| {
                synonym
                    .split(' ')
                    .all(|part| present.iter().any(|term| term == part))
            })
    }

    /// Whether `term` (analyzed) is this term, one of its variants, or a synonym or a word of one.
    pub fn is(&self, term: &str) -> bool {
        self.term == term
            || self.variants.iter().any(|v| v == term)
            || self
                .synonyms
                .iter()
                .any(|synonym| synonym.split(' ').any(|part| part == term))
    }
}

#[derive(Clone, Debug, Default)]
pub struct Retrieval {
    pub terms: Vec<QueryTerm>,
    pub hits: Vec<Hit>,
    /// Passages in the index.
    pub passages: u64,
    /// When the sentence encoder ranked the hits with BM25: how far the best hit's article's
    /// nearest passage leads the nearest passage of any other article (cosines).
    pub dense_margin: Option<f64>,
    /// Ranked by words alone because the built-in encoder, which had encoded the passages, was
    /// busy with other questions: an answer from it is not one to keep.
    pub provisional: bool,
}

/// Passage embeddings by article id: `(passage ordinal, vector)`.
type Vectors = HashMap<String, Vec<(usize, Vec<f32>)>>;

/// The built-in sentence encoder's vectors by article id, with the article version they were
/// made from.
type Encoded = HashMap<String, (i64, Vec<EncodedPassage>)>;

/// A passage's sentence vector (title, heading and text), and one for each of its sentences
/// (`heading: sentence`): a question is nearer the sentence that answers it than the passage
/// around it, whose other sentences blur its vector.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EncodedPassage {
    ordinal: usize,
    vector: Vec<f32>,
    sentences: Vec<Packed>,
}

/// A vector of unit length kept in a byte a component (its largest component at 127), written
/// as base64: a sentence vector in 388 bytes instead of 1.5 KB, its cosine within 0.01.
#[derive(Clone, Debug, PartialEq)]
struct Packed {
    scale: f32,
    values: Vec<i8>,
}

impl Packed {
    fn new(vector: &[f32]) -> Packed {
        let largest = vector.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        Packed {
            scale,
            // In -127..=127 by construction.
            #[allow(clippy::cast_possible_truncation)]
            values: vector.iter().map(|v| (v / scale).round() as i8).collect(),
        }
    }

    /// The cosine with `query`, a vector of unit length.
    fn similarity(&self, query: &[f32]) -> f32 {
        let dot: f32 = self
            .values
            .iter()
            .zip(query)
            .map(|(v, q)| f32::from(*v) * q)
            .sum();
        dot * self.scale
    }
}

impl Serialize for Packed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let mut bytes = self.scale.to_le_bytes().to_vec();
        bytes.extend(self.values.iter().map(|v| v.to_le_bytes()[0]));
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Packed, D::Error> {
        use base64::Engine;
        let text = String::deserialize(deserializer)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        let Some((scale, values)) = bytes.split_first_chunk::<4>() else {
            return Err(serde::de::Error::custom(
                "a packed vector without its scale",
            ));
        };
        Ok(Packed {
            scale: f32::from_le_bytes(*scale),
            values: values.iter().map(|b| i8::from_le_bytes([*b])).collect(),
        })
    }
}

/// One organization's index.
pub struct OrgIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: Option<PathBuf>,
    manifest: Mutex<Manifest>,
    /// Serializes syncs of this organization.
    sync: tokio::sync::Mutex<()>,
    /// Passage embeddings by article, when embeddings are on.
    vectors: RwLock<Vectors>,
    /// Passage vectors of the built-in encoder, made in the background (`encoded.json`).
    encoded: RwLock<Encoded>,
    /// Whether a background task is encoding passages.
    encoding: AtomicBool,
    /// Whether `encoded` holds every passage of the index as it is (set and cleared under the
    /// manifest's lock).
    encoded_complete: AtomicBool,
    /// The terms the index holds, read again after every change.
    vocabulary: RwLock<Arc<Vocabulary>>,
    /// The same terms as word vectors, made again after every change.
    space: RwLock<Arc<TermSpace>>,
    /// The company's own name, which questions are searched without and titles restate
    /// questions without (`house.rs`), found again after every change: as written (lowercase)
    /// and as a term.
    house: RwLock<Option<(String, String)>>,
    /// Passages analyzed for the questions that found them, by their text.
    analyzed: Mutex<HashMap<String, Arc<Analyzed>>>,
}

/// Passages kept analyzed at most: beyond, the memo starts again.
const ANALYZED_PASSAGES: usize = 20_000;

/// A passage's analyzed terms: stemming them again for every question that finds the passage
/// was a tenth of the hub's CPU under load (BENCHMARKS.md, issue 25).
struct Analyzed {
    /// Of the title, heading, body and tags.
    present: Vec<String>,
    /// Of the title and of the heading, each without repeats.
    title: Vec<String>,
    heading: Vec<String>,
    /// The IDF-weighted mean of the terms' word vectors, when the vectors are built in: made
    /// once per passage with the rest of this memo, not per question.
    vector: Option<Vec<f32>>,
}

impl OrgIndex {
    /// Opens the index in `dir`, or makes a new one when it is missing, unreadable or of another
    /// layout. `None` keeps it in memory.
    fn open(dir: Option<&Path>) -> Result<OrgIndex, KnowledgeError> {
        let (schema, fields) = schema();
        let (index, manifest) = match dir {
            None => (Index::create_in_ram(schema), Manifest::default()),
            Some(dir) => {
                let manifest = std::fs::read(dir.join("manifest.json"))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
                    .filter(|manifest| manifest.schema == SCHEMA_VERSION);
                let opened = manifest
                    .is_some()
                    .then(|| Index::open_in_dir(dir).ok())
                    .flatten()
                    .filter(|index| index.schema() == schema);
                match (opened, manifest) {
                    (Some(index), Some(manifest)) => (index, manifest),
                    _ => {
                        if dir.exists() {
                            std::fs::remove_dir_all(dir)?;
                        }
                        std::fs::create_dir_all(dir)?;
                        (Index::create_in_dir(dir, schema)?, Manifest::default())
                    }
                }
            }
        };
        index
            .tokenizers()
            .register(text::ANALYZER, text::analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let vectors = read_json(dir, "vectors.json");
        let encoded = read_json(dir, "encoded.json");
        let vocabulary = Vocabulary::read(&reader.searcher(), fields.all)?;
        let space = term_space(&vocabulary);
        let house = house_name(&reader.searcher(), fields)?;
        Ok(OrgIndex {
            index,
            reader,
            fields,
            dir: dir.map(Path::to_owned),
            manifest: Mutex::new(manifest),
            sync: tokio::sync::Mutex::new(()),
            vectors: RwLock::new(vectors),
            encoded: RwLock::new(encoded),
            encoding: AtomicBool::new(false),
            encoded_complete: AtomicBool::new(false),
            vocabulary: RwLock::new(Arc::new(vocabulary)),
            space: RwLock::new(Arc::new(space)),
            house: RwLock::new(house),
            analyzed: Mutex::default(),
        })
    }

    /// The passage's terms, analyzed once for every question that finds it. The key is the
    /// text itself, so a changed article is analyzed again.
    fn analyzed(
        &self,
        passage: &Passage,
        tags: &str,
        analyzer: &mut TextAnalyzer,
    ) -> Arc<Analyzed> {
        let whole = format!(
            "{}\n{}\n{}\n{}",
            passage.title, passage.heading, passage.text, tags
        );
        let memo = |memo: &mut HashMap<String, Arc<Analyzed>>| memo.get(&whole).cloned();
        if let Some(found) = self.analyzed.lock().ok().as_deref_mut().and_then(memo) {
            return found;
        }
        let present = text::terms(analyzer, &whole);
        let vector = self.meaning(&present);
        let analyzed = Arc::new(Analyzed {
            present,
            title: text::distinct_terms(analyzer, &passage.title),
            heading: text::distinct_terms(analyzer, &passage.heading),
            vector,
        });
        if let Ok(mut memo) = self.analyzed.lock() {
            if memo.len() >= ANALYZED_PASSAGES {
                memo.clear();
            }
            memo.insert(whole, analyzed.clone());
        }
        analyzed
    }

    /// The IDF-weighted mean of the word vectors of `terms` (analyzed, repeats counted).
    fn meaning(&self, terms: &[String]) -> Option<Vec<f32>> {
        let vectors = vectors::builtin()?;
        let vocabulary = self.vocabulary();
        let total = self.reader.searcher().num_docs();
        vectors.mean(
            terms
                .iter()
                .map(|term| (term.as_str(), idf(total, vocabulary.doc_freq(term)))),
        )
    }

    /// The company's own name, as the articles say it (`house.rs`).
    pub fn house(&self) -> Option<String> {
        Some(self.house.read().ok()?.as_ref()?.0.clone())
    }

    /// `question` without the house name, when it names it and says something else too.
    fn without_house_name(&self, question: &str) -> Option<String> {
        let house = self.house.read().ok()?;
        house::without(question, &house.as_ref()?.0)
    }

    fn space(&self) -> Arc<TermSpace> {
        self.space
            .read()
            .map(|space| space.clone())
            .unwrap_or_default()
    }

    fn vocabulary(&self) -> Arc<Vocabulary> {
        self.vocabulary
            .read()
            .map(|vocabulary| vocabulary.clone())
            .unwrap_or_default()
    }

    /// The knowledge stamp this index reflects.
    pub fn stamp(&self) -> String {
        self.manifest
            .lock()
            .map(|manifest| manifest.stamp.clone())
            .unwrap_or_default()
    }

    pub fn article_count(&self) -> usize {
        self.manifest
            .lock()
            .map(|manifest| manifest.articles.len())
            .unwrap_or_default()
    }

    /// Replaces the changed articles and removes the gone ones, then remembers `stamp`.
    fn apply(
        &self,
        stamp: &str,
        changed: &[ArticleDoc],
        removed: &[String],
        versions: BTreeMap<String, i64>,
    ) -> Result<(), KnowledgeError> {
        let mut writer = self
            .index
            .writer_with_num_threads::<TantivyDocument>(1, 30_000_000)?;
        let f = self.fields;
        for id in removed.iter().chain(changed.iter().map(|a| &a.id)) {
            writer.delete_term(Term::from_field_text(f.article_id, id));
        }
        for article in changed {
            let tags = article.tags.join(", ");
            for passage in passages(article) {
                let mut doc = TantivyDocument::default();
                doc.add_text(f.article_id, &article.id);
                doc.add_text(f.title, &article.title);
                doc.add_text(f.heading, &passage.heading);
                doc.add_text(f.body, &passage.text);
                doc.add_text(f.tags, &tags);
                doc.add_text(
                    f.all,
                    format!(
                        "{}\n{}\n{}\n{}",
                        article.title, passage.heading, passage.text, tags
                    ),
                );
                doc.add_u64(f.ordinal, passage.ordinal as u64);
                writer.add_document(doc)?;
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        let vocabulary = Vocabulary::read(&self.reader.searcher(), f.all)?;
        let space = term_space(&vocabulary);
        let house = house_name(&self.reader.searcher(), f)?;
        if let Ok(mut current) = self.vocabulary.write() {
            *current = Arc::new(vocabulary);
        }
        if let Ok(mut current) = self.house.write() {
            *current = house;
        }
        if let Ok(mut current) = self.space.write() {
            *current = Arc::new(space);
        }
        if let Ok(mut vectors) = self.vectors.write() {
            for id in removed {
                vectors.remove(id);
            }
        }
        let mut manifest = self
            .manifest
            .lock()
            .map_err(|_| KnowledgeError::Source("index manifest lock poisoned".into()))?;
        manifest.schema = SCHEMA_VERSION;
        manifest.stamp = stamp.to_owned();
        manifest.articles = versions;
        self.encoded_complete.store(false, Ordering::Release);
        if let Some(dir) = &self.dir {
            let bytes = serde_json::to_vec(&*manifest)
                .map_err(|err| KnowledgeError::Source(err.to_string()))?;
            write_atomically(&dir.join("manifest.json"), &bytes)?;
        }
        Ok(())
    }

    fn save_vectors(&self) -> Result<(), KnowledgeError> {
        let Ok(vectors) = self.vectors.read() else {
            return Ok(());
        };
        self.save_json("vectors.json", &*vectors)
    }

    /// Writes `value` as JSON beside the index (nothing when it is in memory).
    fn save_json(&self, name: &str, value: &impl Serialize) -> Result<(), KnowledgeError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let bytes =
            serde_json::to_vec(value).map_err(|err| KnowledgeError::Embeddings(err.to_string()))?;
        write_atomically(&dir.join(name), &bytes)?;
        Ok(())
    }

    /// Whether the built-in encoder's vectors cover every passage as the index now holds it.
    fn encoded_ready(&self) -> bool {
        self.encoded_complete.load(Ordering::Acquire)
    }

    /// Encodes the passages of every article whose vectors are missing or older than the
    /// article, an article at a time, until none is left, and saves them. Blocking: a question
    /// meanwhile is searched by its words alone.
    fn encode_missing(&self, encoder: &Encoder) -> Result<(), KnowledgeError> {
        loop {
            let wanted: Vec<(String, i64)> = {
                let manifest = self.manifest.lock().map_err(|_| poisoned("manifest"))?;
                let mut encoded = self.encoded.write().map_err(|_| poisoned("vectors"))?;
                encoded.retain(|id, _| manifest.articles.contains_key(id));
                let wanted: Vec<_> = manifest
                    .articles
                    .iter()
                    .filter(|(id, version)| encoded.get(*id).map(|e| e.0) != Some(**version))
                    .map(|(id, version)| (id.clone(), *version))
                    .collect();
                if wanted.is_empty() {
                    self.encoded_complete.store(true, Ordering::Release);
                    return self.save_json("encoded.json", &*encoded);
                }
                wanted
            };
            for (id, version) in wanted {
                let vectors = encode_passages(encoder, &self.article_passages(&id)?);
                self.encoded
                    .write()
                    .map_err(|_| poisoned("vectors"))?
                    .insert(id, (version, vectors));
            }
        }
    }

    /// Ranks BM25's hits and the passages nearest to the question's sentence vector together:
    /// BM25 relative to its best hit, plus [`DENSE_WEIGHT`] × the passage's cosine, plus
    /// [`SENTENCE_WEIGHT`] × its nearest sentence's. Fitted with the confidence (`offline.rs`)
    /// on the knowledge bases of BENCHMARKS.md: with the sentences the right article comes first
    /// for 200 of their 243 answerable questions, with 3 × the passages' cosine alone for 189;
    /// BM25 keeps its hold on exact words (an error code, a product name) that a sentence
    /// vector blurs.
    fn blend(
        &self,
        retrieval: Retrieval,
        query: &[f32],
        limit: usize,
    ) -> Result<Retrieval, KnowledgeError> {
        let encoded = self.encoded.read().map_err(|_| poisoned("vectors"))?;
        let mut nearest: Vec<(&str, &EncodedPassage, f32)> = encoded
            .iter()
            .flat_map(|(id, (_, passages))| {
                passages.iter().map(move |passage| {
                    (
                        id.as_str(),
                        passage,
                        encoder::similarity(query, &passage.vector),
                    )
                })
            })
            .collect();
        nearest.sort_by(|a, b| b.2.total_cmp(&a.2));
        let encoded_of = |article_id: &str, ordinal: usize| {
            encoded
                .get(article_id)
                .and_then(|(_, passages)| passages.iter().find(|p| p.ordinal == ordinal))
        };
        let Retrieval {
            terms,
            mut hits,
            passages,
            ..
        } = retrieval;
        for (id, passage, _) in nearest.iter().take(limit.max(1) * 2) {
            let known = hits
                .iter()
                .any(|hit| hit.passage.article_id == *id && hit.passage.ordinal == passage.ordinal);
            if !known && let Some(hit) = self.passage(id, passage.ordinal, &terms)? {
                hits.push(hit);
            }
        }
        let best_lexical = hits.iter().map(|hit| hit.score).fold(0.0, f32::max);
        for hit in &mut hits {
            // The highest cosine of the question and one of the passage's sentences.
            let mut sentence = 0.0;
            if let Some(passage) = encoded_of(&hit.passage.article_id, hit.passage.ordinal) {
                hit.cosine = f64::from(encoder::similarity(query, &passage.vector));
                sentence = passage
                    .sentences
                    .iter()
                    .map(|sentence| sentence.similarity(query))
                    .fold(0.0, f32::max);
            }
            let lexical = if best_lexical > 0.0 {
                hit.score / best_lexical
            } else {
                0.0
            };
            hit.sentence = f64::from(sentence);
            hit.score = lexical + DENSE_WEIGHT * hit.cosine as f32 + SENTENCE_WEIGHT * sentence;
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        let dense_margin = hits.first().map(|best| {
            let nearest_of = |same: bool| {
                nearest
                    .iter()
                    .find(|(id, _, _)| (*id == best.passage.article_id) == same)
                    .map_or(0.0, |n| f64::from(n.2))
            };
            nearest_of(true) - nearest_of(false)
        });
        Ok(Retrieval {
            terms,
            hits,
            passages,
            dense_margin,
            provisional: false,
        })
    }

    /// BM25 over the passages for the terms of `question`, with each hit's term coverage.
    pub fn search(&self, question: &str, limit: usize) -> Result<Retrieval, KnowledgeError> {
        let mut analyzer = text::analyzer();
        let searcher = self.reader.searcher();
        let total = searcher.num_docs();
        let f = self.fields;
        let vocabulary = self.vocabulary();
        let space = self.space();
        let mut terms = Vec::new();
        // The thesaurus' phrases ("money back") as a question says them: their synonyms join
        // those of the phrase's first term.
        let sequence = text::terms(&mut analyzer, question);
        let phrase_synonyms = |term: &str| -> Vec<&'static String> {
            sequence
                .windows(2)
                .filter(|pair| pair[0] == term)
                .flat_map(|pair| thesaurus::synonyms(&format!("{} {}", pair[0], pair[1])))
                .collect()
        };
        for term in text::distinct_terms(&mut analyzer, question) {
            let mut doc_freq = vocabulary.doc_freq(&term);
            let held = doc_freq > 0;
            let mut variants = Vec::new();
            if doc_freq == 0 {
                for (variant, freq) in vocabulary.variants(&term) {
                    doc_freq = doc_freq.max(freq);
                    variants.push(variant);
                }
            }
            let mut synonyms = Vec::new();
            let mut synonym_freq = 0;
            for synonym in thesaurus::synonyms(&term)
                .iter()
                .chain(phrase_synonyms(&term))
            {
                // A synonym of several words is as rare as its rarest word.
                let freq = synonym
                    .split(' ')
                    .map(|part| vocabulary.doc_freq(part))
                    .min()
                    .unwrap_or(0);
                if freq > 0 && !variants.contains(synonym) && !synonyms.contains(synonym) {
                    synonyms.push(synonym.clone());
                    synonym_freq = synonym_freq.max(freq);
                }
            }
            if doc_freq == 0 {
                doc_freq = synonym_freq;
            }
            // A word the knowledge base lacks and no list knows: its nearest terms by meaning
            // ("driver" → "courier") stand in for it, when they are near enough.
            let mut closeness = 0.0;
            if doc_freq == 0
                && let Some(vector) = vectors::builtin().and_then(|v| v.word(&term))
            {
                for (near, similarity) in space.nearest(vector, NEIGHBOURS, NEIGHBOUR_SIMILARITY) {
                    if closeness == 0.0 {
                        closeness = f64::from(similarity);
                    }
                    doc_freq = doc_freq.max(vocabulary.doc_freq(near));
                    synonyms.push(near.to_owned());
                }
            }
            terms.push(QueryTerm {
                idf: idf(total, doc_freq),
                doc_freq,
                held,
                everyday: thesaurus::everyday(&term),
                term,
                variants,
                synonyms,
                closeness,
            });
        }
        if terms.is_empty() || total == 0 {
            return Ok(Retrieval {
                terms,
                hits: Vec::new(),
                passages: total,
                dense_margin: None,
                provisional: false,
            });
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in &terms {
            // A synonym stands in fully for a term the knowledge base lacks, and adds a little
            // to one it has.
            let synonym_boost = if !term.held && term.variants.is_empty() {
                SYNONYM_BOOST
            } else {
                SYNONYM_EXTRA_BOOST
            };
            let synonym_parts = term.synonyms.iter().flat_map(|synonym| {
                let parts = synonym.split(' ').count() as f32;
                synonym
                    .split(' ')
                    .map(move |part| (part, synonym_boost / parts))
            });
            let spellings = std::iter::once((term.term.as_str(), 1.0))
                .chain(term.variants.iter().map(|v| (v.as_str(), VARIANT_BOOST)))
                .chain(synonym_parts);
            for (spelling, weight) in spellings {
                for (field, boost) in [
                    (f.title, 1.0),
                    (f.heading, 1.5),
                    (f.body, 1.0),
                    (f.tags, 0.7),
                ] {
                    let query = TermQuery::new(
                        Term::from_field_text(field, spelling),
                        IndexRecordOption::WithFreqs,
                    );
                    clauses.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(query), boost * weight)),
                    ));
                }
            }
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        // Only a question in other words than the knowledge base's needs the words' meaning:
        // when BM25 matches every term as written, the vectors' blur would only reorder the
        // passages of one topic (the one that says "refund" most, not the one that says how long).
        let in_other_words = terms.iter().any(|t| !t.held);
        let query_vector = vectors::builtin()
            .filter(|_| in_other_words)
            .and_then(|vectors| vectors.mean(terms.iter().map(|t| (t.term.as_str(), t.idf))));
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            hits.push(self.hit(&doc, score, &terms, query_vector.as_deref(), &mut analyzer));
        }
        // Question-to-question matching: a passage whose title or heading restates the question
        // (an FAQ's question, a help page's "How do I …" heading) moves up among those found; so
        // does, less, one whose words mean what the question's do.
        for hit in &mut hits {
            hit.score *= 1.0 + TITLE_RERANK * hit.title_match as f32;
            hit.score *= 1.0 + MEANING_RERANK * hit.meaning.max(0.0) as f32;
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(Retrieval {
            terms,
            hits,
            passages: total,
            dense_margin: None,
            provisional: false,
        })
    }

    fn hit(
        &self,
        doc: &TantivyDocument,
        score: f32,
        terms: &[QueryTerm],
        query_vector: Option<&[f32]>,
        analyzer: &mut TextAnalyzer,
    ) -> Hit {
        let passage = self.stored_passage(doc);
        let tags_text = doc
            .get_first(self.fields.tags)
            .and_then(|value| value.as_str())
            .unwrap_or("")
            .to_owned();
        let analyzed = self.analyzed(&passage, &tags_text, analyzer);
        let matched = terms
            .iter()
            .map(|t| t.found_in(&analyzed.present))
            .collect();
        let title_match = self.title_match(&analyzed, terms);
        let meaning = match (query_vector, &analyzed.vector) {
            (Some(query), Some(passage)) => f64::from(vectors::dot(query, passage)),
            _ => 0.0,
        };
        Hit {
            tags: tags_text
                .split(", ")
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            passage,
            score,
            matched,
            title_match,
            meaning,
            cosine: 0.0,
            sentence: 0.0,
        }
    }

    /// How closely the title, or the heading when it does better, restates the question: the
    /// weight of the terms both hold over the geometric mean of their own weights (a cosine of
    /// binary IDF-weighted vectors). An FAQ's question is either; a question that adds words the
    /// title lacks ("… on a boat?") scores lower.
    fn title_match(&self, passage: &Analyzed, terms: &[QueryTerm]) -> f64 {
        let vocabulary = self.vocabulary();
        let total = self.reader.searcher().num_docs();
        let question: f64 = terms.iter().map(|t| t.idf).sum();
        let house = self.house.read().ok();
        let house = house
            .as_deref()
            .and_then(Option::as_ref)
            .map(|(_, term)| term);
        let recall = |line: &[String]| {
            let (mut found, mut all) = (0.0, 0.0);
            // "Your Parcelhop account" restates "how do I close my account" fully.
            let named = |term: &String| house == Some(term);
            for term in line.iter().filter(|term| !named(term)) {
                let weight = idf(total, vocabulary.doc_freq(term));
                all += weight;
                if terms.iter().any(|t| t.is(term)) {
                    found += weight;
                }
            }
            if all > 0.0 && question > 0.0 {
                found / (all * question).sqrt()
            } else {
                0.0
            }
        };
        recall(&passage.title).max(recall(&passage.heading))
    }

    /// The stored passage `ordinal` of an article, for hits that only the embeddings found.
    fn passage(
        &self,
        article_id: &str,
        ordinal: usize,
        terms: &[QueryTerm],
    ) -> Result<Option<Hit>, KnowledgeError> {
        let found = self.article_docs(article_id)?.into_iter().find(|doc| {
            doc.get_first(self.fields.ordinal)
                .and_then(|value| value.as_u64())
                == Some(ordinal as u64)
        });
        let mut analyzer = text::analyzer();
        Ok(found.map(|doc| self.hit(&doc, 0.0, terms, None, &mut analyzer)))
    }

    /// The stored passages of an article, as the index holds them.
    fn article_passages(&self, article_id: &str) -> Result<Vec<Passage>, KnowledgeError> {
        Ok(self
            .article_docs(article_id)?
            .iter()
            .map(|doc| self.stored_passage(doc))
            .collect())
    }

    fn article_docs(&self, article_id: &str) -> Result<Vec<TantivyDocument>, KnowledgeError> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(self.fields.article_id, article_id),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&query, &TopDocs::with_limit(1_000).order_by_score())?;
        top.into_iter()
            .map(|(_, address)| Ok(searcher.doc(address)?))
            .collect()
    }

    fn stored_passage(&self, doc: &TantivyDocument) -> Passage {
        stored_passage(doc, self.fields)
    }
}

/// The passage a stored document of the index holds.
fn stored_passage(doc: &TantivyDocument, f: Fields) -> Passage {
    let field = |field: Field| {
        doc.get_first(field)
            .and_then(|value| value.as_str())
            .unwrap_or("")
            .to_owned()
    };
    Passage {
        article_id: field(f.article_id),
        title: field(f.title),
        heading: field(f.heading),
        text: field(f.body),
        ordinal: doc
            .get_first(f.ordinal)
            .and_then(|value| value.as_u64())
            .unwrap_or(0) as usize,
    }
}

/// Passages read to find the house name: enough to see a name repeated throughout.
const HOUSE_PASSAGES: usize = 20_000;

/// The house name of the passages `searcher` holds (`house.rs`), from at most
/// [`HOUSE_PASSAGES`] of them, as written (lowercase) and as a term.
fn house_name(searcher: &Searcher, f: Fields) -> Result<Option<(String, String)>, KnowledgeError> {
    let top = searcher.search(
        &AllQuery,
        &TopDocs::with_limit(HOUSE_PASSAGES).order_by_score(),
    )?;
    let mut articles: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for (_, address) in top {
        let passage = stored_passage(&searcher.doc(address)?, f);
        articles
            .entry(passage.article_id)
            .or_insert_with(|| (passage.title, Vec::new()))
            .1
            .push(passage.text);
    }
    let mut house = house::HouseName::default();
    for (title, texts) in articles.values() {
        house.add(title, texts.iter().map(String::as_str));
    }
    let name = house.find(|word| encoder::builtin().is_some_and(|encoder| encoder.knows(word)));
    Ok(name.and_then(|name| {
        let term = text::terms(&mut text::analyzer(), &name).pop()?;
        Some((name, term))
    }))
}

/// Questions the built-in encoder encodes at once (a core each, about 15 ms a question).
const ENCODING_AT_ONCE: usize = 1;
/// The time a serving hub's encoder may spend on questions in each [`ENCODER_WINDOW`]
/// ([`Knowledge::with_encoder_share`]): beyond it, a question is ranked by its words alone, as
/// when the encoder is busy. A quarter of a core: about 15 questions a second are encoded
/// whatever the load, every question of a quiet hub, and under load the encoder leaves the
/// turns the CPU they need (with a hosted model at 700 questions a second, most of them
/// follow-ups the answer cache cannot take, it had become a sixth of the hub's CPU,
/// BENCHMARKS.md).
pub const ENCODER_SHARE: std::time::Duration = std::time::Duration::from_millis(250);
const ENCODER_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// The time the encoder spent on questions in the current window, and its share of each.
#[derive(Debug)]
struct EncoderTime {
    share: std::time::Duration,
    window: Mutex<(std::time::Instant, std::time::Duration)>,
}

impl EncoderTime {
    fn new(share: std::time::Duration) -> EncoderTime {
        EncoderTime {
            share,
            window: Mutex::new((std::time::Instant::now(), std::time::Duration::ZERO)),
        }
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, (std::time::Instant, std::time::Duration)> {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.0.elapsed() >= ENCODER_WINDOW {
            *window = (std::time::Instant::now(), std::time::Duration::ZERO);
        }
        window
    }

    /// Whether the window's share has room for another question.
    fn has_room(&self) -> bool {
        self.spent().1 < self.share
    }

    fn add(&self, took: std::time::Duration) {
        self.spent().1 += took;
    }
}
/// How much the cosine of the question's and a passage's sentence vectors weighs beside BM25
/// relative to its best hit, in [`OrgIndex::blend`].
const DENSE_WEIGHT: f32 = 2.0;
/// How much the cosine of the question's and the passage's nearest sentence's vectors weighs
/// there.
const SENTENCE_WEIGHT: f32 = 4.0;

fn poisoned(what: &str) -> KnowledgeError {
    KnowledgeError::Source(format!("the index's {what} lock is poisoned"))
}

/// Each passage's sentence vectors: its own and its sentences', the article's texts encoded
/// together ([`Encoder::embed_all`]).
fn encode_passages(encoder: &Encoder, passages: &[Passage]) -> Vec<EncodedPassage> {
    let texts: Vec<(String, Vec<String>)> = passages
        .iter()
        .map(|passage| {
            let heading = if passage.heading.is_empty() {
                &passage.title
            } else {
                &passage.heading
            };
            let whole = format!("{}\n{}\n{}", passage.title, passage.heading, passage.text);
            let sentences = text::sentences(&passage.text)
                .iter()
                .map(|sentence| format!("{heading}: {sentence}"))
                .collect();
            (whole, sentences)
        })
        .collect();
    let all: Vec<&str> = texts
        .iter()
        .flat_map(|(whole, sentences)| std::iter::once(whole).chain(sentences))
        .map(String::as_str)
        .collect();
    let mut vectors = embed_once(encoder, &all).into_iter();
    passages
        .iter()
        .zip(&texts)
        .map(|(passage, (_, sentences))| EncodedPassage {
            ordinal: passage.ordinal,
            vector: vectors.next().map(|v| v.to_vec()).unwrap_or_default(),
            sentences: vectors
                .by_ref()
                .take(sentences.len())
                .map(|v| Packed::new(&v))
                .collect(),
        })
        .collect()
}

/// The sentence vectors of `texts`, each made once per process (tests and the benchmarks build
/// the same knowledge base many times); those not made yet are encoded together, a batch at a
/// time.
fn embed_once(encoder: &Encoder, texts: &[&str]) -> Vec<Arc<[f32]>> {
    const KEPT: usize = 50_000;
    const BATCH: usize = 32;
    static MEMO: std::sync::OnceLock<Mutex<HashMap<String, Arc<[f32]>>>> =
        std::sync::OnceLock::new();
    let memo = MEMO.get_or_init(Mutex::default);
    let mut found: Vec<Option<Arc<[f32]>>> = match memo.lock() {
        Ok(memo) => texts.iter().map(|text| memo.get(*text).cloned()).collect(),
        Err(_) => vec![None; texts.len()],
    };
    let missing: Vec<usize> = (0..texts.len()).filter(|&i| found[i].is_none()).collect();
    for batch in missing.chunks(BATCH) {
        let wanted: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
        let made = encoder.embed_all(&wanted);
        let mut memo = memo.lock().ok();
        for (&i, vector) in batch.iter().zip(made) {
            let vector: Arc<[f32]> = vector.into();
            if let Some(memo) = memo.as_mut() {
                if memo.len() >= KEPT {
                    memo.clear();
                }
                memo.insert(texts[i].to_owned(), vector.clone());
            }
            found[i] = Some(vector);
        }
    }
    found.into_iter().map(Option::unwrap_or_default).collect()
}

/// How much a hit's score grows with the cosine of its and the question's word vectors.
const MEANING_RERANK: f32 = 1.0;
/// A variant (a guess at what a misspelled or cut-short term meant) counts a little less.
const VARIANT_BOOST: f32 = 0.8;
/// How much a hit's score grows with its title match (1 + this × the match): among the
/// passages BM25 finds, the one whose title or heading restates the question comes first.
const TITLE_RERANK: f32 = 1.5;
/// A synonym of a term the knowledge base lacks.
const SYNONYM_BOOST: f32 = 0.7;
/// A synonym of a term the knowledge base has.
const SYNONYM_EXTRA_BOOST: f32 = 0.3;
/// The nearest terms by meaning that stand in for a term the knowledge base lacks, at most.
const NEIGHBOURS: usize = 3;
/// How near (cosine of word vectors) a term must be to stand in for one the knowledge base lacks.
const NEIGHBOUR_SIMILARITY: f32 = 0.65;

/// The vocabulary's terms as word vectors; empty when the built-in vectors are unreadable.
fn term_space(vocabulary: &Vocabulary) -> TermSpace {
    vectors::builtin().map_or_else(TermSpace::default, |vectors| {
        TermSpace::new(vectors, vocabulary.terms().map(|(term, _)| term))
    })
}

/// BM25's inverse document frequency.
pub fn idf(total: u64, doc_freq: u64) -> f64 {
    let (n, df) = (total as f64, doc_freq as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// A JSON file beside the index; empty when the index is in memory, or the file is missing or
/// unreadable (it is made again).
fn read_json<T: serde::de::DeserializeOwned + Default>(dir: Option<&Path>, name: &str) -> T {
    dir.and_then(|dir| std::fs::read(dir.join(name)).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(temporary, path)
}

/// Every organization's index, opened on first use and kept in step with the source.
pub struct Knowledge {
    /// `<data dir>/kb`; `None` keeps the indexes in memory.
    root: Option<PathBuf>,
    source: Arc<dyn ArticleSource>,
    embedder: Option<Arc<Embedder>>,
    /// The built-in sentence encoder, unless embeddings come from a model server or it is off.
    encoder: Option<&'static Encoder>,
    /// Questions encoded at once at most: beyond, a question is searched by its words alone
    /// rather than wait (`switchboard_encoder_busy_total`).
    encoding: Arc<tokio::sync::Semaphore>,
    /// The encoder's time on questions, when bounded ([`Knowledge::with_encoder_share`]):
    /// beyond its share, questions are searched by their words the same way.
    encoder_time: Option<Arc<EncoderTime>>,
    orgs: Mutex<HashMap<String, Arc<OrgIndex>>>,
}

impl Knowledge {
    pub fn new(data_dir: Option<&Path>, source: Arc<dyn ArticleSource>) -> Knowledge {
        Knowledge {
            root: data_dir.map(|dir| dir.join("kb")),
            source,
            embedder: None,
            encoder: None,
            encoding: Arc::new(tokio::sync::Semaphore::new(ENCODING_AT_ONCE)),
            encoder_time: None,
            orgs: Mutex::new(HashMap::new()),
        }
    }

    /// Also ranks passages by the meaning of the whole question with the built-in sentence
    /// encoder (`encoder.rs`), once it has encoded an organization's passages in the background;
    /// the confidence then weighs how near the question's and the passage's meanings are.
    pub fn with_encoder(mut self) -> Knowledge {
        self.encoder = encoder::builtin();
        self
    }

    /// Bounds the encoder's time on questions to `share` of each second: a hub serving
    /// customers ([`ENCODER_SHARE`]). Without it every question is encoded (evaluations).
    pub fn with_encoder_share(mut self, share: std::time::Duration) -> Knowledge {
        self.encoder_time = Some(Arc::new(EncoderTime::new(share)));
        self
    }

    /// A place with the encoder for one question: none while it is busy with another, or has
    /// spent its share of this second.
    fn encoder_place(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if self
            .encoder_time
            .as_ref()
            .is_some_and(|time| !time.has_room())
        {
            return None;
        }
        self.encoding.clone().try_acquire_owned().ok()
    }

    /// Whether questions are (or will be, once encoded) ranked by the built-in encoder.
    fn encodes(&self) -> Option<&'static Encoder> {
        self.encoder.filter(|_| self.embedder.is_none())
    }

    /// Whether the index's passages are ranked by meaning too, or never will be (no built-in
    /// encoder): what a hub preparing its knowledge at start waits for.
    pub fn is_encoded(&self, index: &OrgIndex) -> bool {
        self.encodes().is_none() || index.encoded_ready()
    }

    /// Starts encoding the index's passages in the background unless they are encoded or
    /// being encoded.
    fn start_encoding(&self, index: &Arc<OrgIndex>) {
        let Some(encoder) = self.encodes() else {
            return;
        };
        if index.encoded_ready() || index.encoding.swap(true, Ordering::AcqRel) {
            return;
        }
        let worker = index.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                let outcome = worker.encode_missing(encoder);
                worker.encoding.store(false, Ordering::Release);
                if let Err(err) = outcome {
                    tracing::warn!(%err, "cannot encode the knowledge base's passages");
                    break;
                }
                // A change applied after the last look and before the flag fell is taken now.
                if worker.encoded_ready() || worker.encoding.swap(true, Ordering::AcqRel) {
                    break;
                }
            }
        });
    }

    /// How the index ranks questions now: its stamp, marked when the built-in encoder ranks
    /// them too. Answers are cached by it.
    pub fn ranking(&self, index: &OrgIndex) -> String {
        let stamp = index.stamp();
        if self.encodes().is_some() && index.encoded_ready() {
            format!("{stamp}+meaning")
        } else {
            stamp
        }
    }

    /// Waits until the built-in encoder has encoded every passage of the organization's index;
    /// at once when it is off. For evaluations, which must not depend on the clock.
    pub async fn encoded(&self, org_id: &str) -> Result<Arc<OrgIndex>, KnowledgeError> {
        let index = self.index(org_id).await?;
        while !self.is_encoded(&index) {
            self.start_encoding(&index);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(index)
    }

    /// Also embeds every passage, and fuses the embedding ranking with BM25 in [`Knowledge::search`].
    pub fn with_embeddings(mut self, embedder: Embedder) -> Knowledge {
        self.embedder = Some(Arc::new(embedder));
        self
    }

    fn open(&self, org_id: &str) -> Result<Arc<OrgIndex>, KnowledgeError> {
        let mut orgs = self
            .orgs
            .lock()
            .map_err(|_| KnowledgeError::Source("index registry lock poisoned".into()))?;
        if let Some(index) = orgs.get(org_id) {
            return Ok(index.clone());
        }
        // An org id is a UUID; anything else must not become a path.
        let safe = org_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let dir = match &self.root {
            Some(root) if safe => Some(root.join(org_id)),
            _ => None,
        };
        let index = Arc::new(OrgIndex::open(dir.as_deref())?);
        orgs.insert(org_id.to_owned(), index.clone());
        Ok(index)
    }

    /// The organization's index, brought up to date with the source first.
    pub async fn index(&self, org_id: &str) -> Result<Arc<OrgIndex>, KnowledgeError> {
        self.index_at(org_id, None).await
    }

    /// [`Knowledge::index`], given the source's stamp when the caller has just read it.
    pub async fn index_at(
        &self,
        org_id: &str,
        stamp: Option<&str>,
    ) -> Result<Arc<OrgIndex>, KnowledgeError> {
        let index = self.open(org_id)?;
        let stamp = match stamp {
            Some(stamp) => stamp.to_owned(),
            None => self.source.stamp(org_id).await?,
        };
        if index.stamp() == stamp {
            self.start_encoding(&index);
            return Ok(index);
        }
        let guard_owner = index.clone();
        let _syncing = guard_owner.sync.lock().await;
        if index.stamp() == stamp {
            return Ok(index);
        }
        let published: BTreeMap<String, i64> =
            self.source.published(org_id).await?.into_iter().collect();
        let known = index
            .manifest
            .lock()
            .map(|manifest| manifest.articles.clone())
            .unwrap_or_default();
        let removed: Vec<String> = known
            .keys()
            .filter(|id| !published.contains_key(*id))
            .cloned()
            .collect();
        let stale: Vec<String> = published
            .iter()
            .filter(|(id, version)| known.get(*id) != Some(version))
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = Vec::with_capacity(stale.len());
        for batch in stale.chunks(FETCH_BATCH) {
            changed.extend(self.source.articles(org_id, batch).await?);
        }
        if let Some(embedder) = &self.embedder {
            self.embed(&index, embedder, &changed).await?;
        }
        let worker = index.clone();
        tokio::task::spawn_blocking(move || worker.apply(&stamp, &changed, &removed, published))
            .await
            .map_err(|err| KnowledgeError::Source(err.to_string()))??;
        tracing::debug!(
            org_id,
            articles = index.article_count(),
            "knowledge index synced"
        );
        self.start_encoding(&index);
        Ok(index)
    }

    async fn embed(
        &self,
        index: &OrgIndex,
        embedder: &Embedder,
        articles: &[ArticleDoc],
    ) -> Result<(), KnowledgeError> {
        for article in articles {
            let cut = passages(article);
            let inputs: Vec<String> = cut
                .iter()
                .map(|p| format!("{}\n{}\n{}", p.title, p.heading, p.text))
                .collect();
            let vectors = embedder.embed(&inputs).await?;
            if let Ok(mut all) = index.vectors.write() {
                all.insert(
                    article.id.clone(),
                    cut.iter().map(|p| p.ordinal).zip(vectors).collect(),
                );
            }
        }
        if !articles.is_empty() {
            index.save_vectors()?;
        }
        Ok(())
    }

    /// The passages that best match `question`: BM25, fused by reciprocal rank with the
    /// embedding ranking when embeddings are on.
    pub async fn search(
        &self,
        index: &Arc<OrgIndex>,
        question: &str,
        limit: usize,
    ) -> Result<Retrieval, KnowledgeError> {
        let unnamed = index.without_house_name(question);
        let question = unnamed.as_deref().unwrap_or(question);
        let worker = index.clone();
        let owned = question.to_owned();
        let mut retrieval =
            tokio::task::spawn_blocking(move || worker.search(&owned, limit.max(1) * 2))
                .await
                .map_err(|err| KnowledgeError::Source(err.to_string()))??;
        if let Some(embedder) = &self.embedder {
            let query = embedder.embed(&[question.to_owned()]).await?;
            if let Some(query) = query.first() {
                retrieval = fuse(index, retrieval, query, limit)?;
            }
        } else if let Some(encoder) = self.encodes() {
            let permit = index.encoded_ready().then(|| self.encoder_place());
            match permit {
                Some(Some(permit)) => {
                    let worker = index.clone();
                    let owned = question.to_owned();
                    let time = self.encoder_time.clone();
                    retrieval = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        let started = std::time::Instant::now();
                        let vector = encoder.embed(&owned);
                        if let Some(time) = time {
                            time.add(started.elapsed());
                        }
                        worker.blend(retrieval, &vector, limit)
                    })
                    .await
                    .map_err(|err| KnowledgeError::Source(err.to_string()))??;
                }
                Some(None) => {
                    metrics::counter!("switchboard_encoder_busy_total").increment(1);
                    retrieval.provisional = true;
                }
                // Not yet encoded: by words alone, as `ranking` says.
                None => {}
            }
        }
        retrieval.hits.truncate(limit.max(1));
        Ok(retrieval)
    }
}

/// Reciprocal rank fusion (k = 60) of the BM25 hits with the passages nearest to the question's
/// embedding. The fused score replaces BM25's; the BM25 of the best hit is kept on it so that
/// confidence features stay on one scale.
fn fuse(
    index: &OrgIndex,
    retrieval: Retrieval,
    query: &[f32],
    limit: usize,
) -> Result<Retrieval, KnowledgeError> {
    const K: f32 = 60.0;
    let mut nearest: Vec<(String, usize, f32)> = index
        .vectors
        .read()
        .map(|vectors| {
            vectors
                .iter()
                .flat_map(|(id, passages)| {
                    passages
                        .iter()
                        .map(move |(ordinal, vector)| (id.clone(), *ordinal, cosine(query, vector)))
                })
                .collect()
        })
        .unwrap_or_default();
    nearest.sort_by(|a, b| b.2.total_cmp(&a.2));
    nearest.truncate(limit * 2);
    let bm25_top = retrieval.hits.first().map_or(0.0, |hit| hit.score);
    let mut fused: Vec<(f32, Hit)> = Vec::new();
    for (rank, hit) in retrieval.hits.into_iter().enumerate() {
        fused.push((1.0 / (K + rank as f32 + 1.0), hit));
    }
    for (rank, (article_id, ordinal, _)) in nearest.into_iter().enumerate() {
        let bonus = 1.0 / (K + rank as f32 + 1.0);
        let existing = fused.iter_mut().find(|(_, hit)| {
            hit.passage.article_id == article_id && hit.passage.ordinal == ordinal
        });
        match existing {
            Some((score, _)) => *score += bonus,
            None => {
                if let Some(hit) = index.passage(&article_id, ordinal, &retrieval.terms)? {
                    fused.push((bonus, hit));
                }
            }
        }
    }
    fused.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = fused
        .first()
        .map_or(1.0, |(score, _)| *score)
        .max(f32::EPSILON);
    let hits = fused
        .into_iter()
        .map(|(score, mut hit)| {
            // Scaled so that the fused best sits at the best BM25 score.
            hit.score = score / best * bm25_top;
            hit
        })
        .collect();
    Ok(Retrieval {
        terms: retrieval.terms,
        hits,
        passages: retrieval.passages,
        dense_margin: None,
        provisional: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_sentence_vector_keeps_its_cosines_through_its_file() {
        let encoder = encoder::builtin().expect("the built-in encoder");
        let question = encoder.embed("How long does a refund take?");
        let sentence = encoder.embed("Refunds: a refund takes 5 to 10 business days.");
        let packed = Packed::new(&sentence);
        let json = serde_json::to_string(&packed).expect("serializes");
        assert!(json.len() < 600, "{} bytes", json.len());
        let back: Packed = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, packed);
        let exact = encoder::similarity(&question, &sentence);
        assert!((back.similarity(&question) - exact).abs() < 0.01);
        assert!((back.similarity(&sentence) - 1.0).abs() < 0.01);
        assert!(serde_json::from_str::<Packed>("\"AAE\"").is_err());
        assert!(serde_json::from_str::<Packed>("\"not base64!\"").is_err());
    }

    /// One organization's articles, fixed.
    struct Fixed(Vec<ArticleDoc>);

    #[async_trait::async_trait]
    impl ArticleSource for Fixed {
        async fn stamp(&self, _: &str) -> Result<String, KnowledgeError> {
            Ok("1".into())
        }

        async fn published(&self, _: &str) -> Result<Vec<(String, i64)>, KnowledgeError> {
            Ok(self.0.iter().map(|a| (a.id.clone(), a.version)).collect())
        }

        async fn articles(
            &self,
            _: &str,
            ids: &[String],
        ) -> Result<Vec<ArticleDoc>, KnowledgeError> {
            Ok(self
                .0
                .iter()
                .filter(|a| ids.contains(&a.id))
                .cloned()
                .collect())
        }
    }

    /// A knowledge base of one article, on refunds.
    fn refunds() -> Knowledge {
        let article = ArticleDoc {
            id: "refunds".into(),
            title: "Refunds".into(),
            category: None,
            tags: Vec::new(),
            body: "## How long a refund takes\n\nA refund reaches your card in 5 to 10 days."
                .into(),
            version: 1,
        };
        Knowledge::new(None, Arc::new(Fixed(vec![article])))
    }

    /// A question asked while the encoder is busy with another is ranked by its words alone,
    /// at once, and marked so that its answer is not cached.
    #[tokio::test]
    async fn a_question_is_not_kept_waiting_for_a_busy_encoder() {
        let knowledge = refunds().with_encoder();
        let index = knowledge.encoded("org").await.expect("encodes");
        let question = "How long does a refund take?";
        let busy = knowledge
            .encoding
            .clone()
            .try_acquire_many_owned(ENCODING_AT_ONCE as u32)
            .expect("the encoder's places");
        let retrieval = knowledge
            .search(&index, question, 5)
            .await
            .expect("searches");
        assert!(retrieval.provisional && retrieval.dense_margin.is_none());
        assert!(!retrieval.hits.is_empty());
        drop(busy);
        let retrieval = knowledge
            .search(&index, question, 5)
            .await
            .expect("searches");
        assert!(!retrieval.provisional && retrieval.dense_margin.is_some());
    }

    #[tokio::test]
    async fn the_encoder_takes_at_most_its_share_of_a_core_for_questions() {
        let knowledge = refunds().with_encoder().with_encoder_share(ENCODER_SHARE);
        let index = knowledge.encoded("org").await.expect("encodes");
        let question = "How long does a refund take?";
        let search = async || {
            knowledge
                .search(&index, question, 5)
                .await
                .expect("searches")
        };
        assert!(!search().await.provisional);
        // This window's share spent: by words alone until the next window.
        let time = knowledge.encoder_time.as_ref().expect("bounded");
        time.add(ENCODER_SHARE);
        let retrieval = search().await;
        assert!(retrieval.provisional && retrieval.dense_margin.is_none());
        assert!(!retrieval.hits.is_empty());
        tokio::time::sleep(ENCODER_WINDOW).await;
        assert!(!search().await.provisional);
    }
}
