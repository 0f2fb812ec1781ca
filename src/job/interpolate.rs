//! `${VAR}` substitution in job-file strings. `$$` is a literal `$`; a `$`
//! followed by anything else is kept as is. Substitution is one pass: a
//! value that itself contains `${...}` is not expanded again. This file
//! knows nothing of where the string sits in the file; callers add the key
//! and line. Errors carry variable names, never values.

/// What went wrong in one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// `${NAME}` where NAME is not set in the environment.
    Unset(String),
    /// `${` without a closing `}`, or a name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    Malformed(String),
}

impl Unresolved {
    /// The message, completed with where the string is used (`auth.client_secret`).
    pub(crate) fn message(&self, used_in: &str) -> String {
        match self {
            Unresolved::Unset(name) => {
                format!("environment variable {name} is not set (used in {used_in})")
            }
            Unresolved::Malformed(what) => format!(
                "bad variable reference {what} in {used_in}: write ${{NAME}} with NAME made of letters, digits and _, or $$ for a literal $"
            ),
        }
    }
}

/// `s` with every `${VAR}` replaced from `env` and every `$$` by `$`.
/// Every unresolved reference of the string is returned, not only the first.
pub(crate) fn interpolate(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<Unresolved>> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            match tail.find('}') {
                Some(end) => {
                    let name = &tail[..end];
                    if valid_name(name) {
                        match env(name) {
                            Some(value) => out.push_str(&value),
                            None => errors.push(Unresolved::Unset(name.to_string())),
                        }
                    } else {
                        errors.push(Unresolved::Malformed(format!("${{{name}}}")));
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    errors.push(Unresolved::Malformed("\"${\" without \"}\"".to_string()));
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "ID" => Some("abc".into()),
            "SECRET" => Some("s3cr$t".into()),
            "EMPTY" => Some(String::new()),
            "NESTED" => Some("${ID}".into()),
            _ => None,
        }
    }

    #[test]
    fn table() {
        use Unresolved::*;
        let cases: &[(&str, Result<&str, Vec<Unresolved>>)] = &[
            ("plain", Ok("plain")),
            ("${ID}", Ok("abc")),
            ("x-${ID}-${SECRET}", Ok("x-abc-s3cr$t")),
            ("$${ID}", Ok("${ID}")),
            ("price $$5", Ok("price $5")),
            ("$5 and $", Ok("$5 and $")),
            ("${EMPTY}", Ok("")),
            ("${NESTED}", Ok("${ID}")),
            ("${NOPE}", Err(vec![Unset("NOPE".into())])),
            ("${A1}${ID}${B_2}", Err(vec![Unset("A1".into()), Unset("B_2".into())])),
            ("${1X}", Err(vec![Malformed("${1X}".into())])),
            ("${}", Err(vec![Malformed("${}".into())])),
            ("${ID", Err(vec![Malformed("\"${\" without \"}\"".into())])),
        ];
        for (input, want) in cases {
            let got = interpolate(input, &env);
            let want = want.clone().map(str::to_string);
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn message_names_variable_and_key() {
        assert_eq!(
            Unresolved::Unset("VAINU_CLIENT_SECRET".into()).message("auth.client_secret"),
            "environment variable VAINU_CLIENT_SECRET is not set (used in auth.client_secret)"
        );
    }
}
