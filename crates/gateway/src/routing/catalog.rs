//! The price and capability catalog (`data/catalog.toml`, embedded; `[[catalog]]` tables in a
//! config override or add entries). It fills in what a deployment's config leaves out: list
//! prices, context window, output limit, features and tier. Never fetched from the network.

use serde::Deserialize;

use super::{Capabilities, Prices, Tier};

const EMBEDDED: &str = include_str!("../../data/catalog.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Provider kinds that sell this model under this id.
    pub kinds: Vec<String>,
    pub model: String,
    /// USD per million tokens.
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub cache_write: Option<f64>,
    pub reasoning: Option<f64>,
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub tier: Option<String>,
}

impl Entry {
    pub fn prices(&self) -> Prices {
        Prices {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            reasoning: self.reasoning,
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        let has = |f: &str| Some(self.features.iter().any(|x| x == f));
        Capabilities {
            context_window: self.context_window,
            max_output: self.max_output,
            tools: has("tools"),
            images: has("images"),
            json_schema: has("json_schema"),
        }
    }

    pub fn tier(&self) -> Option<Tier> {
        self.tier.as_deref().and_then(Tier::parse)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    as_of: String,
    #[serde(rename = "model", default)]
    models: Vec<Entry>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub as_of: String,
    pub entries: Vec<Entry>,
}

impl Catalog {
    /// The catalog shipped with the binary.
    pub fn embedded() -> Catalog {
        match toml::from_str::<File>(EMBEDDED) {
            Ok(f) => Catalog { as_of: f.as_of, entries: f.models },
            // Checked by a test on every build; an unreadable catalog prices nothing.
            Err(e) => {
                tracing::error!(error = %e, "the embedded catalog does not parse");
                Catalog::default()
            }
        }
    }

    /// Config entries replace catalog entries for the same kind and model, or add new ones.
    pub fn merge(&mut self, overrides: Vec<Entry>) {
        for o in overrides {
            for kind in &o.kinds {
                for e in &mut self.entries {
                    e.kinds.retain(|k| !(k == kind && e.model == o.model));
                }
            }
            self.entries.retain(|e| !e.kinds.is_empty());
            self.entries.push(o);
        }
    }

    /// The entry for a provider kind's model id: exact, else the same model under a Bedrock
    /// cross-region profile (`us.anthropic…`), a Vertex version (`claude-sonnet-4-5@20250929`)
    /// or a dated snapshot (`gpt-4o-2024-11-20`, `claude-sonnet-4-5-20250929`).
    pub fn lookup(&self, kind: &str, model: &str) -> Option<&Entry> {
        let for_kind = || self.entries.iter().filter(|e| e.kinds.iter().any(|k| k == kind));
        if let Some(e) = for_kind().find(|e| e.model == model) {
            return Some(e);
        }
        let mut base = model;
        if kind == "bedrock" {
            for prefix in ["us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au."] {
                base = base.strip_prefix(prefix).unwrap_or(base);
            }
            if let Some(e) = for_kind().find(|e| e.model == base) {
                return Some(e);
            }
        }
        let base = base.split('@').next().unwrap_or(base);
        for_kind()
            .filter(|e| base == e.model || base.strip_prefix(e.model.as_str()).is_some_and(is_snapshot_suffix))
            .max_by_key(|e| e.model.len())
    }
}

/// `-2024-11-20`, `-20250929`, `-latest`: a dated or floating snapshot of the same model.
fn is_snapshot_suffix(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix('-') else { return false };
    rest == "latest" || (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalog_is_complete_and_sane() {
        let c = Catalog::embedded();
        assert!(c.entries.len() >= 30, "{}", c.entries.len());
        assert!(c.as_of.len() == 10 && c.as_of.starts_with("20"), "{}", c.as_of);
        let mut seen = std::collections::HashSet::new();
        for e in &c.entries {
            let embeddings = e.features.iter().any(|f| f == "embeddings");
            assert!(e.input > 0.0, "{}: input price", e.model);
            assert!(e.output > 0.0 || embeddings, "{}: output price", e.model);
            assert!(e.cached_input.is_none_or(|c| c < e.input), "{}: a cache read costs less", e.model);
            assert!(e.context_window.is_some_and(|w| w >= 2048), "{}: context window", e.model);
            assert!(e.tier.is_none() || e.tier().is_some(), "{}: tier", e.model);
            for k in &e.kinds {
                assert!(seen.insert((k.clone(), e.model.clone())), "{k}/{}: listed twice", e.model);
            }
        }
    }

    #[test]
    fn lookups_find_snapshots_profiles_and_versions() {
        let c = Catalog::embedded();
        assert_eq!(c.lookup("openai", "gpt-4o-2024-11-20").map(|e| e.model.as_str()), Some("gpt-4o"));
        assert_eq!(c.lookup("openai", "gpt-4o-mini-2024-07-18").map(|e| e.model.as_str()), Some("gpt-4o-mini"));
        assert_eq!(c.lookup("azure", "gpt-4.1-mini").map(|e| e.input), Some(0.4));
        assert_eq!(c.lookup("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0").map(|e| e.output), Some(15.0));
        assert_eq!(c.lookup("vertex", "claude-sonnet-4-5@20250929").map(|e| e.cache_write), Some(Some(3.75)));
        assert_eq!(c.lookup("anthropic", "claude-sonnet-4-5-20250929").map(|e| e.input), Some(3.0));
        assert!(c.lookup("openai", "gpt-4o-audio-preview").is_none(), "not a snapshot of gpt-4o");
        assert!(c.lookup("groq", "gpt-4o").is_none(), "prices are per provider");
    }

    #[test]
    fn config_entries_override_and_add() {
        let mut c = Catalog::embedded();
        let entry = |model: &str, input: f64| Entry {
            kinds: vec!["openai".into()],
            model: model.into(),
            input,
            output: 1.0,
            cached_input: None,
            cache_write: None,
            reasoning: None,
            context_window: Some(1000),
            max_output: None,
            features: vec![],
            regions: vec![],
            tier: None,
        };
        c.merge(vec![entry("gpt-4o", 9.0), entry("my-finetune", 4.0)]);
        assert_eq!(c.lookup("openai", "gpt-4o").map(|e| e.input), Some(9.0));
        assert_eq!(c.lookup("azure", "gpt-4o").map(|e| e.input), Some(2.5), "other kinds keep theirs");
        assert_eq!(c.lookup("openai", "my-finetune").map(|e| e.input), Some(4.0));
    }
}
