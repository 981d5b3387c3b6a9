//! Where `team`'s own configuration lives on disk: read by the config loader (`team-agent`)
//! and protected from agents' writes ([`crate::workspace`]'s protected paths), so both ask
//! this one module.

use std::path::PathBuf;

/// Environment variable naming the directory that holds the user `config.toml` (replaces
/// `~/.config/team`; meant for tests and unusual setups).
pub const ENV_CONFIG_HOME: &str = "TEAM_CONFIG_HOME";

/// The user config file, looked up with the process environment (see
/// [`user_config_path_with_env`]); `None` when no home directory can be found.
pub fn user_config_path() -> Option<PathBuf> {
    user_config_path_with_env(&|k| std::env::var(k).ok())
}

/// The user config file: `$TEAM_CONFIG_HOME/config.toml`, else
/// `$XDG_CONFIG_HOME/team/config.toml` (when absolute), else `team/config.toml` in the
/// platform config directory from `etcetera` (`~/.config` on Linux and macOS, `%APPDATA%` on
/// Windows). `env` looks up environment variables; empty values count as unset.
pub fn user_config_path_with_env(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = var(ENV_CONFIG_HOME) {
        return Some(PathBuf::from(dir).join("config.toml"));
    }
    if let Some(xdg) = var("XDG_CONFIG_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("team").join("config.toml"));
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().ok()?;
    Some(base.config_dir().join("team").join("config.toml"))
}
