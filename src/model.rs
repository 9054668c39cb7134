//! REST resources and their request bodies.
//!
//! JSON is camelCase. Timestamps are RFC 3339 strings in UTC. Single
//! resources travel as `{ "data": … }`, lists as `{ "data": [...], "total": n }`
//! (seed 003's contract, applied to every resource).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest accepted project or chat name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest accepted project description or prompt, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Longest accepted chat message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
/// The sentence for text over a limit, the same in the browser and in the
/// server's 422: "Your message is 33,000 characters; the limit is 32,000."
/// `what` is "message" or "description". Text is never cut to fit.
pub fn too_long(what: &str, chars: usize, limit: usize) -> String {
    format!(
        "Your {what} is {} characters; the limit is {}.",
        thousands(chars),
        thousands(limit)
    )
}

/// `32000` → `32,000`, for any integer.
pub fn thousands(n: impl std::fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Largest image a message or a build prompt may carry, in bytes (what the
/// hosted providers accept per image).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Most images one message or build prompt may carry.
pub const MAX_IMAGES_PER_MESSAGE: usize = 4;
/// Widest or tallest image accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8_000;
/// The image formats accepted (and sent to models as they are).
pub const IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// Username length bounds, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Password length bounds, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;
/// Largest page a list endpoint returns.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// Page size when the client does not ask for one.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;

/// `{ "data": … }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Data<T> {
    pub data: T,
}

/// `{ "data": [...], "total": n }`: one page of a list and the size of the whole list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub total: u64,
}

/// `?limit=&offset=` on every list endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    /// Signed, so `-1` reaches the range check (a clear 422) rather than
    /// failing to parse.
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    i64::from(DEFAULT_PAGE_LIMIT)
}

impl Default for PageQuery {
    fn default() -> Self {
        Self {
            limit: i64::from(DEFAULT_PAGE_LIMIT),
            offset: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub created_at: String,
    /// Admins invite and disable users and see everyone's usage.
    #[serde(default)]
    pub is_admin: bool,
}

/// Body of register and login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// The invitation code, when registration is by invite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// Who may create an account on this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone.
    Open,
    /// Whoever has an unused invitation from an admin.
    Invite,
    /// Nobody (but the first account, which becomes the admin).
    Closed,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationMode::Open => "open",
            RegistrationMode::Invite => "invite",
            RegistrationMode::Closed => "closed",
        }
    }
}

/// `GET /api/auth/registration`: what the sign-up form should offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub mode: RegistrationMode,
    /// No account exists yet: the next one becomes the admin, whatever the mode.
    pub first_account: bool,
    /// Whether a new account can be created at all right now (with an invite
    /// when `mode` is `invite`).
    pub accepting: bool,
}

/// `POST /api/auth/password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// A request that must be confirmed with the password (deleting the account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordConfirmation {
    pub password: String,
}

/// A personal API token as listed: the secret itself is never shown again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, so a user can tell tokens apart.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub scope: TokenScope,
    /// After this the token no longer works.
    pub expires_at: Option<String>,
}

/// What an API token may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Reads only: `GET` requests, and a WebSocket that watches but sends no commands.
    Read,
    /// Everything the user can do.
    #[default]
    Full,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Full => "full",
        }
    }
}

/// Longest lifetime of an API token, in days.
pub const MAX_TOKEN_DAYS: u32 = 365;
/// Lifetime of an API token when the request does not say, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 30;

/// `POST /api/auth/tokens`: minting a token needs the password again, so a
/// stolen session alone cannot mint a long-lived credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiToken {
    pub name: String,
    #[serde(default)]
    pub scope: TokenScope,
    /// 1 to [`MAX_TOKEN_DAYS`]; default [`DEFAULT_TOKEN_DAYS`].
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    pub password: String,
}

/// A user as an admin sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub id: Uuid,
    pub username: String,
    pub created_at: String,
    pub is_admin: bool,
    /// When an admin disabled the account; `None` while it is active.
    pub disabled_at: Option<String>,
    pub projects: u64,
}

/// `PATCH /api/admin/users/:id`: fields left out stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserPatch {
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub is_admin: Option<bool>,
}

/// `POST /api/admin/users/:id/password`: a new random password for a user
/// who lost theirs, shown to the admin once to pass on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordReset {
    pub password: String,
}

/// An invitation to register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub id: Uuid,
    pub note: String,
    pub created_at: String,
    pub expires_at: String,
    /// The username that used it, once used.
    pub used_by: Option<String>,
    pub used_at: Option<String>,
}

/// `POST /api/admin/invites`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewInvite {
    #[serde(default)]
    pub note: String,
    /// 1 to 30; default 7.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The answer to creating an invite: the only time the code is returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedInvite {
    pub invite: Invite,
    pub code: String,
    /// Where the invited person registers: `/?invite=<code>` on this server.
    pub path: String,
}

/// `GET /api/admin/settings`: how the server is run, for the admin page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSettings {
    pub registration: RegistrationMode,
    pub sandbox: String,
    pub users: u64,
    /// The limits of a user without overrides (`MINICODE_QUOTA_*`; 0 is unlimited).
    pub quota_defaults: crate::usage::QuotaLimits,
}

/// The answer to creating a token: the only time the secret is returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// `provider:model` (e.g. `openrouter:openai/gpt-4o`) chosen for this project; `None` uses the server default.
    pub model: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub model: Option<String>,
}

/// `POST /api/projects/import/git`: a new project from the files of a git
/// repository's default branch. `name` defaults to the repository's.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GitImport {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A git credential of the signed-in user, as listed: never its token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GitCredential {
    pub id: Uuid,
    /// The host it is sent to: `github.com`, `git.example.com:8443`.
    pub host: String,
    pub username: String,
    pub created_at: String,
}

/// `POST /api/git/credentials`: one per host (a second replaces the first).
/// `token` is stored encrypted and never shown again.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewGitCredential {
    pub host: String,
    pub username: String,
    pub token: String,
}

impl std::fmt::Debug for NewGitCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewGitCredential")
            .field("host", &self.host)
            .field("username", &self.username)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// `PUT /api/projects/:id/remote`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemoteUrl {
    pub url: String,
}

/// How the remote's `main` stands against the project's.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemoteSync {
    /// Both point at the same commit.
    InSync,
    /// The project has commits the remote lacks: a push fast-forwards.
    Ahead,
    /// The remote has commits the project lacks, and the project none it lacks.
    Behind,
    /// Each has commits the other lacks.
    Diverged,
    /// The remote has no `main` yet.
    Empty,
}

/// `GET /api/projects/:id/remote` and the answer of a push.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteState {
    pub url: String,
    pub state: RemoteSync,
    pub local_head: Option<String>,
    pub remote_head: Option<String>,
}

/// `POST /api/projects/:id/remote/push`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushBody {
    /// Replace the remote's `main` even when it has commits the project lacks.
    #[serde(default)]
    pub force: bool,
}

/// PATCH body: absent fields are left unchanged. `model: null` resets to the default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, with = "double_option")]
    pub model: Option<Option<String>>,
}

/// `POST /api/projects/:id/generate`: what to build (the same as the
/// WebSocket's `generate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateBody {
    pub description: String,
    /// Images uploaded to the project first (`POST /api/projects/:id/images`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Uuid>,
}

/// An image stored with a message or a build prompt: screenshots and
/// mock-ups the user attached. Its bytes are at
/// `GET /api/projects/:id/images/:imageId` (owner only), metadata stripped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRef {
    pub id: Uuid,
    /// One of [`IMAGE_TYPES`].
    pub media_type: String,
    pub width: u32,
    pub height: u32,
    /// Stored bytes.
    pub size: u64,
}

/// The answer to `generate` (202): the run that was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub run_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chat {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
}

/// POST body for chats. On `/api/chats` the project is named in the body;
/// on `/api/projects/:id/chats` it comes from the path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewChat {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub project_id: Option<Uuid>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPatch {
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One tool call the chat agent made, with its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallRecord {
    pub id: String,
    pub tool_name: String,
    pub tool_input: serde_json::Value,
    pub ok: bool,
    pub summary: String,
}

/// Tokens a model call used, and its cost when the provider reports one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: Uuid,
    pub chat_id: Uuid,
    pub role: Role,
    pub content: String,
    #[serde(default)]
    pub tool_calls: Vec<ToolCallRecord>,
    #[serde(default)]
    pub usage: Option<Usage>,
    pub created_at: String,
    /// Images the user attached (user messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageRef>,
    /// True while the assistant is still writing it: the text and tool calls
    /// so far are saved after every step, so a restart loses nothing.
    #[serde(default)]
    pub pending: bool,
}

/// One file of a project's workspace, as listed in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
}

/// How a file's `content` is encoded in JSON: text as-is, anything that is
/// not UTF-8 (an uploaded image, say) as base64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Utf8,
    Base64,
}

/// The whole content of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileContent {
    pub path: String,
    pub content: String,
    #[serde(default)]
    pub encoding: Encoding,
    /// Grows by one with every change to this path.
    pub version: i64,
}

/// PUT body of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileWrite {
    pub content: String,
    #[serde(default)]
    pub encoding: Encoding,
}

/// POST body of a visual edit: a change on an element picked in the
/// preview, at the place the browser reported for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisualEdit {
    pub path: String,
    pub line: u32,
    pub column: u32,
    /// The element's tag (`h1`): checked against the source at that place.
    pub tag: String,
    pub change: VisualChange,
}

/// What a visual edit changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum VisualChange {
    /// The element's text: `from` must be its whole text as written.
    Text { from: String, to: String },
    /// One style property.
    Style {
        property: StyleProperty,
        value: String,
    },
}

/// The style properties a visual edit can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StyleProperty {
    Color,
    BackgroundColor,
    FontSize,
    Padding,
}

/// `/health`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub db: String,
    pub sandbox: String,
    pub version: String,
    /// This instance's id (`MINICODE_INSTANCE_ID` or a random one).
    #[serde(default)]
    pub instance: String,
    /// The instances alive on this database (heartbeat within the lease time).
    #[serde(default)]
    pub instances: Vec<InstanceHealth>,
    /// The work this instance holds leases on.
    #[serde(default)]
    pub leases: Vec<LeaseHealth>,
}

/// An instance in `/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceHealth {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// Shutting down: it takes no new work.
    pub draining: bool,
}

/// A lease in `/health`: which work, and how long until it expires unless
/// renewed. Projects are not named (the endpoint needs no sign-in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHealth {
    /// `generation` or `chat`.
    pub work: String,
    /// The run's or the chat reply's id.
    pub work_id: Uuid,
    pub expires_in_ms: i64,
}

/// Serde helper telling "absent" (outer `None`) from "null" (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4_000), "4,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            too_long("message", 33_000, MAX_MESSAGE_CHARS),
            "Your message is 33,000 characters; the limit is 32,000."
        );
    }

    #[test]
    fn patch_tells_absent_from_null() {
        let absent: ProjectPatch = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.model, None);
        let null: ProjectPatch = serde_json::from_str(r#"{"model":null}"#).unwrap();
        assert_eq!(null.model, Some(None));
        let set: ProjectPatch = serde_json::from_str(r#"{"model":"openai/gpt"}"#).unwrap();
        assert_eq!(set.model, Some(Some("openai/gpt".into())));
    }

    #[test]
    fn page_query_defaults() {
        let q: PageQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(q, PageQuery::default());
    }
}

/// A model in the picker (`GET /api/models`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `provider:model`, what a project stores.
    pub id: String,
    pub label: String,
    pub provider: String,
    /// The built-in generator: no AI, template-driven.
    pub offline: bool,
    /// Used by projects that have not chosen a model.
    pub default: bool,
    /// Accepts images in the prompt (`MINICODE_VISION_MODELS` adds models).
    #[serde(default)]
    pub images: bool,
}

/// Who may open a project's published site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone, at an address made from the project's name.
    Public,
    /// Anyone who has the address, which nobody can guess.
    #[default]
    Unlisted,
    /// The owner only (signed in to minicode).
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
        }
    }
}

/// A project's published site: where it is, who may open it, and which
/// deployment it serves (`None`: unpublished).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub slug: String,
    /// `http://<slug>.apps.localhost:3000`, or the configured pattern's.
    pub url: String,
    pub visibility: Visibility,
    pub live: Option<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    Building,
    Ready,
    Failed,
}

/// One production build of a project's app, kept as it was built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: Uuid,
    /// 1, 2, 3… per project.
    pub number: u32,
    pub status: DeploymentStatus,
    /// Why the build failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The end of the build's output.
    #[serde(default)]
    pub log_tail: Vec<String>,
    pub files: u32,
    pub bytes: u64,
    /// How long the build and the copy took.
    #[serde(default)]
    pub build_ms: Option<u64>,
    pub created_at: String,
    /// The site serves this one now.
    pub live: bool,
}

/// `GET /api/projects/:id/deployments`: the site (once published) and the
/// deployments, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publishing {
    pub site: Option<Site>,
    pub deployments: Vec<Deployment>,
}

/// `PATCH /api/projects/:id/site`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitePatch {
    pub visibility: Visibility,
}

/// Why a checkpoint was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointKind {
    /// After a generation phase: "After phase 2: Features".
    Phase,
    /// Before a chat turn that changed files: "Before: make it dark".
    /// Restoring it undoes the turn.
    Chat,
    /// The files just before a restore: restoring it undoes the restore.
    BeforeRestore,
    /// The files a restore put back: "Restored to: …".
    Restore,
}

/// A checkpoint as listed (`GET /api/projects/:id/checkpoints`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub id: Uuid,
    pub kind: CheckpointKind,
    pub message: String,
    /// For a chat checkpoint, the files the turn changed (what restoring it
    /// undoes); for the others, the files changed since the previous one.
    pub changed_files: Vec<String>,
    pub created_at: String,
}

/// A commit of the project's git history (`GET /api/projects/:id/history`),
/// newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    /// The full object name (40 hex digits).
    pub sha: String,
    /// The whole message: the subject line, then the body if any.
    pub message: String,
    /// `username`, or `minicode agent (<model id>)`.
    pub author: String,
    /// RFC 3339, the author date.
    pub created_at: String,
    /// Paths added, changed or deleted by this commit, sorted.
    pub changed_files: Vec<String>,
}

/// One file's change in a checkpoint's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: String,
    /// A unified diff (empty for binary files).
    pub diff: String,
}

/// `GET /api/projects/:id/checkpoints/:cp`: a checkpoint and its changes
/// (the same files as its `changedFiles`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointDiff {
    pub checkpoint: Checkpoint,
    pub files: Vec<FileDiff>,
}

/// The answer to a restore.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    /// The checkpoint recording the restored files ("Restored to: …"); the
    /// restored checkpoint itself when nothing had to change.
    pub checkpoint_id: Uuid,
    /// The files just before the restore: restore this one to undo. The
    /// restored checkpoint itself when nothing had to change.
    pub undo_checkpoint_id: Uuid,
    /// The files the restore wrote or removed; empty when the files already
    /// matched (then nothing was recorded either).
    pub changed_files: Vec<String>,
}
