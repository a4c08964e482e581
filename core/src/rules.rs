//! Ordered rewrite rules (normalizers, redactors), compiled once from the tables the Python
//! side loads: each rule is a regex and a replacement, applied in order, each to what the
//! rules before it left. A `RegexSet` over all of them finds the few that can match a text
//! in one pass; only those run.

use std::borrow::Cow;

use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Room for each lazy DFA's states (per thread that uses it).
const DFA_CACHE_BYTES: usize = 32 << 20;

/// An extra test a match must pass to be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// the match's digits pass the Luhn checksum (card numbers)
    Luhn,
    /// the match is an email address, not a URL's user (`ssh://git@host`) nor an scp-style
    /// remote (`git@host:org/repo`): the pattern takes a scheme before and a `:path` after
    /// into the match so that this can tell
    Email,
}

impl Check {
    pub fn parse(name: &str) -> Option<Check> {
        match name {
            "luhn" => Some(Check::Luhn),
            "email" => Some(Check::Email),
            _ => None,
        }
    }

    fn passes(self, matched: &str) -> bool {
        match self {
            Check::Luhn => luhn_valid(matched),
            Check::Email => {
                let remote = matched.rsplit_once('@').is_some_and(|(_, host)| host.contains(':'));
                !matched.contains("://") && !remote
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    regex: Regex,
    replacement: String,
    check: Option<Check>,
    /// the replacement refers to groups (`$1`, `${name}`)
    expands: bool,
}

impl Rule {
    pub fn new(name: &str, pattern: &str, replacement: &str, check: Option<Check>) -> Result<Rule, String> {
        let regex = RegexBuilder::new(pattern)
            .dfa_size_limit(DFA_CACHE_BYTES)
            .build()
            .map_err(|e| format!("rule {name}: {e}"))?;
        Ok(Rule {
            name: name.to_owned(),
            regex,
            replacement: replacement.to_owned(),
            check,
            expands: replacement.contains('$'),
        })
    }

    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// Every match replaced (as `Regex::replace_all`, which is what polars' `str.replace_all`
    /// runs); with a check, only the matches that pass it.
    pub fn replace_all<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.check {
            Some(check) => self.regex.replace_all(text, |caps: &Captures<'_>| {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                if check.passes(whole) {
                    let mut out = String::new();
                    caps.expand(&self.replacement, &mut out);
                    out
                } else {
                    whole.to_owned()
                }
            }),
            None if self.expands => self.regex.replace_all(text, self.replacement.as_str()),
            None => self.regex.replace_all(text, regex::NoExpand(&self.replacement)),
        }
    }

    /// How many times the rule matches `text` (for the per-rule hit counts).
    pub fn count(&self, text: &str) -> usize {
        self.regex.find_iter(text).count()
    }
}

/// Rules applied in order, each to the output of the ones before.
#[derive(Clone, Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    any: Option<RegexSet>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, String> {
        // A set too large to build (size limits) only loses the shortcut, not correctness. Its
        // lazy DFA gets room to keep the states it builds: with the default cache, the states
        // of a few dozen large patterns are built again and again.
        let any = RegexSetBuilder::new(rules.iter().map(|r| r.regex.as_str()))
            .size_limit(64 << 20)
            .dfa_size_limit(DFA_CACHE_BYTES)
            .build()
            .ok();
        Ok(RuleSet { rules, any })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule matches `text` as it is.
    pub fn any_match(&self, text: &str) -> bool {
        match &self.any {
            Some(set) => set.is_match(text),
            None => self.rules.iter().any(|r| r.regex.is_match(text)),
        }
    }

    /// `text` through every rule in order. `hits`, when given, counts the matches of each rule.
    pub fn apply<'t>(&self, text: &'t str, mut hits: Option<&mut [u64]>) -> Cow<'t, str> {
        let Some(set) = &self.any else {
            let mut out = Cow::Borrowed(text);
            for (i, rule) in self.rules.iter().enumerate() {
                if let Some(h) = hits.as_deref_mut().and_then(|h| h.get_mut(i)) {
                    *h += rule.count(&out) as u64;
                }
                if let Cow::Owned(new) = rule.replace_all(&out) {
                    out = Cow::Owned(new);
                }
            }
            return out;
        };
        // Most texts hold no secret (and most messages are short): one early-exit pass first.
        if !set.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut current: Cow<'t, str> = Cow::Borrowed(text);
        let mut candidates = set.matches(text);
        for (i, rule) in self.rules.iter().enumerate() {
            if !candidates.matched(i) {
                continue;
            }
            if let Some(h) = hits.as_deref_mut().and_then(|h| h.get_mut(i)) {
                *h += rule.count(&current) as u64;
            }
            let replaced = rule.replace_all(&current);
            if let Cow::Owned(new) = replaced {
                if new != *current {
                    // what the rules after this one can match may have changed
                    candidates = set.matches(&new);
                    current = Cow::Owned(new);
                }
            }
        }
        current
    }
}

/// Whether the digits of `text` (other characters ignored) pass the Luhn checksum.
pub fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 {
                doubled - 9
            } else {
                doubled
            }
        } else {
            *d
        };
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(table: &[(&str, &str, &str)]) -> RuleSet {
        RuleSet::new(table.iter().map(|(n, p, r)| Rule::new(n, p, r, None).expect("valid rule")).collect())
            .expect("rule set")
    }

    #[test]
    fn rules_apply_in_order_to_what_the_earlier_ones_left() {
        let set = rules(&[("int", r"\d+", "<int>"), ("list", r"<int>(?:, <int>)+", "<list>")]);
        assert_eq!(set.apply("ids 1, 2, 3 and 4", None), "ids <list> and <int>");
    }

    #[test]
    fn a_text_no_rule_matches_is_returned_as_it_is() {
        let set = rules(&[("int", r"\d+", "<int>")]);
        assert!(matches!(set.apply("nothing here", None), Cow::Borrowed(_)));
    }

    #[test]
    fn groups_are_put_back() {
        let set = rules(&[("kv", r"(password=)\S+", "${1}[REDACTED]")]);
        assert_eq!(set.apply("password=hunter2 ok", None), "password=[REDACTED] ok");
    }

    #[test]
    fn hits_count_each_rules_matches() {
        let set = rules(&[("int", r"\d+", "<int>"), ("word", r"<int>", "N")]);
        let mut hits = [0u64; 2];
        set.apply("1 2 3", Some(&mut hits));
        assert_eq!(hits, [3, 3]);
    }

    #[test]
    fn a_checked_rule_replaces_only_matches_that_pass() {
        let card = Rule::new("card", r"\b\d{16}\b", "[card]", Some(Check::Luhn)).expect("rule");
        let set = RuleSet::new(vec![card]).expect("set");
        assert_eq!(set.apply("4111111111111111 4111111111111112", None), "[card] 4111111111111112");
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(luhn_valid("378282246310005"));
    }
}
