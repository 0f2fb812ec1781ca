//! Where a snapshot goes when `[output] path` is a URL: the scheme check
//! the job validator runs (only `s3://` besides a local path) and the
//! parsed `s3://bucket/prefix` of a filled-in target. It opens no
//! connection and reads no credential.

use std::fmt;
use std::path::Path;

/// The schemes `[output] path` accepts besides a local path.
pub const SUPPORTED_SCHEMES: &str = "a local path or s3://bucket/prefix";

/// A parsed `s3://bucket/prefix` target (no trailing slash on the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub bucket: String,
    pub prefix: String,
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The scheme of `path` (`"s3"` for `s3://...`), or `None` for a local
/// path. A scheme is letters, digits, `+`, `-`, `.` from a letter, then `://`.
pub fn scheme(path: &str) -> Option<&str> {
    let (scheme, _) = path.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// Checks an `[output] path` template (placeholders not filled yet): a
/// local path, or `s3://bucket/prefix` with a valid bucket name and a
/// non-empty prefix. The error says what is wrong and what is supported.
pub fn check_template(path: &str) -> Result<(), String> {
    match scheme(path) {
        None => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("s3") => ObjectUrl::parse(path).map(|_| ()),
        Some(s) => Err(format!(
            "uses the unsupported scheme {s}://: use {SUPPORTED_SCHEMES} (Google Cloud Storage, MinIO \
             and R2 are reached through s3:// with AWS_ENDPOINT_URL set to their S3-compatible endpoint)"
        )),
    }
}

impl ObjectUrl {
    /// Parses `s3://bucket/prefix[/...]`. The bucket follows S3's naming
    /// rules (3-63 of `a-z0-9.-`, starting and ending with a letter or
    /// digit; a `{placeholder}` is taken as valid); the prefix must name a
    /// folder (not the bucket's root) without empty, `.` or `..` segments.
    pub fn parse(url: &str) -> Result<ObjectUrl, String> {
        let rest = match scheme(url) {
            Some(s) if s.eq_ignore_ascii_case("s3") => &url[s.len() + 3..],
            _ => return Err(format!("{url:?} is not an s3:// URL")),
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err(format!(
                "s3://{bucket} names no folder in the bucket: add one, e.g. s3://{bucket}/exports/{{job}}/{{date}}"
            ));
        }
        if let Some(bad) = prefix.split('/').find(|s| s.is_empty() || *s == "." || *s == "..") {
            return Err(format!(
                "s3://{bucket}/{prefix} has an empty, \".\" or \"..\" segment ({bad:?}): remove it"
            ));
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object target named by a resolved target path, if it is one.
    pub fn from_target(target: &Path) -> Option<Result<ObjectUrl, String>> {
        let text = target.to_str()?;
        scheme(text)?;
        Some(ObjectUrl::parse(text))
    }

    /// The key of `name` inside the snapshot's folder.
    pub fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }
}

fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.contains('{') {
        return Ok(());
    }
    let chars_ok = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && chars_ok && ends_ok {
        Ok(())
    } else {
        Err(format!(
            "bucket name {bucket:?} is not a valid S3 bucket name (3-63 characters of a-z, 0-9, '.' and '-', \
             starting and ending with a letter or digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn check_template_table() {
        let ok = [
            "exports/{job}/{date}",
            "/abs/{job}",
            "s3://my-bucket/exports/{job}/{date}",
            "s3://my.bucket/x/",
            "S3://bucket/x",
            "s3://{job}-bucket/x",
            "weird:name/x",
        ];
        for path in ok {
            assert!(check_template(path).is_ok(), "{path}: {:?}", check_template(path));
        }
        let bad = [
            ("gs://bucket/x", "gs://"),
            ("file:///tmp/x", "file://"),
            ("http://host/x", "http://"),
            ("az://c/x", "az://"),
            ("s3://bucket", "names no folder"),
            ("s3://bucket/", "names no folder"),
            ("s3://Bucket/x", "not a valid S3 bucket name"),
            ("s3://ab/x", "not a valid S3 bucket name"),
            ("s3:///x", "not a valid S3 bucket name"),
            ("s3://bucket/a//b", "empty"),
            ("s3://bucket/a/../b", "\"..\""),
        ];
        for (path, want) in bad {
            let err = check_template(path).unwrap_err();
            assert!(err.contains(want), "{path}: {err}");
            if !path.starts_with("s3") && !path.starts_with("S3") {
                assert!(err.contains("s3://bucket/prefix"), "names the supported schemes: {err}");
            }
        }
    }

    #[test]
    fn parse_and_key() {
        let url = ObjectUrl::parse("s3://b-1/exports/fi/2026-11-30/").unwrap();
        assert_eq!(url.bucket, "b-1");
        assert_eq!(url.prefix, "exports/fi/2026-11-30");
        assert_eq!(url.key("_SUCCESS"), "exports/fi/2026-11-30/_SUCCESS");
        assert_eq!(url.to_string(), "s3://b-1/exports/fi/2026-11-30");
        assert!(ObjectUrl::from_target(Path::new("out/fi")).is_none());
        assert_eq!(
            ObjectUrl::from_target(Path::new("s3://b-1/x")).unwrap().unwrap().prefix,
            "x"
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = check_template(&s);
            let _ = ObjectUrl::parse(&s);
            let _ = scheme(&s);
        }

        #[test]
        fn s3_urls_round_trip(bucket in "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", prefix in "[a-z0-9_=-]{1,10}(/[a-z0-9_=-]{1,10}){0,3}") {
            let url = ObjectUrl::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
            prop_assert_eq!(url.to_string(), format!("s3://{bucket}/{prefix}"));
        }
    }
}
