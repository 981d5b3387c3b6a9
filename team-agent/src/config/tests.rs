//! Tests of config layering, merging, env overrides and validation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

/// A test environment: the user config home lives in `home`, nothing else is set.
struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    fn new(home: &Path) -> Self {
        let mut vars = HashMap::new();
        vars.insert(ENV_CONFIG_HOME.to_owned(), home.display().to_string());
        Self { vars }
    }
    fn set(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }
    fn load(&self, project: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(project, &|k| self.vars.get(k).cloned())
    }
}

struct Dirs {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = tmp.path().join("project");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(project.join(".team")).unwrap();
        Self {
            _tmp: tmp,
            home,
            project,
        }
    }
    fn user(&self, text: &str) -> PathBuf {
        let path = self.home.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
    fn project_file(&self, text: &str) -> PathBuf {
        let path = project_config_path(&self.project);
        std::fs::write(&path, text).unwrap();
        path
    }
    fn env(&self) -> Env {
        Env::new(&self.home)
    }
}

fn err(result: Result<Config, ConfigError>) -> ConfigError {
    match result {
        Ok(c) => panic!("expected an error, loaded {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_without_files() {
    let d = Dirs::new();
    let config = d.env().load(Some(&d.project)).unwrap();
    assert_eq!(config.team, TeamConfig::default());
    assert_eq!(config.team.max_agents, 10);
    assert_eq!(config.member_timeout(), Duration::from_secs(300));
    assert!(config.providers.is_empty());
    assert!(config.loaded_files.is_empty());
    assert!(config.warnings.is_empty());
}

#[test]
fn layering_and_key_by_key_merge() {
    let d = Dirs::new();
    let user = d.user(
        "[team]\nmax_agents = 4\nmember_timeout_secs = 60\n\
         [providers.openai]\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = \"OPENAI_API_KEY\"\n\
         [providers.openai.headers]\nx-org = \"a\"\n\
         [providers.local]\nbase_url = \"http://127.0.0.1:1234/v1\"\n",
    );
    let project = d.project_file(
        "[team]\nmax_agents = 2\ndefault_model = \"openai/gpt-4o-mini\"\n\
         [providers.openai]\nmax_concurrent_requests = 3\n\
         [providers.openai.headers]\nx-team = \"b\"\n",
    );
    let config = d.env().load(Some(&d.project)).unwrap();
    assert_eq!(config.team.max_agents, 2, "project overrides user");
    assert_eq!(config.team.member_timeout_secs, 60, "user key kept");
    assert_eq!(
        config
            .team
            .default_model
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("openai/gpt-4o-mini")
    );
    let openai = &config.providers["openai"];
    assert_eq!(
        openai["base_url"].as_str(),
        Some("https://api.openai.com/v1")
    );
    assert_eq!(openai["api_key_env"].as_str(), Some("OPENAI_API_KEY"));
    assert_eq!(openai["max_concurrent_requests"].as_integer(), Some(3));
    let headers = openai["headers"].as_table().unwrap();
    assert_eq!(headers.len(), 2, "nested tables merge too: {headers:?}");
    assert!(config.providers.contains_key("local"));
    assert_eq!(config.loaded_files, vec![user, project]);

    let without_project = d.env().load(None).unwrap();
    assert_eq!(without_project.team.max_agents, 4);
}

#[test]
fn env_overrides_files() {
    let d = Dirs::new();
    d.project_file("[team]\nmax_agents = 2\nmember_timeout_secs = 9\n");
    let config = d
        .env()
        .set(ENV_MAX_AGENTS, "7")
        .set(ENV_MEMBER_TIMEOUT_SECS, " 42 ")
        .set(ENV_MODEL, "ollama/llama3.2")
        .load(Some(&d.project))
        .unwrap();
    assert_eq!(config.team.max_agents, 7);
    assert_eq!(config.team.member_timeout_secs, 42);
    let model = config.team.default_model.unwrap();
    assert_eq!(
        (model.provider.as_str(), model.model.as_str()),
        ("ollama", "llama3.2")
    );

    let empty = d
        .env()
        .set(ENV_MAX_AGENTS, "")
        .load(Some(&d.project))
        .unwrap();
    assert_eq!(
        empty.team.max_agents, 2,
        "an empty variable counts as unset"
    );

    for (var, value) in [
        (ENV_MAX_AGENTS, "0"),
        (ENV_MAX_AGENTS, "many"),
        (ENV_MEMBER_TIMEOUT_SECS, "-1"),
        (ENV_MODEL, "gpt-4o"),
    ] {
        let e = err(d.env().set(var, value).load(None));
        assert!(
            matches!(&e, ConfigError::InvalidValue { key, origin, .. } if key == var && origin == "environment"),
            "{var}={value}: {e}"
        );
        assert!(e.to_string().contains(var), "{e}");
    }
}

#[test]
fn team_validation_errors_name_file_key_and_type() {
    let d = Dirs::new();
    let path = d.project_file("[team]\nmax_agents = \"ten\"\n");
    let e = err(d.env().load(Some(&d.project)));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: `team.max_agents` must be an integer ≥ 1, found string",
            path.display()
        )
    );

    d.project_file("[team]\nmember_timeout_secs = 0\n");
    let e = err(d.env().load(Some(&d.project)));
    assert!(
        matches!(&e, ConfigError::InvalidValue { key, .. } if key == "team.member_timeout_secs"),
        "{e}"
    );

    d.project_file("[team]\nmax_agent = 3\n");
    let e = err(d.env().load(Some(&d.project)));
    assert!(
        matches!(&e, ConfigError::UnknownKey { key, .. } if key == "max_agent"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("valid keys: max_agents, member_timeout_secs, default_model"),
        "{e}"
    );

    d.project_file("[team]\ndefault_model = \"gpt-4o\"\n");
    let e = err(d.env().load(Some(&d.project)));
    assert!(e.to_string().contains("provider/model"), "{e}");

    d.project_file("[team]\ndefault_model = 5\n");
    assert!(matches!(
        err(d.env().load(Some(&d.project))),
        ConfigError::WrongType { .. }
    ));
    d.project_file("team = 3\n");
    assert!(matches!(
        err(d.env().load(Some(&d.project))),
        ConfigError::WrongType { .. }
    ));
    d.project_file("[providers]\nopenai = \"x\"\n");
    let e = err(d.env().load(Some(&d.project)));
    assert!(
        matches!(&e, ConfigError::WrongType { key, .. } if key == "providers.openai"),
        "{e}"
    );
}

#[test]
fn errors_in_the_user_file_name_that_file() {
    let d = Dirs::new();
    let user = d.user("[team]\nmax_agents = 1.5\n");
    let e = err(d.env().load(Some(&d.project)));
    assert!(
        e.to_string().starts_with(&user.display().to_string()),
        "{e}"
    );
}

#[test]
fn invalid_toml_reports_line_and_column() {
    let d = Dirs::new();
    let path = d.project_file("[team]\nmax_agents = 3\nmember_timeout_secs = = 4\n");
    let e = err(d.env().load(Some(&d.project)));
    let ConfigError::Parse { line, column, .. } = &e else {
        panic!("expected a parse error, got {e:?}");
    };
    assert_eq!(*line, 3);
    assert!(*column > 1);
    assert!(
        e.to_string().starts_with(&format!("{}:3:", path.display())),
        "{e}"
    );
}

#[test]
fn unknown_top_level_tables_are_warnings() {
    let d = Dirs::new();
    d.project_file("max_agents = 3\n[teams]\nx = 1\n[team]\nmax_agents = 5\n");
    let config = d.env().load(Some(&d.project)).unwrap();
    assert_eq!(config.team.max_agents, 5);
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("table `[teams]`"))
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("key `max_agents`"))
    );
}

#[test]
fn api_key_values_are_refused_and_never_shown() {
    let d = Dirs::new();
    for text in [
        "[providers.openai]\napi_key = \"sk-secret-value\"\n",
        "[providers.openai]\nAPI-KEY = \"sk-secret-value\"\n",
        "[providers.openai.headers]\nAuthorization = \"Bearer sk-secret-value\"\n",
    ] {
        d.project_file(text);
        let e = err(d.env().load(Some(&d.project)));
        assert!(
            matches!(&e, ConfigError::Secret { provider, .. } if provider == "openai"),
            "{e}"
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("sk-secret-value"), "{shown}");
        assert!(shown.contains("api_key_env"), "{shown}");
    }
}

#[test]
fn user_config_path_lookup() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(
        user_config_path_with_env(&env(&[
            (ENV_CONFIG_HOME, "/t/home"),
            ("XDG_CONFIG_HOME", "/x")
        ])),
        Some(PathBuf::from("/t/home/config.toml"))
    );
    assert_eq!(
        user_config_path_with_env(&env(&[("XDG_CONFIG_HOME", "/x")])),
        Some(PathBuf::from("/x/team/config.toml"))
    );
}

/// Uncomments `# key = value` and `# [table]` lines of the default text.
fn uncomment(text: &str) -> String {
    text.lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or(line);
            let is_setting = rest.starts_with("[providers.")
                || rest.starts_with("[prices.")
                || rest == "[hooks]"
                || rest == "[models]"
                || rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if is_setting { rest } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn default_file_text_parses_back_to_the_defaults() {
    let text = Config::default_file_text();
    let config = Config::from_toml_str(text, Path::new("config.toml")).unwrap();
    assert_eq!(config.team, TeamConfig::default());
    assert!(config.providers.is_empty() && config.warnings.is_empty());

    // Every documented key, uncommented, is valid and shows the default value.
    let active = uncomment(text);
    assert_ne!(active, text);
    let config = Config::from_toml_str(&active, Path::new("config.toml")).unwrap();
    let defaults = TeamConfig::default();
    assert_eq!(config.team.max_agents, defaults.max_agents);
    assert_eq!(
        config.team.member_timeout_secs,
        defaults.member_timeout_secs
    );
    assert_eq!(
        config
            .team
            .default_model
            .as_ref()
            .map(|m| m.to_string())
            .as_deref(),
        Some("openai/gpt-4o-mini")
    );
    assert_eq!(
        config.providers.keys().collect::<Vec<_>>(),
        vec!["ollama", "openai"]
    );
    // [models] overrides the built-in aliases and keeps the others.
    let aliases = config.model_aliases();
    assert_eq!(aliases["sonnet"], "openai/gpt-4o");
    assert_eq!(aliases["haiku"], "ollama/llama3.2");
    assert_eq!(aliases["opus"], "anthropic/claude-opus-4-5");
    assert_eq!(
        config.providers["openai"]["api_key_env"].as_str(),
        Some("OPENAI_API_KEY")
    );
    assert!(
        config.providers["ollama"]["base_url"]
            .as_str()
            .unwrap()
            .contains("11434")
    );
    for key in TEAM_KEYS {
        assert!(text.contains(&format!("# {key} = ")), "{key} is documented");
    }
}

#[test]
fn models_table_is_validated() {
    for (text, needle) in [
        ("[models]\nfast = 5\n", "`models.fast` must be a string"),
        ("[models]\nfast = \"llama\"\n", "invalid `models.fast`"),
        ("models = 1\n", "`models` must be a table"),
    ] {
        let e = Config::from_toml_str(text, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains(needle), "{text}: {e}");
    }
}

#[test]
fn sandbox_and_fan_out_bounds_are_read_and_checked() {
    let path = Path::new("/p/.team/config.toml");
    let c = Config::from_toml_str(
        "[team]\nsandbox = \"off\"\nmax_depth = 3\nmax_members_per_team = 7\n",
        path,
    )
    .expect("valid");
    assert_eq!(c.team.sandbox, team_tools::workspace::SandboxMode::Off);
    assert_eq!((c.team.max_depth, c.team.max_members_per_team), (3, 7));
    let d = Config::from_toml_str("", path).expect("empty");
    assert_eq!(d.team.sandbox, team_tools::workspace::SandboxMode::Landlock);
    assert_eq!((d.team.max_depth, d.team.max_members_per_team), (2, 50));
    for bad in [
        "[team]\nsandbox = \"none\"\n",
        "[team]\nsandbox = false\n",
        "[team]\nmax_depth = 0\n",
        "[team]\nmax_members_per_team = -1\n",
    ] {
        let e = Config::from_toml_str(bad, path).expect_err(bad).to_string();
        assert!(e.contains("team."), "{bad}: {e}");
    }
}

#[test]
fn max_message_bytes_is_read_and_bounded() {
    let path = Path::new("/p/.team/config.toml");
    let d = Config::from_toml_str("", path).expect("empty");
    assert_eq!(d.team.max_message_bytes, 1024 * 1024);
    let c = Config::from_toml_str("[team]\nmax_message_bytes = 16\n", path).expect("valid");
    assert_eq!(c.team.max_message_bytes, 16);
    for bad in [
        "[team]\nmax_message_bytes = 0\n",
        "[team]\nmax_message_bytes = 1073741825\n",
        "[team]\nmax_message_bytes = \"1M\"\n",
    ] {
        let e = Config::from_toml_str(bad, path).expect_err(bad).to_string();
        assert!(e.contains("max_message_bytes"), "{bad}: {e}");
    }
}

#[test]
fn on_ask_is_read_and_checked() {
    use team_tools::permission::OnAsk;
    let path = Path::new("/p/.team/config.toml");
    assert_eq!(
        Config::from_toml_str("", path).expect("empty").team.on_ask,
        OnAsk::Prompt
    );
    let c = Config::from_toml_str("[team]\non_ask = \"park\"\n", path).expect("valid");
    assert_eq!(c.team.on_ask, OnAsk::Park);
    for bad in ["[team]\non_ask = \"later\"\n", "[team]\non_ask = true\n"] {
        let e = Config::from_toml_str(bad, path).expect_err(bad).to_string();
        assert!(
            e.contains("team.on_ask") && e.contains("park"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn hooks_are_read_and_checked() {
    use crate::config::HookEvent;
    let path = Path::new("/p/.team/config.toml");
    let d = Config::from_toml_str("", path).expect("empty");
    assert!(d.hooks.commands.is_empty());
    assert_eq!(d.hooks.timeout_secs, 30);
    let c = Config::from_toml_str(
        "[hooks]\ntask_completed = \"./check.sh\"\nbefore_tool = \"policy\"\ntimeout_secs = 5\n",
        path,
    )
    .expect("valid");
    assert_eq!(
        c.hooks.command(HookEvent::TaskCompleted),
        Some("./check.sh")
    );
    assert_eq!(c.hooks.command(HookEvent::BeforeTool), Some("policy"));
    assert_eq!(c.hooks.command(HookEvent::MemberIdle), None);
    assert_eq!(c.hooks.timeout_secs, 5);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    for bad in [
        "[hooks]\nteammate_idle = \"x\"\n",
        "[hooks]\nmember_idle = 3\n",
        "[hooks]\ntimeout_secs = 0\n",
        "hooks = 1\n",
    ] {
        let e = Config::from_toml_str(bad, path).expect_err(bad).to_string();
        assert!(e.contains("hooks"), "{bad}: {e}");
    }
}

#[test]
fn prices_are_read_and_checked() {
    let path = Path::new("/p/.team/config.toml");
    let c = Config::from_toml_str(
        "[prices.\"openai/gpt-4o\"]\ninput_per_mtok = 2.5\noutput_per_mtok = 10\n",
        path,
    )
    .expect("valid");
    let p = c.prices["openai/gpt-4o"];
    assert_eq!((p.input_per_mtok, p.output_per_mtok), (2.5, 10.0));
    assert_eq!(p.cost(1_000_000, 500_000), 7.5);
    for bad in [
        "[prices.\"openai/gpt-4o\"]\ninput_per_mtok = -1\n",
        "[prices.\"openai/gpt-4o\"]\ninput = 1\n",
        "[prices.\"openai/gpt-4o\"]\ninput_per_mtok = \"cheap\"\n",
        "[prices.nomodel]\ninput_per_mtok = 1\n",
    ] {
        let e = Config::from_toml_str(bad, path).expect_err(bad).to_string();
        assert!(e.contains("prices"), "{bad}: {e}");
    }
}

#[test]
fn lead_tools_is_read_and_checked() {
    use crate::config::LeadTools;
    let path = Path::new("/p/.team/config.toml");
    assert_eq!(
        Config::from_toml_str("", path)
            .expect("empty")
            .team
            .lead_tools,
        LeadTools::All
    );
    let c = Config::from_toml_str("[team]\nlead_tools = \"team\"\n", path).expect("valid");
    assert_eq!(c.team.lead_tools, LeadTools::Team);
    let e = Config::from_toml_str("[team]\nlead_tools = \"some\"\n", path)
        .expect_err("bad")
        .to_string();
    assert!(e.contains("team.lead_tools"), "{e}");
}

#[test]
fn a_team_budget_is_read_and_checked() {
    let path = Path::new("/p/.team/config.toml");
    let c = Config::from_toml_str("", path).expect("empty");
    assert_eq!((c.team.max_tokens, c.team.max_cost), (None, None));
    let c = Config::from_toml_str("[team]\nmax_tokens = 5000\nmax_cost = 2\n", path).expect("ok");
    assert_eq!(
        (c.team.max_tokens, c.team.max_cost),
        (Some(5000), Some(2.0))
    );
    let c = Config::from_toml_str("[team]\nmax_cost = 0.25\n", path).expect("ok");
    assert_eq!(c.team.max_cost, Some(0.25));
    for bad in [
        "max_tokens = 0",
        "max_tokens = \"x\"",
        "max_cost = 0",
        "max_cost = -1.5",
    ] {
        let e = Config::from_toml_str(&format!("[team]\n{bad}\n"), path)
            .expect_err(bad)
            .to_string();
        assert!(e.contains("team.max_"), "{bad}: {e}");
    }
    // The default file's example, uncommented, is valid.
    let active = uncomment(Config::default_file_text());
    let c = Config::from_toml_str(&active, path).expect("uncommented");
    assert_eq!(c.team.max_tokens, Some(2_000_000));
}
