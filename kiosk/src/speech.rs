//! Spoken prompts (适老化): with the staff setting on, each screen's title
//! and the button a resident touches are read aloud, offline, by Debian's
//! `espeak-ng` (voice `cmn` for Chinese, `en` for English).
//!
//! Why a separate process per utterance: speech must never hold up the UI,
//! and espeak-ng speaks by itself once started. A new utterance stops the
//! one still speaking (a resident who taps on wants the new prompt, not the
//! end of the old one), and the idle reset stops speech so nothing of the
//! last person is said after they left. Off by default.

use std::process::{Child, Command, Stdio};

use crate::i18n::Lang;

/// The speech program (installed by the system-deps script).
pub const PROGRAM: &str = "espeak-ng";

/// Words per minute: slower than espeak-ng's 175, for elderly listeners.
const WORDS_PER_MINUTE: &str = "140";

/// How many utterances are remembered (for the staff screen and tests).
const REMEMBERED: usize = 64;

fn voice(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "cmn",
        Lang::En => "en",
    }
}

/// The kiosk's voice.
#[derive(Debug, Default)]
pub struct Speech {
    enabled: bool,
    speaking: Option<Child>,
    said: Vec<String>,
    /// Why the last utterance could not start, if it could not.
    pub last_error: Option<String>,
}

impl Speech {
    /// Turn speech on or off (off stops what is being said).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.stop();
        }
    }

    /// Whether speech is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Say `text` in `lang`, stopping what is being said. Does nothing
    /// while speech is off. Never waits for the speech to finish.
    pub fn say(&mut self, text: &str, lang: Lang) {
        if !self.enabled || text.trim().is_empty() {
            return;
        }
        self.stop();
        if self.said.len() >= REMEMBERED {
            self.said.remove(0);
        }
        self.said.push(text.to_string());
        match Command::new(PROGRAM)
            .args(["-v", voice(lang), "-s", WORDS_PER_MINUTE, "--", text])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => {
                self.speaking = Some(child);
                self.last_error = None;
            }
            Err(e) => self.last_error = Some(format!("{PROGRAM}: {e}")),
        }
    }

    /// Stop speaking now.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.speaking.take() {
            let _ = child.kill();
            // Reaped at once: a killed espeak-ng exits immediately.
            let _ = child.wait();
        }
    }

    /// True while an utterance is being spoken.
    pub fn is_speaking(&mut self) -> bool {
        self.speaking
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// What was handed to the speech program, oldest first.
    pub fn said(&self) -> &[String] {
        &self.said
    }
}

impl Drop for Speech {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Render `text` in `lang` to a WAV file instead of the speaker (for
/// checking the voice is installed and speaks).
pub fn render_wav(text: &str, lang: Lang, path: &std::path::Path) -> std::io::Result<()> {
    let status = Command::new(PROGRAM)
        .args(["-v", voice(lang), "-s", WORDS_PER_MINUTE, "-w"])
        .arg(path)
        .args(["--", text])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{PROGRAM} exited with {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root mean square of the 16-bit samples of a WAV file, and seconds.
    fn loudness(wav: &[u8]) -> (f64, f64) {
        // espeak-ng writes a 44-byte header, then mono 16-bit samples at
        // the rate in bytes 24..28.
        let rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]);
        let samples: Vec<i16> = wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        (
            (sum / samples.len().max(1) as f64).sqrt(),
            samples.len() as f64 / f64::from(rate.max(1)),
        )
    }

    #[test]
    fn a_prompt_rendered_in_mandarin_and_in_english_is_not_silent() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (text, lang) in [("请选择活动", Lang::Zh), ("Choose the activity", Lang::En)] {
            let path = dir.path().join("prompt.wav");
            render_wav(text, lang, &path)
                .expect("espeak-ng (scripts/install-system-deps.sh installs it)");
            let wav = std::fs::read(&path).expect("wav");
            assert_eq!(&wav[..4], b"RIFF");
            let (rms, secs) = loudness(&wav);
            assert!(secs > 0.5 && secs < 10.0, "{text}: {secs} s");
            assert!(rms > 300.0, "{text}: RMS {rms} is silence");
        }
    }

    #[test]
    fn off_says_nothing_and_a_new_prompt_stops_the_last() {
        let mut s = Speech::default();
        s.say("请选择活动", Lang::Zh);
        assert!(s.said().is_empty());
        s.set_enabled(true);
        s.say("请选择活动", Lang::Zh);
        s.say("请输入手机号码", Lang::Zh);
        assert_eq!(s.said(), ["请选择活动", "请输入手机号码"]);
        s.stop();
        assert!(!s.is_speaking());
    }
}
