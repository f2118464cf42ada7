//! Field-level validation failures, reported to clients as 422 with one
//! entry per field.

use serde::Serialize;

/// One invalid field: a stable machine `code` and a human `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The request field, e.g. `email`.
    pub field: &'static str,
    /// Stable code clients may match on, e.g. `too_long`.
    pub code: &'static str,
    /// Explanation for people.
    pub message: String,
}

impl FieldError {
    /// A failure of `field` with `code`.
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

/// All field failures of one request (never empty when returned as an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Collects the error of `result`, passing its value through.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// `Err(self)` when any failure was collected.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}
