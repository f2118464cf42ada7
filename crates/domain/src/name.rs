//! Display names.

use unicode_normalization::UnicodeNormalization as _;

use crate::validation::FieldError;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A trimmed, NFC-normalised, non-empty display name of at most 100
/// characters (counted as Unicode scalar values of the composed form, not
/// bytes), with no control (Cc) or format (Cf) characters: no
/// bidirectional overrides that make a name read backwards, no zero-width
/// characters that make two names look alike, no byte-order mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses user input.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        // Normalised first, so the length and the stored form are those of
        // the canonical composition whatever the client sent; ASCII is
        // already in NFC.
        let trimmed = input.trim();
        let normalised: String;
        let name = if trimmed.is_ascii() {
            trimmed
        } else {
            normalised = trimmed.nfc().collect();
            normalised.as_str()
        };
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
        if name.chars().any(|c| c.is_control() || is_format(c)) {
            return Err(FieldError::new(
                "name",
                "invalid",
                "the name contains control or invisible formatting characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Rebuilds a name read back from storage.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

/// The Unicode format characters (general category Cf, Unicode 16.0): a
/// short list kept here rather than a whole category table, which would
/// double the static data every instance of the component starts with. A
/// native test checks it against `unicode-properties`.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// The names [`DisplayName::parse`] accepts as a JSON Schema (ECMA-262)
/// `pattern`, for the API document: white space around (which `parse`
/// trims), then something with no control or format character of the
/// Basic Multilingual Plane. (The few astral format characters, which the
/// pattern dialects disagree on how to write, are refused by `parse`
/// alone.) White space is spelled out as Unicode's White_Space, what
/// `str::trim` removes, because ECMA-262's `\s` differs from it.
pub fn display_name_pattern() -> String {
    const WHITE_SPACE: &str =
        r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    let mut forbidden = String::from(r"\u0000-\u001F\u007F-\u009F");
    for &(first, last) in FORMAT_CHARACTERS {
        let (first, last) = (u32::from(first), u32::from(last));
        if last > 0xFFFF {
            continue;
        }
        forbidden.push_str(&format!("\\u{first:04X}"));
        if last != first {
            forbidden.push_str(&format!("-\\u{last:04X}"));
        }
    }
    let edge = format!("[^{WHITE_SPACE}{forbidden}]");
    format!("^[{WHITE_SPACE}]*{edge}(?:[^{forbidden}]*{edge})?[{WHITE_SPACE}]*$")
}

fn is_format(c: char) -> bool {
    FORMAT_CHARACTERS
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`display_name_pattern`] in the `regex` crate's syntax.
    fn pattern_as_regex() -> regex::Regex {
        let pattern = regex::Regex::new(r"\\u([0-9A-F]{4})")
            .expect("valid")
            .replace_all(&display_name_pattern(), r"\x{$1}")
            .into_owned();
        regex::Regex::new(&pattern).expect("the pattern compiles")
    }

    proptest::proptest! {
        /// The document's pattern and `parse` agree on every name of up to
        /// 100 characters (controls, format and space characters drawn
        /// often), but for the astral format characters left to `parse`.
        #[test]
        fn the_schema_pattern_agrees_with_parse(
            name in "[ a\u{0}-\u{1F}\u{7F}-\u{A0}\u{AD}\u{1680}\u{2000}-\u{200F}\u{2028}\u{3000}\u{FEFF}\u{E0001}é]{0,100}"
        ) {
            let astral_format = name.chars().any(|c| u32::from(c) > 0xFFFF && is_format(c));
            let matches = pattern_as_regex().is_match(&name);
            let parses = DisplayName::parse(&name).is_ok();
            if !astral_format {
                proptest::prop_assert_eq!(matches, parses, "{:?}", name);
            }
        }
    }

    #[test]
    fn the_format_list_is_exactly_unicode_category_cf() {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
        let mismatches: Vec<String> = (0..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_format(c) != (c.general_category() == GeneralCategory::Format))
            .map(|c| format!("U+{:04X}", c as u32))
            .collect();
        assert!(mismatches.is_empty(), "{mismatches:?}");
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused() {
        for name in [
            "Ada\u{202e}gnirts",
            "A\u{200b}da",
            "\u{feff}Ada",
            "Ada\u{2066}",
            "A\u{0007}da",
            "A\u{00ad}da",
        ] {
            let err = DisplayName::parse(name).expect_err(name);
            assert_eq!(err.code, "invalid", "{name:?}");
        }
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        let four_byte = "\u{1F600}";
        assert!(DisplayName::parse(&four_byte.repeat(MAX_NAME_CHARS)).is_ok());
        assert!(DisplayName::parse(&four_byte.repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn names_are_stored_composed_and_counted_in_characters() {
        let decomposed = "Ame\u{0301}lie";
        let name = DisplayName::parse(decomposed).expect("valid");
        assert_eq!(name.as_ref(), "Am\u{e9}lie");
        // 100 decomposed é are 200 code points but 100 characters composed.
        let long = "e\u{0301}".repeat(MAX_NAME_CHARS);
        let parsed = DisplayName::parse(&long).expect("fits");
        assert_eq!(parsed.as_ref().chars().count(), MAX_NAME_CHARS);
        assert!(DisplayName::parse(&"e\u{0301}".repeat(MAX_NAME_CHARS + 1)).is_err());
        // Canonical reordering: the same marks in another order are one name.
        let a = DisplayName::parse("a\u{0323}\u{0302}").expect("valid");
        let b = DisplayName::parse("a\u{0302}\u{0323}").expect("valid");
        assert_eq!(a, b);
        // Compatibility characters are kept (NFC, not NFKC): "ﬁ" stays.
        assert_eq!(
            DisplayName::parse("\u{FB01}x").expect("valid").as_ref(),
            "\u{FB01}x"
        );
    }

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
