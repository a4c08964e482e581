//! Secrets and personal data out of error text: the redaction rules (a table the Python side
//! passes in: built-in patterns after the user's extra ones) applied in order.

use std::borrow::Cow;

use crate::json;
use crate::rules::RuleSet;
use crate::value::{write_json_str, TextFilter, Value};

pub struct Redactor {
    rules: RuleSet,
}

impl Redactor {
    pub fn new(rules: RuleSet) -> Redactor {
        Redactor { rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// `text` with every secret replaced; borrowed when there was none.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.rules.is_empty() {
            return Cow::Borrowed(text);
        }
        self.rules.apply(text, None)
    }

    /// The attributes' JSON with secrets out, still valid JSON: each string value is
    /// redacted on its own, then the JSON text as a whole (so `"db.password": "…"` is caught
    /// by its key); when that breaks the JSON, each attribute is redacted as a JSON pair on
    /// its own, and one that still breaks it becomes `"[REDACTED]"`.
    pub fn attributes_json(&self, attrs: &[(&str, Value<'_>)]) -> String {
        let mut values = Vec::with_capacity(attrs.len());
        let mut json = String::from("{");
        for (i, (key, value)) in attrs.iter().enumerate() {
            let mut pair = String::new();
            write_json_str(&mut pair, key, false);
            pair.push_str(": ");
            value.write_json_with(&mut pair, false, 0, self);
            if i > 0 {
                json.push_str(", ");
            }
            json.push_str(&pair);
            values.push((key, pair));
        }
        json.push('}');
        let whole = match self.redact(&json) {
            std::borrow::Cow::Borrowed(_) => return json,
            std::borrow::Cow::Owned(whole) => whole,
        };
        if json::is_valid(&whole) {
            return whole;
        }
        let mut out = String::from("{");
        for (i, (key, pair)) in values.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let object = format!("{{{pair}}}");
            let redacted = self.redact(&object);
            match redacted.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(member) if json::is_valid(&redacted) => out.push_str(member),
                _ => {
                    write_json_str(&mut out, key, false);
                    out.push_str(": \"[REDACTED]\"");
                }
            }
        }
        out.push('}');
        out
    }
}

impl TextFilter for Redactor {
    fn filter<'s>(&self, text: &'s str) -> Cow<'s, str> {
        self.redact(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;

    fn redactor() -> Redactor {
        let rules = vec![
            Rule::new("password_field", r#"(?i)(password"?\s*[:=]\s*)("[^"]*"|\S+)"#, "${1}[REDACTED:password]", None),
            Rule::new("email", r"\b[\w.]+@[\w.]+\.[a-z]{2,}\b", "[REDACTED:email]", None),
        ];
        Redactor::new(RuleSet::new(rules.into_iter().collect::<Result<_, _>>().expect("rules")).expect("set"))
    }

    #[test]
    fn text_without_secrets_is_borrowed() {
        assert!(matches!(redactor().redact("nothing to see"), Cow::Borrowed(_)));
    }

    #[test]
    fn attributes_json_stays_valid() {
        let r = redactor();
        let attrs = [("db.password", Value::Str("hunter2")), ("user", Value::Str("a@b.io"))];
        let out = r.attributes_json(&attrs);
        assert!(json::is_valid(&out), "{out}");
        assert!(!out.contains("hunter2") && !out.contains("a@b.io"), "{out}");
    }
}
