//! Display names.

use crate::validation::FieldError;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A trimmed, non-empty display name of at most 100 characters with no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses user input.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "required", "a name is required"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new(
                "name",
                "too_long",
                format!("the name is longer than {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "invalid",
                "the name contains control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Rebuilds a name read back from storage.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(
            DisplayName::parse("  Ada  ").expect("valid").as_ref(),
            "Ada"
        );
    }

    #[test]
    fn unicode_names_count_characters_not_bytes() {
        let name = "é".repeat(MAX_NAME_CHARS);
        assert!(DisplayName::parse(&name).is_ok());
        let too_long = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            DisplayName::parse(&too_long).expect_err("long").code,
            "too_long"
        );
    }

    #[test]
    fn empty_and_control_character_names_are_rejected() {
        assert_eq!(
            DisplayName::parse(" \t ").expect_err("empty").code,
            "required"
        );
        assert_eq!(
            DisplayName::parse("Ada\u{7}").expect_err("bell").code,
            "invalid"
        );
        assert_eq!(
            DisplayName::parse("Ada\nBob").expect_err("newline").code,
            "invalid"
        );
    }

    #[test]
    fn sql_looking_names_are_just_names() {
        let name = "Robert'); DROP TABLE users;--";
        assert_eq!(DisplayName::parse(name).expect("valid").as_ref(), name);
    }
}
