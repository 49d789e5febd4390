//! The price and capability catalog (`data/catalog.toml`, embedded; `[[catalog]]` tables in a
//! config override or add entries). It fills in what a deployment's config leaves out: list
//! prices, context window, output limit, features and tier. Never fetched from the network.

use serde::Deserialize;

use super::{Capabilities, DeploymentSettings, Prices, Tier};
use crate::money::NanosPerMTok;

const EMBEDDED: &str = include_str!("../../data/catalog.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Provider kinds that sell this model under this id.
    pub kinds: Vec<String>,
    pub model: String,
    /// Dollars per million tokens, read exactly from the decimal text (see
    /// [`crate::money::PriceText`]): a TOML float, integer or string.
    pub input: NanosPerMTok,
    pub output: NanosPerMTok,
    pub cached_input: Option<NanosPerMTok>,
    pub cache_write: Option<NanosPerMTok>,
    pub reasoning: Option<NanosPerMTok>,
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
            // Without the feature, the model's name decides: entries that predate the feature
            // name say nothing about it.
            reasoning: self.features.iter().any(|x| x == "reasoning").then_some(true).or_else(|| reasons(&self.model)),
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
    /// A deployment's settings with what the config leaves out — prices, context window,
    /// features, tier — taken from this catalog's entry for the provider kind and model.
    ///
    /// JSON schema output is also known where the dialect answers it through a forced tool
    /// (Claude everywhere, Converse models that take a forced tool choice), and whether a model
    /// reasons is read from its name when no entry says ([`reasons`]).
    pub fn complete(&self, provider_kind: &str, model: &str, mut settings: DeploymentSettings) -> DeploymentSettings {
        if let Some(entry) = self.lookup(provider_kind, model) {
            settings.prices = settings.prices.or(Some(entry.prices()));
            let known = entry.capabilities();
            let caps = &mut settings.capabilities;
            caps.context_window = caps.context_window.or(known.context_window);
            caps.max_output = caps.max_output.or(known.max_output);
            caps.tools = caps.tools.or(known.tools);
            caps.images = caps.images.or(known.images);
            let through_tool = known.tools == Some(true) && json_through_tool(provider_kind, model);
            caps.json_schema = caps.json_schema.or(known.json_schema.map(|native| native || through_tool));
            caps.reasoning = caps.reasoning.or(known.reasoning);
            settings.tier = settings.tier.or(entry.tier());
        }
        let caps = &mut settings.capabilities;
        caps.reasoning = caps.reasoning.or_else(|| reasons(model));
        settings
    }

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

/// Whether a model reasons (takes a reasoning effort or a thinking budget), from its name, for
/// the families whose names say: OpenAI's gpt-5 and o-series, Claude 3.7 and 4 onwards, Gemini
/// 2.5 onwards, DeepSeek's reasoner and R1, Grok 3 mini and Grok 4, Qwen's QwQ and Qwen 3,
/// Magistral, gpt-oss; and the families known not to (GPT-4 and 3.5, older Claude and Gemini,
/// DeepSeek's chat, Llama, Nova but Nova 2, Mistral's others, GPT-5's chat snapshot). None: the
/// name does not say. `model` may carry a provider's prefix (`us.anthropic.`, `openai/`), a
/// version (`@20250929`) or a date.
pub fn reasons(model: &str) -> Option<bool> {
    let m = model.to_ascii_lowercase();
    let name = m.rsplit('/').next().unwrap_or(&m);
    let has = |s: &str| name.contains(s);
    const REASONING: &[&str] = &[
        "gpt-5",
        "gpt-oss",
        "claude-3-7",
        "claude-opus-4",
        "claude-sonnet-4",
        "claude-haiku-4",
        "claude-opus-5",
        "claude-sonnet-5",
        "claude-haiku-5",
        "gemini-2.5",
        "gemini-3",
        "deepseek-reasoner",
        "deepseek-r1",
        "grok-3-mini",
        "grok-4",
        "qwq",
        "qwen3",
        "magistral",
        "nova-2",
    ];
    const PLAIN: &[&str] = &[
        "gpt-4",
        "gpt-3.5",
        "claude-3",
        "claude-2",
        "claude-instant",
        "gemini-1",
        "gemini-2.0",
        "deepseek-chat",
        "llama",
        "nova-",
        "mistral-",
        "mixtral",
        "codestral",
        "titan",
    ];
    // The o-series is named by its first two letters (`o3-mini`, `o1-2024-12-17`), after any
    // provider prefix (`openai.o3`).
    let o_series = name.split(['.', ':']).any(|part| {
        ["o1", "o3", "o4"].iter().any(|o| part == *o || part.strip_prefix(o).is_some_and(|rest| rest.starts_with('-')))
    });
    // GPT-5's chat snapshot is the one GPT-5 that does not reason.
    if has("gpt-5-chat") {
        return Some(false);
    }
    if o_series || REASONING.iter().any(|r| has(r)) {
        return Some(true);
    }
    PLAIN.iter().any(|p| has(p)).then_some(false)
}

/// Whether a provider kind's model answers a JSON schema through a forced tool where it has no
/// native structured output: Claude on Anthropic, Vertex and Bedrock, and Converse models whose
/// tool use takes a forced choice (Nova, Mistral). Mirrors the dialects' encoders.
fn json_through_tool(provider_kind: &str, model: &str) -> bool {
    match provider_kind {
        "anthropic" => true,
        "vertex" => model.contains("claude"),
        "bedrock" => ["anthropic.", "amazon.nova", "mistral."].iter().any(|f| model.contains(f)),
        _ => false,
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
            assert!(e.input > NanosPerMTok(0), "{}: input price", e.model);
            assert!(e.output > NanosPerMTok(0) || embeddings, "{}: output price", e.model);
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
        let usd = |nanos: i64| NanosPerMTok(nanos);
        assert_eq!(c.lookup("openai", "gpt-4o-2024-11-20").map(|e| e.model.as_str()), Some("gpt-4o"));
        assert_eq!(c.lookup("openai", "gpt-4o-mini-2024-07-18").map(|e| e.model.as_str()), Some("gpt-4o-mini"));
        assert_eq!(c.lookup("azure", "gpt-4.1-mini").map(|e| e.input), Some(usd(400_000_000)));
        assert_eq!(
            c.lookup("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0").map(|e| e.output),
            Some(usd(15_000_000_000))
        );
        assert_eq!(
            c.lookup("vertex", "claude-sonnet-4-5@20250929").map(|e| e.cache_write),
            Some(Some(usd(3_750_000_000)))
        );
        assert_eq!(c.lookup("anthropic", "claude-sonnet-4-5-20250929").map(|e| e.input), Some(usd(3_000_000_000)));
        assert!(c.lookup("openai", "gpt-4o-audio-preview").is_none(), "not a snapshot of gpt-4o");
        assert!(c.lookup("groq", "gpt-4o").is_none(), "prices are per provider");
    }

    #[test]
    fn whether_a_model_reasons_is_read_from_its_name() {
        for model in [
            "gpt-5",
            "gpt-5-mini-2025-08-07",
            "o3",
            "o4-mini",
            "o1-2024-12-17",
            "openai/gpt-oss-120b",
            "claude-sonnet-4-5@20250929",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
            "claude-3-7-sonnet-latest",
            "gemini-2.5-flash",
            "gemini-3-pro-preview",
            "deepseek-reasoner",
            "grok-4",
        ] {
            assert_eq!(reasons(model), Some(true), "{model}");
        }
        for model in [
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-5-chat-latest",
            "claude-3-5-haiku-20241022",
            "gemini-2.0-flash",
            "meta.llama3-3-70b-instruct-v1:0",
            "amazon.nova-pro-v1:0",
            "deepseek-chat",
        ] {
            assert_eq!(reasons(model), Some(false), "{model}");
        }
        for model in ["my-finetune", "local-model", "solar-pro", "o3ish"] {
            assert_eq!(reasons(model), None, "{model}");
        }
    }

    #[test]
    fn completed_settings_say_whether_the_model_reasons_and_takes_a_json_schema() {
        let c = Catalog::embedded();
        let caps = |kind: &str, model: &str| c.complete(kind, model, DeploymentSettings::default()).capabilities;
        assert_eq!(caps("openai", "gpt-5").reasoning, Some(true));
        assert_eq!(caps("openai", "gpt-4o-2024-11-20").reasoning, Some(false));
        assert_eq!(caps("groq", "unlisted-model").reasoning, None);
        assert_eq!(caps("together", "Qwen/Qwen3-235B-A22B").reasoning, Some(true), "no entry: the name decides");
        for (kind, model) in [
            ("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ("bedrock", "amazon.nova-lite-v1:0"),
            ("anthropic", "claude-opus-4-1"),
            ("vertex", "claude-3-5-haiku@20241022"),
        ] {
            assert_eq!(caps(kind, model).json_schema, Some(true), "{kind}/{model}");
        }
        assert_eq!(caps("bedrock", "meta.llama3-3-70b-instruct-v1:0").json_schema, Some(false));
        // A deployment's own setting wins.
        let mut own = DeploymentSettings::default();
        own.capabilities.reasoning = Some(false);
        assert_eq!(c.complete("openai", "gpt-5", own).capabilities.reasoning, Some(false));
    }

    #[test]
    fn config_entries_override_and_add() {
        let mut c = Catalog::embedded();
        let entry = |model: &str, input: i64| Entry {
            kinds: vec!["openai".into()],
            model: model.into(),
            input: NanosPerMTok(input * 1_000_000_000),
            output: NanosPerMTok(1_000_000_000),
            cached_input: None,
            cache_write: None,
            reasoning: None,
            context_window: Some(1000),
            max_output: None,
            features: vec![],
            regions: vec![],
            tier: None,
        };
        c.merge(vec![entry("gpt-4o", 9), entry("my-finetune", 4)]);
        assert_eq!(c.lookup("openai", "gpt-4o").map(|e| e.input.0), Some(9_000_000_000));
        assert_eq!(c.lookup("azure", "gpt-4o").map(|e| e.input.0), Some(2_500_000_000), "other kinds keep theirs");
        assert_eq!(c.lookup("openai", "my-finetune").map(|e| e.input.0), Some(4_000_000_000));
    }

    /// Every price in the shipped file, as its text reads, is the price the catalog holds: a
    /// TOML float's shortest decimal form is what was written, to the nano-dollar.
    #[test]
    fn catalog_prices_are_exactly_what_the_file_says() {
        let c = Catalog::embedded();
        let mut index = None;
        let mut checked = 0;
        for line in EMBEDDED.lines() {
            if line == "[[model]]" {
                index = Some(index.map_or(0, |i| i + 1));
                continue;
            }
            let (Some(i), Some((key, value))) = (index, line.split_once(" = ")) else { continue };
            let e = &c.entries[i];
            let held = match key {
                "input" => Some(e.input),
                "output" => Some(e.output),
                "cached_input" => e.cached_input,
                "cache_write" => e.cache_write,
                "reasoning" => e.reasoning,
                _ => continue,
            };
            let written = NanosPerMTok::parse(value).unwrap_or_else(|err| panic!("{}: {err}", e.model));
            assert_eq!(held, Some(written), "{}.{key} = {value}", e.model);
            checked += 1;
        }
        assert_eq!(index.map(|i| i + 1), Some(c.entries.len()), "every entry read");
        assert!(checked >= 60, "{checked} prices checked");
    }

    #[test]
    fn a_price_reads_from_a_float_an_integer_or_a_string() {
        let read = |price: &str| {
            let text = format!("kinds = [\"openai\"]\nmodel = \"m\"\ninput = {price}\noutput = 1\n");
            toml::from_str::<Entry>(&text).map(|e| e.input).map_err(|e| e.to_string())
        };
        assert_eq!(read("2.5"), Ok(NanosPerMTok(2_500_000_000)));
        assert_eq!(read("0.075"), Ok(NanosPerMTok(75_000_000)));
        assert_eq!(read("0.1"), Ok(NanosPerMTok(100_000_000)), "not 0.1000000000000000055…");
        assert_eq!(read("3"), Ok(NanosPerMTok(3_000_000_000)));
        assert_eq!(read("1e-9"), Ok(NanosPerMTok(1)));
        assert_eq!(read("\"0.000000001\""), Ok(NanosPerMTok(1)));
        assert_eq!(read("\"1234567.123456789\""), Ok(NanosPerMTok(1_234_567_123_456_789)));
        let err = read("0.0000000001").unwrap_err();
        assert!(err.contains("more than 9 decimal places") && err.contains("line 3"), "{err}");
        let err = read("-2.5").unwrap_err();
        assert!(err.contains("negative") && err.contains("line 3"), "{err}");
        assert!(read("\"2,5\"").unwrap_err().contains("not a decimal number"));
        assert!(read("nan").unwrap_err().contains("not a decimal number"));
        assert!(read("true").is_err());
    }
}
