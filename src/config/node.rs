//! `node.id` (env `PHONETREE_NODE_ID`): the name this process stamps on the records it writes
//! (calls, jobs it creates or holds, heartbeats). Default: the host name. Several nodes
//! sharing one PostgreSQL database need distinct ids (issue 12).

use super::Builder;

/// `(key, PHONETREE_ env suffix)`.
pub const KEYS: &[(&str, &str)] = &[("node.id", "NODE_ID")];

pub(super) fn build(b: &mut Builder<'_>) -> String {
    b.parse("node.id", parse_id, hostname())
}

fn parse_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}`: up to 64 letters, digits, `-`, `_` or `.`"))
    }
}

/// The host name, or `phonetree` if it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    parse_id(&name).unwrap_or_else(|_| "phonetree".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        assert_eq!(parse_id("node-1.eu").unwrap(), "node-1.eu");
        assert!(parse_id("a b").is_err());
        assert!(parse_id("").is_err());
        assert!(!hostname().is_empty());
    }
}
