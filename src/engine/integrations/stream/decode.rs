//! Audio a bot sends or points at, turned into 16-bit PCM at the port's rate: `streamAudio` in
//! mp3/wav/ogg (decoded with symphonia, like prompts) and `play` URLs (fetched with the call's
//! HTTP client, bounded in size and time, then decoded). Decoding runs on the blocking pool.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use crate::audio::{self, resample};
use crate::wsmedia::ringover::AudioKind;

/// Longest audio one message or URL may carry.
pub const MAX_AUDIO: Duration = Duration::from_secs(300);

/// Largest body fetched for `play`.
pub const MAX_FETCH: usize = 16 << 20;

/// How long a `play` fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Decodes an encoded file (blocking) to PCM at `rate`.
pub fn decode(kind: Option<AudioKind>, data: Vec<u8>, rate: u32) -> Result<Vec<i16>, String> {
    let ext = kind.map(|k| match k {
        AudioKind::Mp3 => "mp3",
        AudioKind::Wav => "wav",
        AudioKind::Ogg => "ogg",
        AudioKind::Raw => "raw",
    });
    let mut pcm: Vec<f32> = Vec::new();
    let mut src_rate = 0;
    let mut too_long = false;
    audio::decode_reader(
        Cursor::new(data),
        ext,
        Path::new("bot audio"),
        &mut |block, r| {
            src_rate = r;
            pcm.extend_from_slice(block);
            if pcm.len() as f64 > MAX_AUDIO.as_secs_f64() * f64::from(r) {
                too_long = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    )
    .map_err(|e| e.to_string())?;
    if too_long {
        return Err(format!("audio longer than {MAX_AUDIO:?}"));
    }
    if src_rate == 0 {
        return Err("no decodable audio".into());
    }
    let out = resample(&pcm, src_rate, rate).map_err(|e| e.to_string())?;
    Ok(out
        .into_iter()
        .map(|x| (x * 32767.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Fetches `url` (http/https only) and decodes it to PCM at `rate`.
pub async fn fetch(http: &reqwest::Client, url: &str, rate: u32) -> Result<Vec<i16>, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("play: only http(s) URLs".into());
    }
    let get = async {
        let mut resp = http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("play: {}", e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!("play: http status {}", resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("play: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_FETCH {
                return Err(format!("play: body larger than {MAX_FETCH} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| format!("play: no complete answer within {FETCH_TIMEOUT:?}"))??;
    let kind = guess(url);
    tokio::task::spawn_blocking(move || decode(kind, body, rate))
        .await
        .map_err(|_| "play: decoding was aborted".to_string())?
}

/// The format hint of a URL's extension (symphonia probes the content anyway).
fn guess(url: &str) -> Option<AudioKind> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    match path.rsplit('.').next()?.to_ascii_lowercase().as_str() {
        "mp3" => Some(AudioKind::Mp3),
        "wav" => Some(AudioKind::Wav),
        "ogg" | "oga" => Some(AudioKind::Ogg),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data_len).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * 2).to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            w.extend_from_slice(&s.to_le_bytes());
        }
        w
    }

    #[test]
    fn a_wav_at_24k_becomes_8k_pcm() {
        let tone: Vec<i16> = (0..24000)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 24000.0).sin() * 8000.0) as i16)
            .collect();
        let pcm = decode(Some(AudioKind::Wav), wav(24000, &tone), 8000).unwrap();
        assert!((7990..=8010).contains(&pcm.len()), "{}", pcm.len());
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((7000..=9000).contains(&peak), "{peak}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(Some(AudioKind::Mp3), vec![1, 2, 3, 4], 8000).is_err());
        assert!(decode(None, Vec::new(), 8000).is_err());
        assert_eq!(guess("http://x/a.OGG?x=1"), Some(AudioKind::Ogg));
        assert_eq!(guess("http://x/a"), None);
    }
}
