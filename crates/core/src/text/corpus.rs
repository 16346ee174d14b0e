//! Reading a word-level corpus in the Penn Treebank form.
//!
//! Token ids follow the reference's `Dictionary` (quark0/darts `rnn/data.py`): words in order of first
//! appearance in the training file, `<eos>` included at the end of the first line. The reference also
//! adds unseen validation and test words to the vocabulary; in a corpus that really is in PTB form
//! there are none, so here such a word is an error that names it, rather than an id the model never
//! trained.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The end-of-sentence token appended to every line.
pub const EOS: &str = "<eos>";

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error(
        "no {split} file in {}: looked for {}; a Penn Treebank directory holds ptb.train.txt, \
         ptb.valid.txt and ptb.test.txt (train.txt, valid.txt and test.txt, or any of them gzipped, work too)",
        dir.display(), tried.join(", ")
    )]
    Missing { dir: PathBuf, split: &'static str, tried: Vec<String> },
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not UTF-8 text at byte {at}; the corpus files must be plain UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf, at: usize },
    #[error("{}: the file holds no words; a {split} file needs at least one sentence", path.display())]
    Empty { path: PathBuf, split: &'static str },
    #[error(
        "{}:{line}: the word '{word}' is not in the training vocabulary; a corpus in Penn Treebank form \
         maps every word outside it to <unk> (replace it, or add text with it to the training file)",
        path.display()
    )]
    OutOfVocabulary { path: PathBuf, line: usize, word: String },
    #[error("{}: the vocabulary has {words} words, more than the {max} that 32-bit token ids hold", path.display())]
    TooManyWords { path: PathBuf, words: usize, max: u64 },
}

/// Words and their ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocab {
    words: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    fn insert(&mut self, word: &str) -> u32 {
        if let Some(id) = self.id(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_string());
        self.ids.insert(word.to_string(), id);
        id
    }
}

/// The three splits as token ids, and the vocabulary built from the training split.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
    /// Where the text came from, for logs.
    pub origin: String,
}

const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// The embedded default corpus: books of the King James Bible in PTB form (see its README).
const EMBEDDED: [&[u8]; 3] = [
    include_bytes!("../../assets/kjv-ptb/ptb.train.txt.gz"),
    include_bytes!("../../assets/kjv-ptb/ptb.valid.txt.gz"),
    include_bytes!("../../assets/kjv-ptb/ptb.test.txt.gz"),
];

impl Corpus {
    /// Reads `ptb.{train,valid,test}.txt` (or `{train,valid,test}.txt`, either possibly `.gz`) from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Corpus, TextError> {
        let texts = SPLITS
            .iter()
            .map(|&split| {
                let path = find_split(dir, split)?;
                let text = read_text(&path, std::fs::read(&path).map_err(|source| io(&path, source))?)?;
                Ok((path, text))
            })
            .collect::<Result<Vec<_>, TextError>>()?;
        Corpus::from_texts(&texts, format!("Penn Treebank form in {}", dir.display()))
    }

    /// The corpus in `dir` (see [`Corpus::from_dir`]), or the embedded one when there is no directory.
    pub fn load(dir: Option<&Path>) -> Result<Corpus, TextError> {
        match dir {
            Some(dir) => Corpus::from_dir(dir),
            None => Corpus::embedded(),
        }
    }

    /// The embedded corpus the language-model presets default to.
    pub fn embedded() -> Result<Corpus, TextError> {
        let texts = SPLITS
            .iter()
            .zip(EMBEDDED)
            .map(|(split, gz)| {
                let path = PathBuf::from(format!("<embedded>/ptb.{split}.txt.gz"));
                let text = read_text(&path, gz.to_vec())?;
                Ok((path, text))
            })
            .collect::<Result<Vec<_>, TextError>>()?;
        Corpus::from_texts(&texts, "embedded King James Bible corpus in Penn Treebank form".into())
    }

    fn from_texts(texts: &[(PathBuf, String)], origin: String) -> Result<Corpus, TextError> {
        let mut vocab = Vocab::default();
        let (train_path, train_text) = &texts[0];
        let train = tokenize(train_path, train_text, "train", |_, word| Ok(vocab.insert(word)))?;
        if vocab.len() as u64 > u32::MAX as u64 {
            return Err(TextError::TooManyWords { path: train_path.clone(), words: vocab.len(), max: u32::MAX as u64 });
        }
        let known = |split| {
            let (path, text) = &texts[if split == "valid" { 1 } else { 2 }];
            tokenize(path, text, split, |line, word| {
                vocab.id(word).ok_or_else(|| TextError::OutOfVocabulary {
                    path: path.clone(),
                    line,
                    word: word.to_string(),
                })
            })
        };
        let (valid, test) = (known("valid")?, known("test")?);
        Ok(Corpus { vocab, train, valid, test, origin })
    }
}

/// Token ids of a text: each line's words, then `<eos>`. Blank lines count as sentences, as in the
/// reference, which appends `<eos>` to every line it reads.
fn tokenize(
    path: &Path,
    text: &str,
    split: &'static str,
    mut id: impl FnMut(usize, &str) -> Result<u32, TextError>,
) -> Result<Vec<u32>, TextError> {
    let mut ids = Vec::new();
    let mut words = 0;
    for (i, line) in text.lines().enumerate() {
        for word in line.split_whitespace().chain([EOS]) {
            ids.push(id(i + 1, word)?);
        }
        words += line.split_whitespace().count();
    }
    if words == 0 {
        return Err(TextError::Empty { path: path.to_path_buf(), split });
    }
    Ok(ids)
}

fn find_split(dir: &Path, split: &'static str) -> Result<PathBuf, TextError> {
    let names = [format!("ptb.{split}.txt"), format!("{split}.txt")];
    let tried: Vec<String> = names.iter().flat_map(|n| [n.clone(), format!("{n}.gz")]).collect();
    tried.iter().map(|name| dir.join(name)).find(|p| p.is_file()).ok_or_else(|| TextError::Missing {
        dir: dir.to_path_buf(),
        split,
        tried,
    })
}

/// The bytes as text, gunzipped first when they start with the gzip magic.
fn read_text(path: &Path, bytes: Vec<u8>) -> Result<String, TextError> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).map_err(|source| io(path, source))?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes)
        .map_err(|e| TextError::NotUtf8 { path: path.to_path_buf(), at: e.utf8_error().valid_up_to() })
}

fn io(path: &Path, source: std::io::Error) -> TextError {
    TextError::Io { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn tiny(dir: &Path) {
        write(dir, "ptb.train.txt", " the cat sat \n the dog <unk> \n");
        write(dir, "ptb.valid.txt", " the dog sat \n");
        write(dir, "ptb.test.txt", " <unk> cat \n");
    }

    #[test]
    fn ids_follow_first_appearance_with_eos_per_line() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        let c = Corpus::from_dir(dir.path()).unwrap();
        // the=0 cat=1 sat=2 <eos>=3 dog=4 <unk>=5, as the reference's Dictionary numbers them.
        assert_eq!(c.train, vec![0, 1, 2, 3, 0, 4, 5, 3]);
        assert_eq!(c.valid, vec![0, 4, 2, 3]);
        assert_eq!(c.test, vec![5, 1, 3]);
        assert_eq!(c.vocab.len(), 6);
        assert_eq!((c.vocab.word(3), c.vocab.id("dog")), (Some(EOS), Some(4)));
    }

    #[test]
    fn short_names_and_gzip_are_found() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        let plain = Corpus::from_dir(dir.path()).unwrap();
        let other = tempfile::tempdir().unwrap();
        write(other.path(), "train.txt", " the cat sat \n the dog <unk> \n");
        write(other.path(), "valid.txt", " the dog sat \n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b" <unk> cat \n").unwrap();
        std::fs::write(other.path().join("test.txt.gz"), gz.finish().unwrap()).unwrap();
        let short = Corpus::from_dir(other.path()).unwrap();
        assert_eq!((short.train, short.valid, short.test), (plain.train, plain.valid, plain.test));
    }

    #[test]
    fn bad_corpora_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        std::fs::remove_file(dir.path().join("ptb.test.txt")).unwrap();
        let e = Corpus::from_dir(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with("no test file in") && e.contains("ptb.test.txt, ptb.test.txt.gz, test.txt"), "{e}");

        write(dir.path(), "ptb.test.txt", "\n  \n");
        let e = Corpus::from_dir(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("ptb.test.txt: the file holds no words; a test file needs at least one sentence"), "{e}");

        write(dir.path(), "ptb.test.txt", "the cat\nthe bird sat\n");
        let e = Corpus::from_dir(dir.path()).unwrap_err();
        assert!(matches!(&e, TextError::OutOfVocabulary { line: 2, word, .. } if word == "bird"), "{e}");
        assert!(e.to_string().contains("ptb.test.txt:2: the word 'bird' is not in the training vocabulary"), "{e}");

        std::fs::write(dir.path().join("ptb.test.txt"), b"the \xff cat\n").unwrap();
        let e = Corpus::from_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not UTF-8 text at byte 4"), "{e}");

        std::fs::write(dir.path().join("ptb.test.txt"), []).unwrap();
        std::fs::write(dir.path().join("ptb.test.txt.gz"), [0x1f, 0x8b, 8, 0, 0]).unwrap();
        std::fs::remove_file(dir.path().join("ptb.test.txt")).unwrap();
        let e = Corpus::from_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("ptb.test.txt.gz: cannot read"), "{e}");
    }

    #[test]
    fn the_embedded_corpus_is_in_ptb_form() {
        let c = Corpus::embedded().unwrap();
        // Figures printed by scripts/make-text-corpus.py when it wrote the files.
        assert_eq!((c.train.len(), c.valid.len(), c.test.len()), (215_820, 16_272, 22_471));
        assert_eq!(c.vocab.len(), 3_222);
        assert!(c.vocab.id("<unk>").is_some() && c.vocab.id(EOS).is_some());
    }
}
