//! What routing reads in a customer's words, offline: a request for a person (English, Spanish,
//! French, German, Portuguese, Italian, Dutch), a rejection of the AI's answer, and the mood
//! when no sentiment score is available.
//!
//! Text is normalized first (lower case, accents folded, typographic apostrophes made plain,
//! whitespace collapsed), so each phrase is written once without accents.

use std::sync::LazyLock;

use regex::Regex;

/// Lower case, accents folded to their base letter, `’` as `'`, runs of whitespace as one space.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            '’' | '‘' | '`' | '´' => "'",
            c if c.is_whitespace() => {
                space = true;
                continue;
            }
            _ => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                continue;
            }
        };
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push_str(folded);
    }
    out
}

/// Builds one case-insensitive alternation from our own constant patterns.
fn alternation(patterns: &[&str]) -> Regex {
    let joined = patterns
        .iter()
        .map(|pattern| format!("(?:{pattern})"))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&joined).expect("routing's own phrase patterns compile")
}

/// Up to three words between a preposition and the noun: "to one of your agents", "with a
/// real live person".
const FILLER: &str = r"(?:[\w']+\s+){0,3}?";

static HUMAN_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    let en_nouns = r"(?:human|humans|person|people|agent|agents|someone|somebody|representative|representatives|rep|operator|staff|employee|manager|supervisor|human being)";
    let patterns = [
        // English
        format!(
            r"\b(?:talk|speak|chat|connect|transfer|put)(?:\s+me)?\s+(?:to|with|through to)\s+{FILLER}{en_nouns}\b"
        ),
        r"\b(?:real|live|actual)\s+(?:human|person|agent|people|humans)\b".to_owned(),
        r"\b(?:human|agent|person|operator|representative)\s*,?\s*(?:please|pls|plz|now)\b"
            .to_owned(),
        r"\b(?:i\s+(?:want|need|would like|'d like)|can i (?:get|have)|give me|get me)\s+(?:a|an|some|to)?\s*(?:human|person|agent|representative|operator)\b".to_owned(),
        r"^\W*(?:human|agent|operator|representative)\W*$".to_owned(),
        // Spanish
        format!(
            r"\b(?:hablar|comunicarme|chatear|hable|contactar)\s+con\s+{FILLER}(?:persona|humano|agente|operador|operadora|asesor|asesora|representante|alguien)\b"
        ),
        r"\b(?:persona|agente|humano)\s+(?:real|de verdad)\b".to_owned(),
        r"\b(?:agente|humano|operador|asesor)\s*,?\s*por\s+favor\b".to_owned(),
        r"\bquiero\s+(?:un|una)\s+(?:humano|persona|agente|operador|asesor)\b".to_owned(),
        // French
        format!(
            r"\b(?:parler|discuter|echanger)\s+(?:a|avec)\s+{FILLER}(?:humain|personne|conseiller|conseillere|agent|operateur|operatrice|quelqu'un)\b"
        ),
        r"\b(?:un vrai|une vraie|un veritable|une veritable)\s+(?:humain|personne|conseiller|agent)\b".to_owned(),
        r"\b(?:agent|conseiller|humain)\s*,?\s*s'il\s+(?:vous|te)\s+plait\b".to_owned(),
        r"\bje\s+(?:veux|voudrais|souhaite)\s+(?:un|une)\s+(?:humain|personne|conseiller|agent)\b".to_owned(),
        // German
        format!(
            r"\bmit\s+{FILLER}(?:menschen|mensch|mitarbeiter|mitarbeiterin|berater|beraterin|person|agenten|kundenberater|jemandem)\s+(?:\w+\s+){{0,2}}?(?:sprechen|reden|chatten|verbinden|verbunden)\b"
        ),
        r"\b(?:echte[nrm]?|reale[nrm]?)\s+(?:mensch|menschen|person|mitarbeiter)\b".to_owned(),
        r"\bich\s+(?:will|mochte|moechte|brauche)\s+(?:einen|eine)\s+(?:menschen|mitarbeiter|person|berater)\b".to_owned(),
        r"\b(?:mitarbeiter|mensch|menschen|berater)\s*,?\s*bitte\b".to_owned(),
        // Portuguese
        format!(
            r"\b(?:falar|conversar)\s+com\s+{FILLER}(?:humano|pessoa|atendente|agente|operador|alguem)\b"
        ),
        r"\b(?:pessoa|atendente|humano)\s+(?:real|de verdade)\b".to_owned(),
        r"\batendimento\s+humano\b".to_owned(),
        r"\b(?:atendente|humano|agente)\s*,?\s*por\s+favor\b".to_owned(),
        r"\bquero\s+(?:um|uma)\s+(?:humano|pessoa|atendente|agente)\b".to_owned(),
        // Italian
        format!(
            r"\b(?:parlare|chattare)\s+con\s+(?:un'|l')?{FILLER}(?:operatore|operatrice|persona|umano|agente|consulente|qualcuno)\b"
        ),
        r"\b(?:persona|operatore)\s+(?:reale|vera|vero|in carne e ossa)\b".to_owned(),
        r"\b(?:operatore|umano|agente)\s*,?\s*per\s+favore\b".to_owned(),
        r"\bvoglio\s+(?:un|una)\s+(?:operatore|persona|umano)\b".to_owned(),
        // Dutch
        format!(
            r"\bmet\s+{FILLER}(?:mens|persoon|medewerker|medewerkster|iemand|agent)\s+(?:\w+\s+){{0,2}}?(?:praten|spreken|chatten)\b"
        ),
        r"\b(?:echte|echt)\s+(?:mens|persoon|medewerker)\b".to_owned(),
        r"\b(?:medewerker|mens)\s*,?\s*(?:alstublieft|alsjeblieft|aub|graag)\b".to_owned(),
        r"\bik\s+wil\s+(?:een|met een)\s+(?:mens|medewerker|persoon)\b".to_owned(),
    ];
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    alternation(&patterns)
});

static REJECTION: LazyLock<Regex> = LazyLock::new(|| {
    alternation(&[
        // English
        r"\b(?:that|this|it|you)\s*(?:'s|\s+is|\s+was)?\s*(?:didn't|did not|didnt|doesn't|does not|doesnt|don't|dont|isn't|is not|wasn't|was not)\s+(?:help|helping|helpful|answer|work|make sense)",
        r"\bnot\s+(?:helpful|what i (?:asked|meant|wanted|need|needed|was asking))\b",
        r"\b(?:useless|unhelpful|wrong answer|not my question)\b",
        r"\byou(?:'re| are)\s+not\s+(?:helping|listening|understanding)\b",
        r"\bthat'?s\s+not\s+(?:it|right|what i asked)\b",
        // Spanish
        r"\bno\s+(?:me\s+)?(?:ayuda|ayudo|sirve|sirvio)\b",
        r"\bno\s+es\s+lo\s+que\s+(?:pregunte|pedi)\b",
        // French
        r"\b(?:ca|cela)\s+(?:ne\s+)?(?:m'\s*)?(?:aide|a aide)\s+pas\b",
        r"\bce\s+n'est\s+pas\s+ce\s+que\s+j'ai\s+demande\b",
        r"\bpas\s+utile\b",
        // German
        r"\bhilft\s+(?:mir\s+)?nicht\b",
        r"\bhat\s+(?:mir\s+)?nicht\s+geholfen\b",
        r"\bnicht\s+(?:das|was)\s+ich\s+gefragt\b",
        r"\bnutzlos\b",
        // Portuguese
        r"\bnao\s+(?:me\s+)?(?:ajudou|ajuda)\b",
        r"\bnao\s+(?:e|foi)\s+(?:isso\s+)?(?:o\s+)?que\s+(?:eu\s+)?perguntei\b",
        // Italian
        r"\bnon\s+(?:mi\s+)?(?:ha\s+)?(?:aiuta|aiutato)\b",
        r"\bnon\s+e\s+(?:quello\s+)?che\s+ho\s+chiesto\b",
        // Dutch
        r"\b(?:dat|het)\s+helpt\s+(?:me\s+)?niet\b",
        r"\bniet\s+wat\s+ik\s+vroeg\b",
        r"\bnutteloos\b",
        // Several languages
        r"\binutil[e]?\b",
    ])
});

static ANGRY_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    alternation(&[
        r"\b(?:furious|outraged|angry|annoyed|frustrated|fed up|unacceptable|ridiculous|disgusting|terrible|awful|horrible|worst|scam|fraud|lawyer|chargeback|never again|disappointed|charged twice|double charged|still not working|cancel)\b",
        r"\b(?:enfadado|furioso|inaceptable|estafa|harto|fatal)\b",
        r"\b(?:furieux|furieuse|inadmissible|inacceptable|arnaque|nul)\b",
        r"\b(?:wutend|sauer|unverschamt|inakzeptabel|betrug|frechheit)\b",
        r"\b(?:furioso|irritado|inaceitavel|absurdo|golpe)\b",
        r"\b(?:arrabbiato|inaccettabile|vergogna|truffa)\b",
        r"\b(?:boos|woedend|onacceptabel|oplichting|belachelijk)\b",
    ])
});

static GREETING_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    alternation(&[
        r"^\W*(?:hi|hello|hey|hola|bonjour|salut|hallo|ola|ciao|buongiorno|goedendag|good (?:morning|afternoon|evening))(?:\s+there)?\W*$",
    ])
});

/// The phrase asking for a person, when the (normalized) text has one.
pub fn human_request(normalized: &str) -> Option<&str> {
    HUMAN_REQUEST.find(normalized).map(|found| found.as_str())
}

/// Whether the (normalized) text rejects the AI's answer: "that didn't help".
pub fn rejects_answer(normalized: &str) -> bool {
    REJECTION.is_match(normalized)
}

/// Whether the (normalized) text is only a greeting, with nothing to act on.
pub fn is_greeting(normalized: &str) -> bool {
    GREETING_ONLY.is_match(normalized)
}

/// The mood a message's wording shows: angry words, shouting in capitals, repeated `!`/`?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wording {
    pub angry_words: Vec<String>,
    pub shouting: bool,
    pub repeated_punctuation: bool,
}

impl Wording {
    pub fn of(text: &str) -> Wording {
        let normalized = normalize(text);
        let mut angry_words: Vec<String> = ANGRY_WORDS
            .find_iter(&normalized)
            .map(|found| found.as_str().to_owned())
            .collect();
        angry_words.dedup();
        let shouted = text
            .split_whitespace()
            .filter(|word| {
                let letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
                letters.len() >= 3 && letters.iter().all(|c| c.is_uppercase())
            })
            .count();
        let repeated_punctuation =
            text.contains("!!") || text.contains("??") || text.contains("?!");
        // One word in capitals may be an acronym (DHL, FAQ); with other signs it is shouting.
        let shouting =
            shouted >= 2 || (shouted == 1 && (repeated_punctuation || !angry_words.is_empty()));
        Wording {
            angry_words,
            shouting,
            repeated_punctuation,
        }
    }

    /// How many signs of anger: 0 calm, 1 frustrated, 2 or more angry.
    pub fn heat(&self) -> usize {
        self.angry_words.len() + usize::from(self.shouting) + usize::from(self.repeated_punctuation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_folds_case_accents_apostrophes_and_spaces() {
        assert_eq!(
            normalize("  Parler  À un HUMAIN, s’il vous plaît "),
            "parler a un humain, s'il vous plait"
        );
        assert_eq!(normalize("Straße\tMÜDE"), "strasse mude");
    }

    #[test]
    fn requests_for_a_person_in_seven_languages() {
        let asks = [
            "Can I talk to a human please?",
            "I want to speak with a real person",
            "agent please",
            "AGENT",
            "Please connect me to one of your agents",
            "is there a live person I can chat with",
            "I need a human",
            "Quiero hablar con una persona",
            "¿Puedo hablar con un agente?",
            "Agente por favor",
            "Je voudrais parler à un humain",
            "Puis-je parler à quelqu’un ?",
            "un vrai conseiller svp",
            "Ich möchte mit einem Menschen sprechen",
            "Kann ich mit einem Mitarbeiter reden?",
            "Mitarbeiter bitte",
            "Quero falar com um atendente",
            "Preciso de atendimento humano",
            "Vorrei parlare con un operatore",
            "posso parlare con una persona reale?",
            "Ik wil met een medewerker praten",
            "Kan ik met een mens spreken?",
        ];
        for text in asks {
            assert!(
                human_request(&normalize(text)).is_some(),
                "should ask for a person: {text}"
            );
        }
        let not_asks = [
            "My parcel never arrived",
            "How do I reset my password?",
            "I talked to a person at the store yesterday",
            "The agent field in the form is empty",
            "Where is my order? Please help",
            "¿Dónde está mi pedido?",
            "Mein Paket ist nicht angekommen",
            "Thanks, that solved it",
        ];
        for text in not_asks {
            assert_eq!(
                human_request(&normalize(text)),
                None,
                "should not ask for a person: {text}"
            );
        }
    }

    #[test]
    fn rejections_of_an_answer() {
        for text in [
            "That didn't help",
            "this doesn't answer my question",
            "not what I asked",
            "No me ayudó",
            "Ça ne m'aide pas",
            "Das hilft mir nicht",
            "Não ajudou",
            "Non mi ha aiutato",
            "Dat helpt niet",
        ] {
            assert!(rejects_answer(&normalize(text)), "a rejection: {text}");
        }
        for text in ["Thanks, that helped!", "It works now", "help me please"] {
            assert!(!rejects_answer(&normalize(text)), "not a rejection: {text}");
        }
    }

    #[test]
    fn wording_shows_anger() {
        let angry = Wording::of("I was charged twice and I'm furious, fix it NOW!!");
        assert!(angry.heat() >= 3, "{angry:?}");
        assert!(angry.shouting && angry.repeated_punctuation);
        assert_eq!(Wording::of("How do I change my address?").heat(), 0);
        assert!(is_greeting("hello there!"));
        assert!(!is_greeting("hello, my parcel is late"));
    }
}
