//! API key holder that never prints its value.

/// An API key read from the environment. `Debug` prints `ApiKey([redacted])`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; None for an empty or blank string.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into().trim().to_string();
        (!key.is_empty()).then_some(Self(key))
    }

    /// The key text, for building request headers (and scrubbing error text). Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_blank_is_none() {
        let k = ApiKey::new(" sk-secret-value ").expect("key");
        assert_eq!(k.expose(), "sk-secret-value");
        assert!(!format!("{k:?}").contains("secret-value"));
        assert!(ApiKey::new("  ").is_none());
    }
}
