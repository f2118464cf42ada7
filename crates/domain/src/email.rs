//! Email addresses: strict enough to be injection-safe and deliverable,
//! normalised so uniqueness is case-insensitive.

use crate::validation::FieldError;

/// Longest address accepted (bytes), as Kratos caps it.
pub const MAX_EMAIL_BYTES: usize = 320;
const MAX_LOCAL_BYTES: usize = 64;
const MAX_DOMAIN_BYTES: usize = 253;
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

/// The normal form of an address, or of text compared with addresses (a
/// login name as typed, a search prefix): trimmed and lowercased. Valid or
/// not, every comparison uses this one form.
pub fn normalise(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

/// A syntactically valid, normalised (trimmed, lowercased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Parses user input. Accepts the common dot-atom form
    /// (`local@example.com`); rejects quoted local parts, IP-literal domains,
    /// whitespace and control characters. Internationalised domains must be
    /// given in their ASCII (punycode) form.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let err = |code, message: &str| Err(FieldError::new("email", code, message));
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return err("required", "an email address is required");
        }
        if trimmed.len() > MAX_EMAIL_BYTES {
            return err("too_long", "the email address is longer than 320 bytes");
        }
        if !trimmed.is_ascii() {
            return err(
                "invalid",
                "the email address must be ASCII (give international domains in punycode)",
            );
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return err("invalid", "the email address needs an @");
        };
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_BYTES
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return err("invalid", "the part before @ is not a valid mailbox name");
        }
        if !is_valid_domain(domain) {
            return err("invalid", "the part after @ is not a valid domain");
        }
        Ok(Self(normalise(trimmed)))
    }

    /// Rebuilds an address read back from storage (already normalised).
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

fn is_valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > MAX_DOMAIN_BYTES {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ada.Lovelace+Notes@Example.COM ").expect("valid");
        assert_eq!(email.as_ref(), "ada.lovelace+notes@example.com");
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        let cases = [
            ("", "required"),
            ("   ", "required"),
            ("plainaddress", "invalid"),
            ("@example.com", "invalid"),
            ("ada@", "invalid"),
            ("ada@localhost", "invalid"),
            ("ada@exa mple.com", "invalid"),
            ("a da@example.com", "invalid"),
            (".ada@example.com", "invalid"),
            ("ada.@example.com", "invalid"),
            ("a..da@example.com", "invalid"),
            ("ada@-example.com", "invalid"),
            ("ada@example.123", "invalid"),
            ("ada@[127.0.0.1]", "invalid"),
            ("\"ada\"@example.com", "invalid"),
            ("ada@example.com\r\nBcc: x@y.com", "invalid"),
            ("ada\u{0}@example.com", "invalid"),
            ("adá@example.com", "invalid"),
            ("'; DROP TABLE users; --@example.com", "invalid"),
        ];
        for (input, code) in cases {
            let err = Email::parse(input).expect_err(input);
            assert_eq!(err.code, code, "{input:?}");
            assert_eq!(err.field, "email");
        }
    }

    #[test]
    fn an_address_longer_than_320_bytes_is_rejected() {
        let input = format!("{}@{}.com", "a".repeat(64), "b".repeat(300));
        assert_eq!(Email::parse(&input).expect_err("too long").code, "too_long");
    }

    proptest! {
        #[test]
        fn simple_generated_addresses_parse_and_normalise(
            local in "[A-Za-z0-9][A-Za-z0-9+_-]{0,20}",
            domain in "[A-Za-z][A-Za-z0-9-]{0,10}[A-Za-z0-9]",
            tld in "[A-Za-z]{2,6}",
        ) {
            let input = format!("{local}@{domain}.{tld}");
            let email = Email::parse(&input).expect("valid");
            prop_assert_eq!(email.as_ref(), input.to_ascii_lowercase());
        }

        #[test]
        fn parsing_never_panics_and_accepted_addresses_have_no_space_or_control(input in ".{0,400}") {
            if let Ok(email) = Email::parse(&input) {
                prop_assert!(!email.as_ref().chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert!(email.as_ref().len() <= MAX_EMAIL_BYTES);
            }
        }
    }
}
