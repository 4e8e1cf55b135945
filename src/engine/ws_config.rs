//! The one websocket configuration every connection of ours uses (the agent's Realtime socket,
//! the `stream` node, Twilio Media Streams, the Vosk-protocol recogniser).
//!
//! Two things matter on a live call: a bound on what a peer may make us buffer (the message
//! and frame size limit, per protocol), and a small read buffer. tungstenite's default read
//! buffer is 128 KiB and its frame codec grows (and zeroes) that much of buffer on each read:
//! at 50 small messages a second per call in each direction, zeroing 128 KiB per message was a
//! fifth of an agent call's CPU (`bench/agent.rs` under `perf`). Our messages are a few hundred
//! bytes (20 ms of base64 audio in JSON); a larger one is simply read in several pieces.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes read from the socket at a time (tungstenite's default: 128 KiB).
pub const READ_BUFFER: usize = 8 << 10;

/// The configuration for a websocket whose messages (and frames) are at most `max_message`
/// bytes: larger ones end the connection with an error instead of growing our memory.
pub fn ws_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_is_small_and_the_limits_are_set() {
        let c = ws_config(64 << 10);
        assert_eq!(c.read_buffer_size, READ_BUFFER);
        assert_eq!(c.max_message_size, Some(64 << 10));
        assert_eq!(c.max_frame_size, Some(64 << 10));
    }
}
