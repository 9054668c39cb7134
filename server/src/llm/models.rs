//! Which models exist and how a project's `provider:model` id becomes a
//! provider to call.
//!
//! A provider is available when it is configured: `openrouter` and
//! `anthropic` with an API key, `openai` with a base URL (local servers need
//! no key), `offline` always. The default model is `MINICODE_MODEL`, else
//! the first hosted provider with a key, else the offline generator — so a
//! fresh install works with no key at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Provider;
use super::anthropic::Anthropic;
use super::config::LlmConfig;
use super::http::HttpSettings;
use super::offline::Offline;
use super::openai::OpenAiCompatible;
use crate::error::{AppError, AppResult};

/// Provider ids, in the order the default is chosen.
pub const PROVIDERS: [&str; 4] = ["openrouter", "anthropic", "openai", "offline"];

/// The offline generator's model id.
pub const OFFLINE_MODEL: &str = "offline:builtin";

/// `provider:model` with a known provider and a non-empty model.
pub fn is_well_formed(id: &str) -> bool {
    match id.split_once(':') {
        Some((provider, model)) => PROVIDERS.contains(&provider) && !model.is_empty(),
        None => false,
    }
}

pub use minicode::ModelInfo;

/// A model ready to call.
#[derive(Clone)]
pub struct ResolvedModel {
    pub provider: Arc<dyn Provider>,
    /// The provider's own model name (`anthropic/claude-sonnet-4.5`).
    pub name: String,
    /// `provider:model`.
    pub id: String,
}

impl std::fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedModel")
            .field("id", &self.id)
            .finish()
    }
}

/// Suggested models per hosted provider (any other model name works too).
const SUGGESTIONS: &[(&str, &str, &str)] = &[
    (
        "openrouter",
        "anthropic/claude-sonnet-4.5",
        "Claude Sonnet 4.5 (OpenRouter)",
    ),
    ("openrouter", "openai/gpt-5", "GPT-5 (OpenRouter)"),
    (
        "openrouter",
        "google/gemini-2.5-pro",
        "Gemini 2.5 Pro (OpenRouter)",
    ),
    ("openrouter", "qwen/qwen3-coder", "Qwen3 Coder (OpenRouter)"),
    ("anthropic", "claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("anthropic", "claude-opus-4-1", "Claude Opus 4.1"),
    ("openai", "gpt-5", "GPT-5 (OpenAI-compatible)"),
];

/// Model families that accept images, matched in the model's own name.
/// A model not matched is taken as text-only: choosing an image for it is
/// refused before sending, and `MINICODE_VISION_MODELS` can name it.
const VISION_FAMILIES: &[&str] = &[
    "claude-3",
    "claude-sonnet-4",
    "claude-opus-4",
    "claude-haiku-4",
    "claude-4",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4-turbo",
    "gpt-5",
    "o3",
    "o4-mini",
    "gemini",
    "gemma-3",
    "gemma3",
    "llava",
    "bakllava",
    "vision",
    "-vl",
    "pixtral",
    "llama-4",
    "llama4",
    "minicpm-v",
    "moondream",
    "grok-4",
];

/// Whether `id` (`provider:model`) accepts images, by the families above
/// and the operator's list.
fn sees_images(id: &str, extra: &[String]) -> bool {
    let Some((provider, name)) = id.split_once(':') else {
        return false;
    };
    if provider == "offline" {
        return true;
    }
    let listed = extra
        .iter()
        .map(|e| e.trim())
        .any(|e| e == id || e.strip_suffix(":*").is_some_and(|p| p == provider));
    // `openai/gpt-5` on OpenRouter: the family is after the vendor.
    let name = name.to_ascii_lowercase();
    let family = name.rsplit('/').next().unwrap_or(&name);
    listed
        || VISION_FAMILIES.iter().any(|f| {
            family.starts_with(f) || ((f.starts_with('-') || *f == "vision") && family.contains(f))
        })
}

#[derive(Clone)]
pub struct Models {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    default: String,
    list: Vec<ModelInfo>,
    vision: Vec<String>,
}

impl Models {
    pub fn from_config(config: &LlmConfig) -> Self {
        let settings = HttpSettings {
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
            max_retries: config.max_retries,
            backoff: Duration::from_millis(500),
        };
        // Connect timeout only: the whole call is bounded by `settings`.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("minicode/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        if let Some(key) = config.openrouter_api_key.clone().filter(|k| !k.is_empty()) {
            providers.insert(
                "openrouter".into(),
                Arc::new(OpenAiCompatible::new(
                    "openrouter",
                    &config.openrouter_base_url,
                    Some(key),
                    client.clone(),
                    settings,
                )),
            );
        }
        if let Some(key) = config.anthropic_api_key.clone().filter(|k| !k.is_empty()) {
            providers.insert(
                "anthropic".into(),
                Arc::new(Anthropic::new(
                    &config.anthropic_base_url,
                    key,
                    client.clone(),
                    settings,
                )),
            );
        }
        let openai_base = config.openai_base_url.clone().or_else(|| {
            config
                .openai_api_key
                .as_ref()
                .filter(|k| !k.is_empty())
                .map(|_| "https://api.openai.com/v1".to_string())
        });
        if let Some(base) = openai_base {
            providers.insert(
                "openai".into(),
                Arc::new(OpenAiCompatible::new(
                    "openai",
                    &base,
                    config.openai_api_key.clone(),
                    client,
                    settings,
                )),
            );
        }
        providers.insert(
            "offline".into(),
            Arc::new(Offline::new(config.offline_chars_per_sec)),
        );

        let default = config
            .model
            .clone()
            .filter(|m| is_well_formed(m))
            .unwrap_or_else(|| {
                PROVIDERS
                    .iter()
                    .filter(|p| providers.contains_key(**p))
                    .find_map(|p| {
                        SUGGESTIONS
                            .iter()
                            .find(|s| s.0 == *p)
                            .map(|s| format!("{}:{}", s.0, s.1))
                    })
                    .unwrap_or_else(|| OFFLINE_MODEL.to_string())
            });
        if let Some(bad) = config.model.as_ref().filter(|m| !is_well_formed(m)) {
            tracing::warn!(model = %bad, "MINICODE_MODEL is not `provider:model`; using {default}");
        }

        let mut list: Vec<ModelInfo> = SUGGESTIONS
            .iter()
            .filter(|(p, _, _)| providers.contains_key(*p))
            .map(|(p, m, label)| ModelInfo {
                id: format!("{p}:{m}"),
                label: label.to_string(),
                provider: p.to_string(),
                offline: false,
                default: false,
                images: false,
            })
            .collect();
        if !list.iter().any(|m| m.id == default) && default != OFFLINE_MODEL {
            let (provider, name) = default.split_once(':').unwrap_or(("", &default));
            list.insert(
                0,
                ModelInfo {
                    id: default.clone(),
                    label: name.to_string(),
                    provider: provider.to_string(),
                    offline: false,
                    default: false,
                    images: false,
                },
            );
        }
        list.push(ModelInfo {
            id: OFFLINE_MODEL.into(),
            label: "Offline generator (built-in templates, no AI)".into(),
            provider: "offline".into(),
            offline: true,
            default: false,
            images: true,
        });
        for m in &mut list {
            m.default = m.id == default;
            m.images = sees_images(&m.id, &config.vision_models);
        }
        Self {
            providers,
            default,
            list,
            vision: config.vision_models.clone(),
        }
    }

    /// The models offered in the picker, the default flagged.
    pub fn list(&self) -> Vec<ModelInfo> {
        self.list.clone()
    }

    /// Whether the model `provider:model` accepts images.
    pub fn accepts_images(&self, id: &str) -> bool {
        sees_images(id, &self.vision)
    }

    pub fn default_id(&self) -> &str {
        &self.default
    }

    /// The project's model, or the default when it has none.
    pub fn resolve(&self, id: Option<&str>) -> AppResult<ResolvedModel> {
        let id = id.filter(|s| !s.is_empty()).unwrap_or(&self.default);
        let Some((provider, name)) = id.split_once(':').filter(|(_, n)| !n.is_empty()) else {
            return Err(AppError::validation(format!(
                "model `{id}` is not `provider:model`"
            )));
        };
        let Some(p) = self.providers.get(provider) else {
            return Err(AppError::validation(format!(
                "the `{provider}` model provider is not configured on this server (see docs/configuration.md)"
            )));
        };
        Ok(ResolvedModel {
            provider: p.clone(),
            name: name.to_string(),
            id: id.to_string(),
        })
    }

    /// Replaces a provider (tests point one at a local server).
    pub fn with_provider(mut self, name: &str, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(name.to_string(), provider);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::sees_images;

    #[test]
    fn vision_is_known_by_family_and_by_the_operators_list() {
        for id in [
            "offline:builtin",
            "anthropic:claude-sonnet-4-5",
            "openrouter:anthropic/claude-sonnet-4.5",
            "openrouter:openai/gpt-5",
            "openrouter:google/gemini-2.5-pro",
            "openai:gpt-4o-mini",
            "openai:qwen2.5-vl-7b",
            "openai:llama3.2-vision",
        ] {
            assert!(sees_images(id, &[]), "{id}");
        }
        for id in [
            "openrouter:qwen/qwen3-coder",
            "openai:deepseek-coder",
            "openai:my-local-model",
            "anthropic:claude-2.1",
            "not-an-id",
        ] {
            assert!(!sees_images(id, &[]), "{id}");
        }
        let extra = vec!["openai:my-local-model".to_string(), "anthropic:*".into()];
        assert!(sees_images("openai:my-local-model", &extra));
        assert!(sees_images("anthropic:claude-2.1", &extra));
        assert!(!sees_images("openai:other", &extra));
    }
}
