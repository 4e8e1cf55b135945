//! The `record:` section: where `record` nodes write.
//!
//! Keys (YAML `record.*`, env `PHONETREE_RECORD_*`): `dir` (default `recordings`, relative to
//! the working directory; created when the first recording starts).

use std::path::PathBuf;

use super::{nonempty, Builder};

/// Keys of this section: (dotted key, `PHONETREE_` suffix).
pub const KEYS: &[(&str, &str)] = &[("record.dir", "RECORD_DIR")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    pub dir: PathBuf,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            dir: PathBuf::from("recordings"),
        }
    }
}

pub(super) fn build(b: &mut Builder<'_>) -> RecordConfig {
    RecordConfig {
        dir: b.parse(
            "record.dir",
            |s| nonempty(s).map(PathBuf::from),
            RecordConfig::default().dir,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::config::{load, Sources};

    #[test]
    fn default_yaml_and_env() {
        assert_eq!(
            load(&Sources::default()).unwrap().record,
            RecordConfig::default()
        );
        let src = Sources {
            file: Some((
                "record:\n  dir: /var/spool/msgs\n".into(),
                PathBuf::from("p.yaml"),
            )),
            ..Sources::default()
        };
        assert_eq!(
            load(&src).unwrap().record.dir,
            PathBuf::from("/var/spool/msgs")
        );
        let env: BTreeMap<String, String> =
            [("PHONETREE_RECORD_DIR".into(), "/tmp/r".into())].into();
        let c = load(&Sources {
            env,
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(c.record.dir, PathBuf::from("/tmp/r"));
    }
}
