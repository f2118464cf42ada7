//! Passwords as users choose them: length rules (NIST SP 800-63B: at least
//! 8, allow long passphrases) and not the email address itself.

use std::fmt;

use zeroize::Zeroizing;

use crate::email::Email;
use crate::validation::FieldError;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in characters (bounds hashing work).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password in memory. `Debug` never shows it; `Zeroizing` wipes it on
/// drop, so it does not linger in freed memory.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password for verification (no rules: existing passwords are
    /// checked against their hash whatever they look like).
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// Parses a newly chosen password for the account `email` (`None` when
    /// the email itself is invalid: the length rules still apply).
    pub fn parse_new(secret: String, email: Option<&Email>) -> Result<Self, FieldError> {
        let chars = secret.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                "too_short",
                format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                "too_long",
                format!("the password must have at most {MAX_PASSWORD_CHARS} characters"),
            ));
        }
        if email.is_some_and(|email| secret.trim().eq_ignore_ascii_case(email.as_ref())) {
            return Err(FieldError::new(
                "password",
                "equals_email",
                "the password must not be the email address",
            ));
        }
        Ok(Self::new(secret))
    }

    /// The secret, for hashing and verification only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Option<Email> {
        Some(Email::parse("ada@example.com").expect("valid"))
    }

    #[test]
    fn passwords_between_the_bounds_are_accepted() {
        assert!(Password::parse_new("correct horse".into(), email().as_ref()).is_ok());
        assert!(Password::parse_new("x".repeat(MAX_PASSWORD_CHARS), email().as_ref()).is_ok());
    }

    #[test]
    fn short_long_and_email_passwords_are_rejected() {
        let cases = [
            ("short".to_string(), "too_short"),
            ("x".repeat(MAX_PASSWORD_CHARS + 1), "too_long"),
            ("ADA@example.com".to_string(), "equals_email"),
        ];
        for (secret, code) in cases {
            let err = Password::parse_new(secret.clone(), email().as_ref()).expect_err(&secret);
            assert_eq!(err.code, code);
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let p = Password::new("hunter2-hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
