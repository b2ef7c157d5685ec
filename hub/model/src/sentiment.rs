//! A conversation's sentiment trend: the arithmetic that folds customer messages' 0–100 scores
//! (scored by `switchboard-ai`'s sentiment scorer, or an LLM) into the level a conversation
//! stores, and flags a customer getting angry quickly. Pure, so that the store moves the level
//! on ingest and routing reads the trend without the AI crate.

use serde::{Deserialize, Serialize};

/// Scores below this are `negative`.
pub const NEGATIVE_BELOW: u8 = 45;
/// Scores above this are `positive`.
pub const POSITIVE_ABOVE: u8 = 58;

/// How a conversation's mood moves, from its customer messages' scores (oldest first).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// The exponentially weighted score: recent messages count most.
    pub level: u8,
    /// The latest score minus the level before it (negative: getting worse).
    pub change: i32,
    /// The customer is getting angry quickly: worth a human before the level alone says so.
    pub falling_fast: bool,
}

/// How much the newest message weighs in [`Trend::level`].
pub const TREND_WEIGHT: f64 = 0.6;

/// The next trend level from the previous one and a new score; what the conversation stores.
pub fn next_level(previous: Option<u8>, score: u8) -> u8 {
    match previous {
        None => score,
        Some(previous) => (TREND_WEIGHT * f64::from(score)
            + (1.0 - TREND_WEIGHT) * f64::from(previous))
        .round()
        .clamp(0.0, 100.0) as u8,
    }
}

/// The trend of a conversation, or `None` before its first customer message.
pub fn trend(scores: &[u8]) -> Option<Trend> {
    let (&latest, earlier) = scores.split_last()?;
    let before = earlier
        .iter()
        .fold(None, |level, &score| Some(next_level(level, score)));
    let level = next_level(before, latest);
    let change = before.map_or(0, |before| i32::from(latest) - i32::from(before));
    // A drop of 25 points against the running level, landing in negative territory, or two
    // negative messages in a row each worse than the last.
    let dropped = change <= -25 && latest < NEGATIVE_BELOW;
    let sliding = scores.len() >= 3 && {
        let n = scores.len();
        scores[n - 1] < scores[n - 2]
            && scores[n - 2] < scores[n - 3]
            && scores[n - 1] < NEGATIVE_BELOW
            && scores[n - 3] - scores[n - 1] >= 20
    };
    Some(Trend {
        level,
        change,
        falling_fast: dropped || sliding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_weights_recent_messages_and_flags_a_fast_fall() {
        assert_eq!(trend(&[]), None);
        let calm = trend(&[60, 55, 58]).expect("a trend");
        assert!(!calm.falling_fast);
        let falling = trend(&[60, 50, 20]).expect("a trend");
        assert!(falling.falling_fast, "{falling:?}");
        assert!(falling.level < 40);
        assert!(falling.change < -25);
        let sliding = trend(&[55, 42, 30]).expect("a trend");
        assert!(sliding.falling_fast, "{sliding:?}");
        assert_eq!(next_level(None, 30), 30);
        assert_eq!(next_level(Some(80), 30), 50);
    }
}
